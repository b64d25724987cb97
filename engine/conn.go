package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/panjf2000/gnet/v2"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/tlsconn"
	"github.com/wssd/wssd/wsproto"
)

// Errors returned by Conn and Server methods, and passed to OnClose.
var (
	// ErrBufferFull is returned by Send when the connection already has
	// Config.MaxQueuedBytes waiting to be written.
	ErrBufferFull = errors.New("engine: connection send buffer full")
	// ErrServerClosed is returned by Start after Shutdown, and passed to
	// OnClose for connections the shutdown had to drop.
	ErrServerClosed = errors.New("engine: server closed")
	// ErrPongTimeout is passed to OnClose when a peer did not answer a ping.
	ErrPongTimeout = errors.New("engine: no frame received within the pong timeout")
	// ErrIdleTimeout is passed to OnClose when a connection was idle too long.
	ErrIdleTimeout = errors.New("engine: idle timeout")
	// errCloseTimeout ends a closing handshake the peer did not finish.
	errCloseTimeout = errors.New("engine: closing handshake timed out")
)

// Conn is a WebSocket connection. Send, Ping and Close may be called from any
// goroutine; the other methods say when they may be called.
type Conn struct {
	srv  *Server
	gc   gnet.Conn
	loop *loop
	slot int // index in loop.conns

	// Owned by the event loop.
	state    connState // changed only by setState; see connState
	depth    int       // nesting of enter/exit
	released bool      // release has run
	in       *bufpool.Buffer
	parser   wsproto.Parser
	deadline int64 // upgrade, linger, drain or close deadline, loop clock
	lastRecv int64 // the last complete frame (idle timeout)
	lastSend int64
	lastPing int64
	pingOut  bool // a ping is waiting for an answer: any bytes from the peer
	finSent  bool // the write side is shut down (lingering)

	awaitProxy bool // a PROXY protocol header must come first

	tls      *tlsconn.Conn // nil for plain ws
	tlsPhase tlsPhase
	notified bool  // close_notify sent
	opened   int64 // when the upgrade completed (Unix ns); 0 before
	handed   int   // bytes handed to gnet
	outBase  int   // handed when the upgrade completed
	bytesIn  int64
	bytesOut int64
	path     string
	closeErr error // why the connection ends, for OnClose
	gcErr    error // gnet's reason for closing the socket
	injected error // the error of an injected fault (tests)

	remote      netip.AddrPort
	clientIP    netip.Addr
	ipSource    IPSource
	subprotocol string
	value       atomic.Pointer[any]

	// permessage-deflate, when negotiated: set at the upgrade, then read
	// by senders; the deflater's window is guarded by mu.
	deflater   *wsproto.Deflater
	deflateMin int // Compression.Threshold

	mu          sync.Mutex
	out         *bufpool.Buffer // frames waiting for the event loop
	pong        []byte          // the payload of the latest unanswered ping
	pongDue     bool            // a pong is owed (RFC 6455 5.5.3: the latest ping's)
	serving     bool            // the loop flushes out when its callback returns
	flushQueued bool            // a flush task is queued on the loop
	sendErr     error           // non-nil once nothing more may be queued
	closeSent   *wsproto.CloseError
	// Conn.Close began the closing handshake, with the send queue full.
	appClosed, appClosedFull bool
	full                     atomic.Bool  // Send is failing with ErrBufferFull
	fullSeen                 bool         // OnBufferFull was delivered for the current episode
	wire                     atomic.Int64 // bytes gnet holds for the socket, as of the loop's last look

	http *httpConn // plain HTTP served before any upgrade (http.go); owned by the loop
}

// RemoteAddr returns the TCP peer's address (the proxy's, behind a proxy).
// It may be called from any goroutine.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// ClientIP returns the client's address as resolved at the handshake. It may
// be called from any goroutine once OnOpen has been called.
func (c *Conn) ClientIP() netip.Addr { return c.clientIP }

// ClientIPSource says where ClientIP came from.
func (c *Conn) ClientIPSource() IPSource { return c.ipSource }

// Subprotocol returns the subprotocol chosen at the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Value returns the value attached with SetValue, or nil. It may be called
// from any goroutine.
func (c *Conn) Value() any {
	if v := c.value.Load(); v != nil {
		return *v
	}
	return nil
}

// SetValue attaches a value to the connection (GatewayWorker's $_SESSION).
// It may be called from any goroutine; OnHandshake is the usual place.
func (c *Conn) SetValue(v any) { c.value.Store(&v) }

// Send queues a data message. It may be called from any goroutine; it copies
// p, which the caller may reuse at once. It returns ErrBufferFull when
// Config.MaxQueuedBytes or more are already waiting (so one message of any
// size fits in an empty queue), net.ErrClosed once the connection is
// closing, and ErrServerClosed once the server has stopped.
func (c *Conn) Send(typ MessageType, p []byte) error {
	if typ != Text && typ != Binary {
		return errors.New("engine: Send takes Text or Binary")
	}
	return c.queue(wsproto.Opcode(typ), p, true)
}

// Ping queues a ping carrying p (at most 125 bytes). Any frame the peer
// sends afterwards, usually its pong, counts as an answer. Like Send, it
// returns ErrBufferFull when Config.MaxQueuedBytes are already waiting.
func (c *Conn) Ping(p []byte) error {
	if len(p) > wsproto.MaxControlPayload {
		return wsproto.ErrControlTooLong
	}
	return c.queue(wsproto.OpPing, p, true)
}

// errCloseReasonUTF8 is returned by Close for a reason that is not UTF-8.
var errCloseReasonUTF8 = errors.New("engine: close reason is not valid UTF-8")

// Close starts the closing handshake: it queues a close frame with code and
// reason (valid UTF-8, cut to 123 bytes at a character boundary) and closes
// the TCP connection when the peer answers, or after Config.CloseTimeout.
// Frames queued before it are sent first; code wsproto.CloseNoStatus sends a
// close frame without a code. It may be called from any goroutine; closing
// twice is a no-op.
func (c *Conn) Close(code wsproto.CloseCode, reason string) error {
	if !code.ValidOnWire() && code != wsproto.CloseNoStatus {
		return wsproto.ErrCloseCode
	}
	if !utf8.ValidString(reason) {
		return errCloseReasonUTF8
	}
	c.mu.Lock()
	if c.sendErr == nil { // this Close begins the closing handshake
		c.appClosed, c.appClosedFull = true, c.full.Load()
	}
	c.mu.Unlock()
	return c.queueClose(code, reason)
}

// queue appends a frame to the send queue. With limited, it fails once
// Config.MaxQueuedBytes are waiting: data and pings count, and so do pongs
// (see flush); only the heartbeat's own empty ping, one per ping interval,
// and the one close frame do not.
func (c *Conn) queue(op wsproto.Opcode, p []byte, limited bool) error {
	z := c.compress(op, p, false)
	c.mu.Lock()
	if err := c.admitLocked(limited); err != nil {
		c.refuseLocked()
		bufpool.Put(z)
		if !op.IsControl() {
			c.countSent(false, err)
		}
		return err
	}
	if z == nil {
		z = c.compress(op, p, true)
	}
	if !op.IsControl() {
		c.countSent(z != nil, nil)
	}
	if z != nil {
		c.appendLocked(z.B)
		bufpool.Put(z)
	} else {
		if c.out == nil {
			c.out = bufpool.GetCap(wsproto.HeaderSize(len(p), false) + len(p))
		}
		c.out.B = wsproto.AppendFrame(c.out.B, op, true, p)
	}
	trigger := c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		return c.schedule()
	}
	return nil
}

// admitLocked returns the error a frame queued now gets: the connection's
// sticky send error, or, with limited, ErrBufferFull when
// Config.MaxQueuedBytes are waiting. Called under c.mu; after an error the
// caller calls refuseLocked.
func (c *Conn) admitLocked(limited bool) error {
	if c.sendErr != nil {
		return c.sendErr
	}
	if limited && c.pendingLocked() >= c.srv.cfg.MaxQueuedBytes {
		c.full.Store(true)
		return ErrBufferFull
	}
	return nil
}

// refuseLocked unlocks c.mu after admitLocked refused a frame, and makes
// sure the loop delivers OnBufferFull for a full queue.
func (c *Conn) refuseLocked() {
	trigger := c.sendErr == nil && c.full.Load() && !c.fullSeen && c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		_ = c.schedule()
	}
}

// appendLocked appends a whole frame to the send queue. Called under c.mu.
func (c *Conn) appendLocked(frame []byte) {
	if c.out == nil {
		c.out = bufpool.GetCap(len(frame))
	}
	c.out.B = append(c.out.B, frame...)
}

// queueClose queues the close frame, after which nothing more is queued.
func (c *Conn) queueClose(code wsproto.CloseCode, reason string) error {
	c.mu.Lock()
	if c.sendErr != nil {
		c.mu.Unlock()
		return nil
	}
	if c.out == nil {
		c.out = bufpool.Get()
	}
	c.out.B = wsproto.AppendClose(c.out.B, code, reason)
	c.sendErr = net.ErrClosed
	c.closeSent = &wsproto.CloseError{Code: code, Reason: reason}
	trigger := c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		return c.schedule()
	}
	return nil
}

// owePong answers a ping from the peer with payload p. The pong is queued
// like any frame while the send queue has room; when it is full, only the
// latest ping is remembered and answered once there is room again (RFC 6455
// section 5.5.3 allows answering only the most recent ping), so a peer that
// pings without reading cannot grow the queue. Called on the loop.
func (c *Conn) owePong(p []byte) {
	if c.queue(wsproto.OpPong, p, true) != ErrBufferFull {
		return
	}
	c.mu.Lock()
	c.pong = append(c.pong[:0], p...)
	c.pongDue = true
	c.mu.Unlock()
}

// pendingLocked is the number of bytes queued for the peer: ours and gnet's.
func (c *Conn) pendingLocked() int {
	n := int(c.wire.Load())
	if c.out != nil {
		n += len(c.out.B)
	}
	return n
}

// claimFlushLocked reports whether the caller must schedule a flush: nobody
// on the loop will otherwise write what was just queued.
func (c *Conn) claimFlushLocked() bool {
	if c.serving || c.flushQueued {
		return false
	}
	c.flushQueued = true
	return true
}

// schedule asks the connection's event loop to flush it. When the loop no
// longer takes tasks (the server has stopped), nothing queued will ever be
// written: the claim is withdrawn and every later Send fails.
func (c *Conn) schedule() error {
	err := error(nil)
	if f := c.srv.faults.Load(); f != nil {
		err = f.fail(opExecute)
	}
	if err == nil {
		err = c.loop.el.Execute(context.Background(), (*flushTask)(c))
	}
	if err != nil {
		c.mu.Lock()
		c.flushQueued = false
		if c.sendErr == nil {
			c.sendErr = ErrServerClosed
		}
		c.mu.Unlock()
		return ErrServerClosed
	}
	return nil
}

// flushTask runs a flush of its connection on the event loop.
type flushTask Conn

func (t *flushTask) Run(context.Context) error {
	c := (*Conn)(t)
	if !c.alive() {
		c.mu.Lock()
		c.flushQueued = false
		c.mu.Unlock()
		return nil
	}
	c.enter()
	c.exit() // flushes
	return nil
}

// beginServe marks the start of a callback window on the loop: sends to c
// made until flush(true) are written by that flush.
func (c *Conn) beginServe() {
	c.mu.Lock()
	c.serving = true
	c.mu.Unlock()
}

// flush writes what is queued, and the pong that is owed if the queue has
// room for it. Called on the loop; endServe closes the window opened by
// beginServe.
func (c *Conn) flush(endServe bool) {
	c.mu.Lock()
	if endServe {
		c.serving = false
	}
	c.flushQueued = false
	b := c.out
	if c.pongDue && c.closeSent == nil && c.pendingLocked() < c.srv.cfg.MaxQueuedBytes {
		if b == nil {
			b = bufpool.Get()
		}
		b.B = wsproto.AppendFrame(b.B, wsproto.OpPong, true, c.pong)
		c.pongDue = false
	}
	c.out = nil
	closing := c.closeSent != nil
	c.mu.Unlock()

	if !c.alive() {
		bufpool.Put(b)
		return
	}
	if b != nil {
		c.lastSend = c.loop.now
		c.write(b.B)
		bufpool.Put(b)
		if !c.alive() { // the write failed and gnet closed us
			return
		}
	}
	if closing && c.state == stateOpen && c.setState(stateClosing) {
		c.deadline = c.loop.now + int64(c.srv.cfg.CloseTimeout)
	}
	c.wire.Store(int64(c.gc.OutboundBuffered()))
	c.checkBuffer()
}

// write hands bytes to gnet, through TLS for wss. On a write error gnet
// closes the connection at once: callers re-read the state.
func (c *Conn) write(p []byte) {
	if f := c.srv.faults.Load(); f != nil {
		if err := f.fail(opWrite); err != nil {
			c.injected = os.NewSyscallError("write", err)
			c.closeNow() // what gnet does when a write fails: OnClose runs now
			return
		}
	}
	if c.tls != nil {
		c.writeTLS(p)
		return
	}
	c.sockWrite(p)
}

// checkBuffer delivers OnBufferFull and OnBufferDrain. Called on the loop.
func (c *Conn) checkBuffer() {
	if !c.full.Load() {
		return
	}
	c.mu.Lock()
	first := !c.fullSeen
	c.fullSeen = true
	drained := c.pendingLocked() < c.srv.cfg.MaxQueuedBytes/2
	if drained {
		c.full.Store(false)
		c.fullSeen = false
	}
	c.mu.Unlock()
	if c.state != stateOpen {
		return
	}
	if first {
		c.srv.h.OnBufferFull(c)
	}
	if drained && c.state == stateOpen {
		c.srv.h.OnBufferDrain(c)
	}
}
