package tlsconn_test

// This file holds the tests' event loop: a testServer drives a tlsconn.Conn
// the way the engine does, moving bytes between it and the server side of a
// transport, while a real crypto/tls client uses the other side.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// loopSide is the server side of a transport as an event loop sees it.
type loopSide interface {
	// drain appends what arrived to dst without blocking, and reports
	// whether the peer has closed and everything was drained.
	drain(dst []byte) (b []byte, eof bool)
	// ready is signalled when drain may return more.
	ready() <-chan struct{}
	io.WriteCloser
}

// transports are the transports every end-to-end behaviour runs over.
var transports = []struct {
	name string
	new  func(testing.TB) (client net.Conn, server loopSide)
}{
	{"pipe", func(testing.TB) (net.Conn, loopSide) { return newBufPipe() }},
	{"tcp", newTCPPair},
}

// bufPipe is an in-memory, buffered, full-duplex connection: like net.Pipe,
// but writes never block, and an end can be drained without blocking.
type bufPipe struct {
	mu   sync.Mutex
	cond sync.Cond
	ends [2]pipeEnd
}

// free drops both ends' buffers, so that a connection kept for a memory
// measurement holds only what its TLS state needs.
func (p *bufPipe) free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.ends {
		p.ends[i].inbox = bytes.Buffer{}
	}
}

// pipeEnd is one end of a bufPipe. It implements net.Conn and loopSide.
type pipeEnd struct {
	p      *bufPipe
	peer   *pipeEnd
	inbox  bytes.Buffer // written by the peer
	closed bool
	notify chan struct{}
}

func newBufPipe() (client, server *pipeEnd) {
	p := &bufPipe{}
	p.cond.L = &p.mu
	for i := range p.ends {
		p.ends[i] = pipeEnd{p: p, peer: &p.ends[1-i], notify: make(chan struct{}, 1)}
	}
	return &p.ends[0], &p.ends[1]
}

func (e *pipeEnd) Read(b []byte) (int, error) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	for e.inbox.Len() == 0 {
		switch {
		case e.closed:
			return 0, net.ErrClosed
		case e.peer.closed:
			return 0, io.EOF
		}
		e.p.cond.Wait()
	}
	return e.inbox.Read(b)
}

func (e *pipeEnd) Write(b []byte) (int, error) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed || e.peer.closed {
		return 0, net.ErrClosed
	}
	e.peer.inbox.Write(b)
	e.peer.signal()
	return len(b), nil
}

func (e *pipeEnd) Close() error {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	e.closed = true
	e.peer.signal()
	return nil
}

// signal wakes both a blocked Read and an event loop. e.p.mu is held.
func (e *pipeEnd) signal() {
	e.p.cond.Broadcast()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

func (e *pipeEnd) drain(dst []byte) ([]byte, bool) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	dst = append(dst, e.inbox.Bytes()...)
	e.inbox.Reset()
	return dst, e.peer.closed
}

func (e *pipeEnd) ready() <-chan struct{}           { return e.notify }
func (e *pipeEnd) LocalAddr() net.Addr              { return pipeAddr{} }
func (e *pipeEnd) RemoteAddr() net.Addr             { return pipeAddr{} }
func (e *pipeEnd) SetDeadline(time.Time) error      { return nil }
func (e *pipeEnd) SetReadDeadline(time.Time) error  { return nil }
func (e *pipeEnd) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "bufpipe" }
func (pipeAddr) String() string  { return "bufpipe" }

// tcpSide is the accepted end of a loopback TCP connection; a reader
// goroutine stands in for the event loop's epoll.
type tcpSide struct {
	net.Conn
	mu     sync.Mutex
	buf    []byte
	eof    bool
	notify chan struct{}
}

// newTCPPair connects a client to a listener on a free loopback port.
func newTCPPair(tb testing.TB) (net.Conn, loopSide) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	s := &tcpSide{Conn: server, notify: make(chan struct{}, 1)}
	go s.readLoop()
	return client, s
}

func (s *tcpSide) readLoop() {
	b := make([]byte, 32<<10)
	for {
		n, err := s.Conn.Read(b)
		s.mu.Lock()
		s.buf = append(s.buf, b[:n]...)
		s.eof = err != nil
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (s *tcpSide) drain(dst []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst = append(dst, s.buf...)
	s.buf = s.buf[:0]
	return dst, s.eof
}

func (s *tcpSide) ready() <-chan struct{} { return s.notify }

// testServer is a one-connection event loop around a tlsconn.Conn.
type testServer struct {
	conn *tlsconn.Conn
	side loopSide
	wake chan struct{}

	split    []byte // Feed chunk sizes, used in turn; 0 or nil: feed all
	splitPos int
	// lend passes ciphertext to AppendDecrypted once the handshake is done,
	// in the same chunks, and overwrites each chunk after the call: a
	// Conn that kept a lent byte would decrypt garbage.
	lend bool
	echo bool // write back every plaintext byte received

	// onHandshake, if set, runs once the handshake has succeeded.
	onHandshake func(*tlsconn.Conn)

	in, pt []byte // reused buffers
	feeds  int    // Feed calls made
	got    []byte // all plaintext received
	hsDone bool
	state  tls.ConnectionState // once the handshake has succeeded
	hsErr  error               // the handshake's error
	err    error               // the first other error from the Conn
	eof    bool                // AppendPlaintext returned io.EOF
}

func newTestServer(cfg *tls.Config, h *tlsconn.Handshaker, side loopSide) *testServer {
	wake := make(chan struct{}, 1)
	s := &testServer{side: side, wake: wake}
	s.conn = tlsconn.Server(cfg, h, netip.Addr{}, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	return s
}

// run drives the connection until it is over; it gives up after timeout.
func (s *testServer) run(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for !s.step() {
		select {
		case <-s.side.ready():
		case <-s.wake:
		case <-t.C:
			s.conn.Close()
			s.side.Close()
			return errors.New("test server: timed out")
		}
	}
	return nil
}

// eofGrace is how long step waits, at the peer's EOF, for a handshake
// still running to report.
const eofGrace = 500 * time.Millisecond

// step does one round of event-loop work, as after an epoll or wake event,
// and reports whether the connection is over.
func (s *testServer) step() bool {
	var eof bool
	s.in, eof = s.side.drain(s.in[:0])
	if s.lend && s.hsDone {
		return s.stepLent(eof)
	}
	if err := s.feed(s.in); err != nil {
		s.err = err
		return s.finish()
	}
	s.flush()
	if !s.hsDone {
		done, err := s.conn.HandshakeComplete()
		// The peer may have closed on an alert the handshake sent just
		// before it returned its error: let it report, a moment at most
		// (a handshake still waiting for input never will).
		for until := time.Now().Add(eofGrace); !done && eof && time.Now().Before(until); {
			select {
			case <-s.wake:
			case <-time.After(5 * time.Millisecond):
			}
			done, err = s.conn.HandshakeComplete()
		}
		if !done {
			if eof {
				return s.finish()
			}
			return false
		}
		s.hsDone = true
		if err != nil {
			s.hsErr = err
			return s.finish()
		}
		s.state = s.conn.ConnectionState()
		if s.onHandshake != nil {
			s.onHandshake(s.conn)
		}
	}
	pt, err := s.conn.AppendPlaintext(s.pt[:0])
	return s.deliver(pt, err, eof)
}

// stepLent is step after the handshake with lend set.
func (s *testServer) stepLent(eof bool) bool {
	b := s.in
	for len(b) > 0 {
		n := s.nextChunk(len(b))
		s.feeds++
		pt, err := s.conn.AppendDecrypted(s.pt[:0], b[:n])
		for i := range b[:n] {
			b[i] = 0xAA
		}
		if s.deliver(pt, err, false) {
			return true
		}
		b = b[n:]
	}
	if eof {
		return s.finish()
	}
	return false
}

// deliver takes what AppendPlaintext or AppendDecrypted returned, echoes
// it if asked, and reports whether the connection is over.
func (s *testServer) deliver(pt []byte, err error, eof bool) bool {
	s.pt = pt
	s.got = append(s.got, pt...)
	if s.echo && len(pt) > 0 {
		if _, err := s.conn.Write(pt); err != nil {
			s.err = err
			return s.finish()
		}
	}
	switch {
	case err == io.EOF:
		s.eof = true
		return s.finish()
	case err != nil:
		s.err = err
		return s.finish()
	case eof:
		return s.finish()
	}
	s.flush()
	return false
}

// feed feeds b in the chunks s.split asks for.
func (s *testServer) feed(b []byte) error {
	for len(b) > 0 {
		n := s.nextChunk(len(b))
		s.feeds++
		if err := s.conn.Feed(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// nextChunk returns the size of the next chunk of left bytes to pass on.
func (s *testServer) nextChunk(left int) int {
	if len(s.split) == 0 {
		return left
	}
	n := int(s.split[s.splitPos%len(s.split)])
	s.splitPos++
	if n == 0 || n > left {
		return left
	}
	return n
}

// flush sends the pending ciphertext.
func (s *testServer) flush() {
	out := s.conn.Outbound()
	if len(out) == 0 {
		return
	}
	s.side.Write(out) // errors: the peer left, nothing to do
	s.conn.DiscardOutbound(len(out))
}

// finish closes the Conn, sends its last words and closes the transport.
func (s *testServer) finish() bool {
	s.conn.Close()
	s.flush()
	s.side.Close()
	return true
}

// echoClient handshakes over conn, writes msg, closes its write side, and
// returns everything the server sends until its close_notify.
func echoClient(conn net.Conn, cfg *tls.Config, msg []byte) ([]byte, error) {
	defer conn.Close()
	tc := tls.Client(conn, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := tc.Write(msg)
		if err == nil {
			err = tc.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(tc)
	return got, errors.Join(<-werr, err)
}

// runEcho runs echoClient against an echoing testServer and checks that msg
// comes back.
func runEcho(t testing.TB, client net.Conn, s *testServer, cfg *tls.Config, msg []byte) {
	s.echo = true
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := echoClient(client, cfg, msg)
		done <- result{got, err}
	}()
	if err := s.run(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || s.hsErr != nil || s.err != nil {
		t.Fatalf("client: %v; server handshake: %v; server: %v", r.err, s.hsErr, s.err)
	}
	if !s.eof {
		t.Error("server saw no close_notify")
	}
	if !bytes.Equal(s.got, msg) {
		t.Errorf("server received %d bytes, want %d equal to those sent", len(s.got), len(msg))
	}
	if !bytes.Equal(r.got, msg) {
		t.Errorf("client received %d bytes, want %d equal to those sent", len(r.got), len(msg))
	}
}

// recordClientHello returns the first record a client with cfg sends: its
// ClientHello.
func recordClientHello(t testing.TB, cfg *tls.Config) []byte {
	client, server := newBufPipe()
	done := make(chan struct{})
	go func() {
		tls.Client(client, cfg).Handshake()
		close(done)
	}()
	var hello []byte
	for {
		<-server.ready()
		hello, _ = server.drain(hello)
		if len(hello) >= 5 && len(hello) >= 5+(int(hello[3])<<8|int(hello[4])) {
			break
		}
	}
	server.Close()
	<-done
	return hello
}
