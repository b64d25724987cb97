package tlsconn

import (
	"net"
	"sync"
	"time"
)

// errWouldBlock is what the shim's Read returns after the handshake when no
// ciphertext is buffered. crypto/tls keeps a partially read record across a
// read error only if the error is a net.Error whose Temporary method reports
// true (conn.go, readRecordOrCCS); any other error would poison the
// connection. Conn.AppendPlaintext recognises it and never returns it.
var errWouldBlock net.Error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "tlsconn: no ciphertext buffered" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

// shim is the net.Conn that the tls.Conn reads from and writes to. It holds
// the inbound ciphertext fed by the caller and the outbound ciphertext the
// caller collects.
//
// While the handshake goroutine owns the tls.Conn (blocking is true), Read
// waits for input; afterwards it returns errWouldBlock when there is none.
// Its fields, and the Conn fields documented as such, are guarded by mu.
type shim struct {
	mu   sync.Mutex
	cond sync.Cond // L is &mu; signalled when Read may make progress

	in  queue // ciphertext from the peer, not yet read by crypto/tls
	out queue // ciphertext for the peer, not yet discarded by the caller

	// lent is ciphertext the caller lent to AppendDecrypted, read after in
	// and without first copying it into in; what crypto/tls leaves of it is
	// copied into in before AppendDecrypted returns.
	lent []byte

	// blocking is true while the handshake goroutine runs: Read waits for
	// input and Write wakes the caller's loop.
	blocking bool
	// closed is set by Close: Read and Write fail with net.ErrClosed.
	closed bool
	// stop, when set during the handshake, is returned by Read once the
	// input is drained, and by Write: the timeout expired, the Handshaker
	// was closed, or the input limit was hit.
	stop error

	// wake is the caller's wake function; nil once the handshake is over,
	// so that what it refers to is not kept alive by an idle connection.
	wake func()
}

// Read implements net.Conn for crypto/tls.
func (s *shim) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.in.len() > 0:
			return s.in.read(p), nil
		case len(s.lent) > 0:
			n := copy(p, s.lent)
			s.lent = s.lent[n:]
			return n, nil
		case s.closed:
			return 0, net.ErrClosed
		case !s.blocking:
			return 0, errWouldBlock
		case s.stop != nil:
			return 0, s.stop
		}
		s.cond.Wait()
	}
}

// Write implements net.Conn for crypto/tls. It copies p before returning,
// since crypto/tls reuses its output buffer. Ciphertext written by the
// handshake goroutine wakes the caller's loop so it can be sent; once the
// handshake has been told to stop, it is refused, so that a goroutine that
// comes back from a slow tls.Config callback after a timeout or
// Handshaker.Close sends nothing more.
func (s *shim) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, net.ErrClosed
	}
	if s.blocking && s.stop != nil {
		err := s.stop
		s.mu.Unlock()
		return 0, err
	}
	s.out.write(p)
	var wake func()
	if s.blocking && len(p) > 0 {
		wake = s.wake
	}
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
	return len(p), nil
}

// Close implements net.Conn for crypto/tls: tls.Conn.Close calls it after
// queueing its close_notify alert.
func (s *shim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

func (s *shim) closeLocked() {
	s.closed = true
	s.wake = nil
	s.in.release()
	s.cond.Broadcast()
}

// LocalAddr implements net.Conn; the shim has no address of its own.
func (s *shim) LocalAddr() net.Addr { return shimAddr{} }

// RemoteAddr implements net.Conn; the shim has no address of its own.
func (s *shim) RemoteAddr() net.Addr { return shimAddr{} }

// SetDeadline implements net.Conn. crypto/tls sets write deadlines around
// close_notify; they are meaningless here, since Write never blocks, and the
// handshake deadline is the Handshaker's.
func (s *shim) SetDeadline(time.Time) error { return nil }

// SetReadDeadline implements net.Conn; see SetDeadline.
func (s *shim) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.Conn; see SetDeadline.
func (s *shim) SetWriteDeadline(time.Time) error { return nil }

// shimAddr is the address of both ends of a shim, seen by tls.Config
// callbacks through tls.ClientHelloInfo.Conn.
type shimAddr struct{}

func (shimAddr) Network() string { return "tlsconn" }
func (shimAddr) String() string  { return "tlsconn" }
