package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

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

// connState is where a connection stands; only its event loop changes it.
type connState uint8

const (
	stateUpgrading connState = iota // reading the upgrade request
	stateOpen                       // frames flow both ways
	stateClosing                    // our close frame is out; waiting for the peer's
	stateFailing                    // refused or failed: output drains, input is discarded (linger)
	stateClosed                     // gone; gnet has released the socket
)

// Conn is a WebSocket connection. Send, Ping and Close may be called from any
// goroutine; the other methods say when they may be called.
type Conn struct {
	srv  *Server
	gc   gnet.Conn
	loop *loop
	slot int // index in loop.conns

	// Owned by the event loop.
	state    connState
	in       *bufpool.Buffer // unconsumed input kept between reads
	parser   wsproto.Parser
	deadline int64 // upgrade or close deadline, loop clock
	lastRecv int64
	lastSend int64
	lastPing int64
	pingOut  bool // a ping is waiting for any frame in return
	hangup   bool // close the TCP connection once queued frames are out
	finSent  bool // the write side is shut down (lingering)

	awaitProxy bool // a PROXY protocol header must come first

	tls       *tlsconn.Conn // nil for plain ws
	tlsFed    bool          // the first bytes went to TLS
	tlsUp     bool          // the TLS handshake succeeded
	detectTLS bool          // the first byte decides between ws and wss
	notified  bool          // close_notify sent
	opened    int64         // when the upgrade completed
	bytesIn   int64
	bytesOut  int64
	path      string
	closeErr  error // why the connection ends, for OnClose

	remote      netip.AddrPort
	clientIP    netip.Addr
	ipSource    IPSource
	subprotocol string
	value       any

	mu          sync.Mutex
	out         *bufpool.Buffer // frames waiting for the event loop
	serving     bool            // the loop flushes out when its callback returns
	flushQueued bool            // a flush task is queued on the loop
	closeQueued bool            // a close frame is queued: nothing more may be sent
	closeSent   *wsproto.CloseError
	full        atomic.Bool  // Send is failing with ErrBufferFull
	fullSeen    bool         // OnBufferFull was delivered for the current episode
	wire        atomic.Int64 // bytes gnet holds for the socket, as of the loop's last look
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

// Value returns the value attached with SetValue. It may be called from any
// goroutine once OnOpen has been called.
func (c *Conn) Value() any { return c.value }

// SetValue attaches a value to the connection (GatewayWorker's $_SESSION).
// Call it from OnHandshake or another callback of this connection.
func (c *Conn) SetValue(v any) { c.value = v }

// Send queues a data message. It may be called from any goroutine; it copies
// p, which the caller may reuse at once. It returns ErrBufferFull when
// Config.MaxQueuedBytes or more are already waiting (so one message of any
// size fits in an empty queue), and net.ErrClosed once the connection is
// closing.
func (c *Conn) Send(typ MessageType, p []byte) error {
	if typ != Text && typ != Binary {
		return errors.New("engine: Send takes Text or Binary")
	}
	return c.queue(wsproto.Opcode(typ), p, false)
}

// Ping queues a ping carrying p (at most 125 bytes). Any frame the peer
// sends afterwards, usually its pong, counts as an answer.
func (c *Conn) Ping(p []byte) error {
	if len(p) > wsproto.MaxControlPayload {
		return wsproto.ErrControlTooLong
	}
	return c.queue(wsproto.OpPing, p, true)
}

// Close starts the closing handshake: it queues a close frame with code and
// reason (cut to 123 bytes) and closes the TCP connection when the peer
// answers, or after Config.CloseTimeout. Frames queued before it are sent
// first; code wsproto.CloseNoStatus sends a close frame without a code. It
// may be called from any goroutine; closing twice is a no-op.
func (c *Conn) Close(code wsproto.CloseCode, reason string) error {
	if !code.ValidOnWire() && code != wsproto.CloseNoStatus {
		return wsproto.ErrCloseCode
	}
	return c.queueClose(code, reason)
}

func (c *Conn) queue(op wsproto.Opcode, p []byte, control bool) error {
	c.mu.Lock()
	if c.closeQueued {
		c.mu.Unlock()
		return net.ErrClosed
	}
	if !control && c.pendingLocked() >= c.srv.cfg.MaxQueuedBytes {
		c.full.Store(true)
		notify := !c.fullSeen
		trigger := notify && c.claimFlushLocked()
		c.mu.Unlock()
		if trigger {
			c.schedule()
		}
		return ErrBufferFull
	}
	if c.out == nil {
		c.out = bufpool.GetCap(wsproto.HeaderSize(len(p), false) + len(p))
	}
	c.out.B = wsproto.AppendFrame(c.out.B, op, true, p)
	trigger := c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		return c.schedule()
	}
	return nil
}

func (c *Conn) queueClose(code wsproto.CloseCode, reason string) error {
	c.mu.Lock()
	if c.closeQueued {
		c.mu.Unlock()
		return nil
	}
	if c.out == nil {
		c.out = bufpool.Get()
	}
	c.out.B = wsproto.AppendClose(c.out.B, code, reason)
	c.closeQueued = true
	c.closeSent = &wsproto.CloseError{Code: code, Reason: reason}
	trigger := c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		return c.schedule()
	}
	return nil
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

// schedule asks the connection's event loop to flush it.
func (c *Conn) schedule() error {
	if err := c.loop.el.Execute(context.Background(), (*flushTask)(c)); err != nil {
		return ErrServerClosed
	}
	return nil
}

// flushTask runs a flush of its connection on the event loop.
type flushTask Conn

func (t *flushTask) Run(context.Context) error {
	(*Conn)(t).flush(false)
	return nil
}

// beginServe marks the start of a callback window on the loop: sends to c
// made until flush(true) are written by that flush.
func (c *Conn) beginServe() {
	c.mu.Lock()
	c.serving = true
	c.mu.Unlock()
}

// flush writes what is queued. Called on the loop; endServe closes the
// window opened by beginServe.
func (c *Conn) flush(endServe bool) {
	c.mu.Lock()
	if endServe {
		c.serving = false
	}
	c.flushQueued = false
	b := c.out
	c.out = nil
	closing := c.closeQueued
	c.mu.Unlock()

	if c.state == stateClosed {
		bufpool.Put(b)
		return
	}
	if b != nil {
		c.bytesOut += int64(len(b.B))
		c.lastSend = c.loop.now
		c.write(b.B)
		bufpool.Put(b)
		if c.state == stateClosed { // the write failed and gnet closed us
			return
		}
	}
	if closing && c.state == stateOpen {
		c.state = stateClosing
		c.deadline = c.loop.now + int64(c.srv.cfg.CloseTimeout)
	}
	c.wire.Store(int64(c.gc.OutboundBuffered()))
	c.shutdownWrite()
	c.checkBuffer()
}

// write hands bytes to gnet, through TLS for wss; gnet writes them now or
// keeps a copy until the socket is writable. On a write error gnet closes
// the connection at once.
func (c *Conn) write(p []byte) {
	if c.tls != nil {
		c.writeTLS(p)
		return
	}
	_, _ = c.gc.Write(p)
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
