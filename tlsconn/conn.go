package tlsconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// plaintextRoom is the least free space AppendPlaintext hands to
// tls.Conn.Read at a time.
const plaintextRoom = 1 << 10

// state is where a Conn's handshake stands.
type state uint8

const (
	stateAwaitRecord state = iota // first record incomplete; no goroutine
	stateQueued                   // waiting in the Handshaker's queue
	stateRunning                  // a handshake goroutine owns the tls.Conn
	stateDone                     // handshake succeeded; the caller owns the tls.Conn
	stateFailed                   // handshake failed or never ran; err says why
)

// A Conn is the server side of a TLS connection driven by an event loop. The
// caller moves bytes between the socket and the Conn; the Conn never does
// I/O. Create one with [Server].
//
// A Conn is not safe for concurrent use; see the package documentation.
type Conn struct {
	tls *tls.Conn
	h   *Handshaker
	sh  shim

	// established is set by HandshakeComplete when it reports success.
	// Owned by the caller's goroutine.
	established bool

	// Guarded by sh.mu.
	state state
	err   error       // why the handshake failed, once state is stateFailed
	timer *time.Timer // handshake deadline; nil once the handshake is over
	peer  netip.Addr  // the client's address as counted by the Handshaker (see ipKey)

	// Guarded by h.mu: links in h.running or h.queued, and the address whose
	// per-IP share c holds while in either (invalid when it holds none).
	prev, next *Conn
	slot       netip.Addr
}

// Server returns a Conn for a newly accepted connection from the client
// address peer, serving TLS with cfg. As with [tls.Server], cfg must not be
// modified afterwards and must hold at least one certificate or set
// GetCertificate or GetConfigForClient. Its handshake runs under h's limits,
// counted against peer's share (see [HandshakerConfig.MaxPerIP]; the zero
// Addr is not counted, and [Conn.SetPeer] may name the client later); its
// timeout starts now.
//
// wake is called, from another goroutine, whenever the Conn has news for the
// caller while the handshake runs: ciphertext to send (see [Conn.Outbound])
// or the handshake's outcome (see [Conn.HandshakeComplete]). It may be
// called more than once per event and after the news has been collected. It
// must not block or call methods of the Conn; typically it schedules a task
// on the event loop that owns the connection. It is not called after
// [Conn.Close].
func Server(cfg *tls.Config, h *Handshaker, peer netip.Addr, wake func()) *Conn {
	if h == nil || wake == nil {
		panic("tlsconn: Server needs a Handshaker and a wake function")
	}
	c := &Conn{h: h, peer: ipKey(peer)}
	c.sh.cond.L = &c.sh.mu
	c.sh.wake = wake
	c.tls = tls.Server(&c.sh, cfg)
	if h.timeout > 0 {
		c.sh.mu.Lock()
		c.timer = time.AfterFunc(h.timeout, c.expire)
		c.sh.mu.Unlock()
	}
	return c
}

// SetPeer replaces the client address given to [Server], for a server that
// learns it after accepting the connection (from a PROXY protocol header,
// say). It has effect until the first complete TLS record has been fed: the
// handshake is counted against the address it has then.
func (c *Conn) SetPeer(peer netip.Addr) {
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	if c.state == stateAwaitRecord {
		c.peer = ipKey(peer)
	}
}

// ipKey is the address a client's handshakes are counted under: its IPv4
// address, or its IPv6 /64 prefix.
func ipKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// Feed appends a copy of ciphertext received from the peer. When the first
// complete TLS record has arrived, Feed starts the handshake, or queues it,
// or returns [ErrTooManyHandshakes]. After the handshake, call
// [Conn.AppendPlaintext] to decrypt what was fed.
//
// Feed returns [ErrNotTLS] if the connection's first bytes are not a TLS
// handshake record (see [LooksLikeHTTP]), [ErrInputLimit] if more would be
// buffered than the handshake may hold ([MaxWaitingInput] until its
// goroutine runs, [HandshakerConfig.MaxInput] after), [ErrTooManyPerIP] or
// [ErrTooManyHandshakes] if the handshake is refused, the handshake's error
// once it has failed, and [net.ErrClosed] after [Conn.Close].
func (c *Conn) Feed(ciphertext []byte) error {
	c.sh.mu.Lock()
	if c.sh.closed {
		c.sh.mu.Unlock()
		return net.ErrClosed
	}
	switch c.state {
	case stateFailed:
		err := c.err
		c.sh.mu.Unlock()
		return err
	case stateAwaitRecord:
		if c.sh.in.len()+len(ciphertext) > c.h.maxWaiting {
			c.failLocked(ErrInputLimit)
			c.sh.mu.Unlock()
			return ErrInputLimit
		}
		c.sh.in.write(ciphertext)
		complete, err := checkFirstRecord(c.sh.in.bytes())
		if err != nil {
			c.failLocked(err)
		}
		c.sh.mu.Unlock()
		if complete {
			return c.h.start(c)
		}
		return err
	case stateQueued, stateRunning:
		if c.sh.stop != nil {
			err := c.sh.stop
			c.sh.mu.Unlock()
			return err
		}
		limit := c.h.maxInput
		if c.state == stateQueued {
			limit = c.h.maxWaiting
		}
		if c.sh.in.len()+len(ciphertext) > limit {
			c.sh.mu.Unlock()
			c.lock()
			c.abortLocked(ErrInputLimit)
			c.unlock()
			return ErrInputLimit
		}
	}
	c.sh.in.write(ciphertext)
	c.sh.cond.Signal()
	c.sh.mu.Unlock()
	return nil
}

// HandshakeComplete reports whether the handshake is over and, if it
// failed, why: [ErrHandshakeTimeout], [ErrTooManyHandshakes], [ErrTooManyPerIP],
// [ErrHandshakerClosed], [ErrInputLimit], [ErrNotTLS], [net.ErrClosed], or
// an error wrapping the one from crypto/tls. Call it after wake.
//
// Once it has reported success, [Conn.AppendPlaintext], [Conn.Write] and
// [Conn.CloseWrite] may be used, and application data that arrived with
// the client's Finished message is ready to be read. After a failure,
// [Conn.Outbound] may still hold an alert for the peer.
func (c *Conn) HandshakeComplete() (done bool, err error) {
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	switch c.state {
	case stateDone:
		c.established = true
		return true, nil
	case stateFailed:
		return true, c.err
	}
	return false, nil
}

// AppendPlaintext decrypts all complete records fed so far, appends their
// application data to dst and returns the extended slice. It does not block:
// a partial record stays buffered until the rest is fed. It returns io.EOF
// once the peer has sent close_notify, and otherwise the error from
// crypto/tls, which is permanent.
//
// Reading may queue ciphertext for the peer (a TLS 1.3 KeyUpdate reply, or an
// alert), so check [Conn.Outbound] afterwards. AppendPlaintext returns
// [ErrHandshakeIncomplete] until [Conn.HandshakeComplete] has reported
// success.
func (c *Conn) AppendPlaintext(dst []byte) ([]byte, error) {
	if !c.established {
		return dst, ErrHandshakeIncomplete
	}
	for {
		if cap(dst)-len(dst) < plaintextRoom {
			dst = slices.Grow(dst, max(4*plaintextRoom, len(dst)))
		}
		n, err := c.tls.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == errWouldBlock {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// AppendDecrypted is [Conn.Feed] followed by [Conn.AppendPlaintext], for use
// after the handshake, without Feed's copy: crypto/tls reads ciphertext
// from the caller's slice (into its own record buffer, which also holds a
// trailing partial record until the next call), and what it leaves unread,
// as after a close_notify, is copied and kept. ciphertext is not retained
// once AppendDecrypted returns. It
// returns [net.ErrClosed] after [Conn.Close], and otherwise what
// AppendPlaintext returns.
func (c *Conn) AppendDecrypted(dst, ciphertext []byte) ([]byte, error) {
	if !c.established {
		return dst, ErrHandshakeIncomplete
	}
	if len(ciphertext) > 0 {
		c.sh.mu.Lock()
		if c.sh.closed {
			c.sh.mu.Unlock()
			return dst, net.ErrClosed
		}
		if c.sh.in.len() > 0 {
			c.sh.in.write(ciphertext) // behind a partial record: keep the order
		} else {
			c.sh.lent = ciphertext
		}
		c.sh.mu.Unlock()
	}
	dst, err := c.AppendPlaintext(dst)
	if len(ciphertext) > 0 {
		c.sh.mu.Lock()
		if len(c.sh.lent) > 0 && !c.sh.closed {
			c.sh.in.write(c.sh.lent)
		}
		c.sh.lent = nil
		c.sh.mu.Unlock()
	}
	return dst, err
}

// Write encrypts plaintext into the outbound buffer; collect it with
// [Conn.Outbound]. It never blocks, and returns [ErrHandshakeIncomplete]
// until [Conn.HandshakeComplete] has reported success, and [net.ErrClosed]
// after [Conn.Close].
func (c *Conn) Write(plaintext []byte) (int, error) {
	if !c.established {
		return 0, ErrHandshakeIncomplete
	}
	if len(plaintext) > maxPlaintext { // several records: room for all at once
		records := (len(plaintext) + maxPlaintext - 1) / maxPlaintext
		c.sh.mu.Lock()
		c.sh.out.reserve(len(plaintext) + records*recordOverhead)
		c.sh.mu.Unlock()
	}
	return c.tls.Write(plaintext)
}

// Outbound returns the ciphertext waiting to be sent to the peer, oldest
// first, or nil. The slice aliases the Conn's buffer: it stays valid and
// unchanged until the next call to [Conn.DiscardOutbound], while later
// ciphertext is appended behind it, and must not be modified. Send it, then
// discard what was sent.
//
// Outbound may be called at any time, including while the handshake runs.
func (c *Conn) Outbound() []byte {
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	return c.sh.out.bytes()
}

// DiscardOutbound releases the first n bytes returned by [Conn.Outbound],
// or all of them if n is larger. Once nothing is left, the buffer returns to
// a pool, so no slice returned by Outbound may be used after DiscardOutbound.
func (c *Conn) DiscardOutbound(n int) {
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	c.sh.out.discard(n)
}

// CloseWrite queues a close_notify alert for the peer and makes further
// writes fail; reading continues until the peer's close_notify (io.EOF from
// [Conn.AppendPlaintext]). It returns [ErrHandshakeIncomplete] until
// [Conn.HandshakeComplete] has reported success.
func (c *Conn) CloseWrite() error {
	if !c.established {
		return ErrHandshakeIncomplete
	}
	return c.tls.CloseWrite()
}

// Close ends the connection. After a successful handshake it queues a
// close_notify alert (unless [Conn.CloseWrite] did); send what
// [Conn.Outbound] returns before closing the socket. During the handshake it
// aborts it: the handshake goroutine, if any, exits promptly, and wake is not
// called again. Close releases the inbound buffer; the outbound one is
// released by [Conn.DiscardOutbound] or the garbage collector. Later calls
// return [net.ErrClosed].
func (c *Conn) Close() error {
	c.sh.mu.Lock()
	closed, st := c.sh.closed, c.state
	c.sh.mu.Unlock()
	switch {
	case closed:
		return net.ErrClosed
	case st == stateDone:
		// The handshake goroutine has exited: the tls.Conn is ours. It
		// queues close_notify, then closes the shim.
		return c.tls.Close()
	}
	c.lock()
	c.abortLocked(net.ErrClosed)
	c.sh.closeLocked()
	c.unlock()
	return nil
}

// ConnectionState returns details about the connection once
// [Conn.HandshakeComplete] has reported success, and the zero value before.
func (c *Conn) ConnectionState() tls.ConnectionState {
	if !c.established {
		// tls.Conn.ConnectionState would wait for a running handshake.
		return tls.ConnectionState{}
	}
	return c.tls.ConnectionState()
}

// handshake runs on a handshake goroutine, which owns the tls.Conn until it
// returns.
func (c *Conn) handshake() {
	err := c.tls.Handshake()

	c.sh.mu.Lock()
	c.sh.blocking = false
	var wake func()
	switch {
	case c.sh.closed:
		c.failLocked(net.ErrClosed)
	case err == nil:
		c.state = stateDone
		c.stopTimerLocked()
		wake, c.sh.wake = c.sh.wake, nil
	case c.sh.stop != nil:
		wake = c.failLocked(c.sh.stop)
	default:
		wake = c.failLocked(fmt.Errorf("tlsconn: handshake failed: %w", err))
	}
	c.sh.stop = nil
	c.sh.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// expire runs when the handshake timeout fires, on the timer's goroutine.
func (c *Conn) expire() {
	c.lock()
	wake := c.abortLocked(ErrHandshakeTimeout)
	c.unlock()
	if wake != nil {
		wake()
	}
}

// abortLocked ends c's handshake with err, unless it is over. A handshake
// that has no goroutine fails at once, and abortLocked returns the wake
// function to report it with; a running one is told to stop, and its
// goroutine reports the outcome. c.lock is held.
func (c *Conn) abortLocked(err error) (wake func()) {
	switch c.state {
	case stateQueued:
		c.h.queued.remove(c)
		c.h.forgetLocked(c)
		fallthrough
	case stateAwaitRecord:
		return c.failLocked(err)
	case stateRunning:
		if c.sh.stop == nil {
			c.sh.stop = err
		}
		c.sh.cond.Broadcast()
	}
	return nil
}

// failLocked records that the handshake failed with err and frees what only
// a handshake needs. It returns the wake function, for callers that must
// report the failure; nil after Close. No goroutine may be running the
// handshake. c.sh.mu is held.
func (c *Conn) failLocked(err error) (wake func()) {
	c.state = stateFailed
	c.err = err
	c.stopTimerLocked()
	c.sh.in.release()
	wake, c.sh.wake = c.sh.wake, nil
	return wake
}

func (c *Conn) stopTimerLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// lock takes h.mu, which guards the queue, then c.sh.mu: the lock order
// everywhere both are held.
func (c *Conn) lock() {
	c.h.mu.Lock()
	c.sh.mu.Lock()
}

func (c *Conn) unlock() {
	c.sh.mu.Unlock()
	c.h.mu.Unlock()
}
