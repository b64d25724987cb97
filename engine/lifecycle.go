package engine

import (
	"net"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/wssd/wssd/internal/bufpool"
)

// connState is where a connection stands in its life. Only the
// connection's event loop changes it, and only through setState.
//
//	                101 written
//	upgrading ─────────────────────▶ open ──── Close, shutdown, idle ────▶ closing
//	    │                             │  ╲                                   │
//	    │ refused (4xx),              │   ╲ the peer's close frame,          │ the peer's close,
//	    │ bad PROXY header            │    ╲ close_notify, broken record     │ close_notify
//	    ▼                             ▼     ▼                                ▼
//	 failing ◀──── protocol violation ┘   draining ◀─────────────────────────┘
//	    │  output, then FIN;                 │  output (close echo included),
//	    │  input discarded                   │  then close_notify and close
//	    ▼                                    ▼
//	 closed ◀── deadline, write error, read error or EOF, from any state ──
//
// The invariants the rest of the engine relies on:
//
//   - closed is final: nothing leaves it. gnet's OnClose is what enters it,
//     whether the engine asked for the close or gnet closed the socket
//     underneath, inside a failed write. Every path that writes re-reads the
//     state afterwards, and no socket call is made once it is closed (the
//     fd number may already belong to another connection).
//   - A connection's buffers go back to the pool, and the handler's OnClose
//     runs, only when no engine code is working on the connection: a close
//     that happens inside a callback is finished by the outermost exit
//     (see enter and exit).
//   - OnOpen is called only for a connection that is alive after its 101
//     response was written, and is followed by exactly one OnClose.
type connState uint8

const (
	stateUpgrading connState = iota // PROXY header, TLS handshake, upgrade request; plain HTTP requests (http.go)
	stateOpen                       // frames flow both ways
	stateClosing                    // our close frame is queued; reading until the peer's
	stateDraining                   // nothing more to read: write what is queued, then close
	stateFailing                    // refused or failed: output, then FIN; input discarded (linger)
	stateClosed                     // gnet has closed the socket; final
)

var stateNames = [...]string{"upgrading", "open", "closing", "draining", "failing", "closed"}

func (s connState) String() string { return stateNames[s] }

// transitions lists the legal moves between states other than into
// stateClosed, which any state may enter.
var transitions = [...][]connState{
	stateUpgrading: {stateOpen, stateFailing, stateDraining},
	stateOpen:      {stateClosing, stateDraining, stateFailing},
	stateClosing:   {stateDraining, stateFailing},
	stateDraining:  nil,
	stateFailing:   nil,
	stateClosed:    nil,
}

// setState moves c to next and reports whether it could. A move out of
// stateClosed is a bug in the engine (a connection raised from the dead); it
// is refused and counted, and the tests check the count stays zero. Other
// moves that the diagram does not allow are refused silently: a violation
// found while draining changes nothing.
func (c *Conn) setState(next connState) bool {
	if c.state == stateClosed {
		if next != stateClosed {
			c.srv.violation()
		}
		return false
	}
	if next == stateClosed {
		c.state = next
		return true
	}
	for _, ok := range transitions[c.state] {
		if ok == next {
			c.state = next
			return true
		}
	}
	return false
}

// violation counts a lifecycle bug caught at run time and keeps the stack
// of the first, for the tests to show.
func (s *Server) violation() {
	if s.resurrections.Add(1) == 1 {
		s.firstViolation.Store(string(debug.Stack()))
	}
}

// alive reports whether c's socket is still open.
func (c *Conn) alive() bool { return c.state != stateClosed }

// enter marks the start of engine work on c from its event loop: a gnet
// callback, a task, the timer sweep. Frames sent while c is entered are
// written together by the outermost exit. enter and exit nest.
func (c *Conn) enter() {
	c.depth++
	if c.depth == 1 {
		if c.alive() && c.wire.Load() != 0 {
			c.wire.Store(int64(c.gc.OutboundBuffered())) // Sends see what really waits
		}
		c.beginServe()
	}
}

// exit ends what enter began. The outermost exit writes what was sent
// meanwhile and then settles c's fate: this is the one place where a
// connection that is done is closed, and where a connection that gnet
// closed underneath is released.
func (c *Conn) exit() {
	if c.depth == 1 {
		if c.alive() {
			c.flush(true)
		}
		c.settle()
	}
	c.depth--
	if c.depth == 0 && c.state == stateClosed && !c.released {
		c.release()
	}
}

// settle closes a draining connection whose output is out and sends FIN for
// a failing one whose output is out. c is entered.
func (c *Conn) settle() {
	switch c.state {
	case stateDraining:
		if c.outputDone() {
			c.sayGoodbye()
			c.closeNow()
		}
	case stateFailing:
		c.shutdownWrite()
	}
}

// outputDone reports whether everything queued for c has reached the
// socket: nothing waits in the send queue nor in gnet's buffer.
func (c *Conn) outputDone() bool {
	c.mu.Lock()
	queued := c.out != nil && len(c.out.B) > 0
	c.mu.Unlock()
	return !queued && c.alive() && c.gc.OutboundBuffered() == 0
}

// closeNow closes c's socket at once; gnet calls OnClose, and so markClosed,
// before it returns. What gnet still buffers gets one last try to be written.
func (c *Conn) closeNow() {
	if c.alive() {
		_ = c.loop.el.Close(c.gc)
	}
}

// markClosed is gnet's OnClose: the socket is gone. err is gnet's reason
// (nil when the engine closed it). The connection is released now, or by
// the outermost exit if engine code is working on it.
func (c *Conn) markClosed(err error) {
	if !c.alive() {
		return
	}
	if c.injected != nil && err == nil {
		err = c.injected
	}
	c.gcErr = err
	if c.opened != 0 { // bytes the kernel took after the 101 response
		buffered := c.gc.OutboundBuffered()
		took := c.handed - buffered
		if err != nil && buffered == 0 {
			// gnet empties its buffer without writing it when the socket
			// reports an error, before OnClose: ask the kernel instead.
			if k, ok := kernelTook(c.gc.Fd()); ok {
				if c.finSent {
					k--
				}
				took = min(took, k)
			}
		}
		handed := c.handed - c.outBase
		c.bytesOut = int64(max(took-c.outBase, 0))
		c.loop.stats.bytesOut.Add(-uint64(int64(handed) - c.bytesOut)) // less what it did not take
	}
	c.setState(stateClosed)
	c.mu.Lock()
	c.sendErr = net.ErrClosed // Send fails from now on
	c.mu.Unlock()
	if c.depth == 0 {
		c.release()
	}
}

// release returns c's buffers, tells the handler and the server that c is
// gone, once.
func (c *Conn) release() {
	c.released = true
	c.loop.remove(c)
	c.mu.Lock()
	bufpool.Put(c.out)
	c.out = nil
	c.mu.Unlock()
	bufpool.Put(c.in)
	c.in = nil
	c.parser.Reset()
	c.parser.Inflater = nil // its window, if any
	c.releaseHTTP()
	if c.tls != nil {
		_ = c.tls.Close()
	}
	s := c.srv
	s.closed(c, c.gcErr)
	s.adm.release(c.remote.Addr()) // the peer the acceptor counted
	s.checkDrained()
}

// linger ends a connection whose peer cannot be served further without
// losing the last words sent to it: once they are written the server shuts
// down its sending side, so the peer reads them and then end-of-stream, and
// it discards whatever arrives until the peer closes or the linger time
// passes. Closing at once could make the kernel answer unread input with a
// reset that destroys the response still in flight.
func (c *Conn) linger() {
	if c.setState(stateFailing) {
		c.deadline = c.loop.now + int64(min(c.srv.cfg.CloseTimeout, maxLinger))
	}
}

// drain ends a connection once what is queued for it is written: the
// closing handshake is complete, or nothing more can be read. It is bounded
// by the close timeout.
func (c *Conn) drain() {
	if c.setState(stateDraining) {
		c.deadline = c.loop.now + int64(c.srv.cfg.CloseTimeout)
	}
}

// shutdownWrite sends FIN once a lingering connection's output is written.
func (c *Conn) shutdownWrite() {
	if c.state != stateFailing || c.finSent {
		return
	}
	c.sayGoodbye()
	if !c.outputDone() {
		return
	}
	c.finSent = true
	c.sockShutdown()
}

// sockWrite hands p to gnet, which writes it now or keeps a copy until the
// socket is writable. When the write fails gnet closes the connection at
// once, calling OnClose before it returns: callers re-read the state.
// A failed write took nothing of p (gnet buffers behind a pending write
// and fails only a direct one), so p is counted only if c survives it.
func (c *Conn) sockWrite(p []byte) {
	if !c.alive() {
		c.srv.violation() // a write to an fd that may be another connection's
		return
	}
	_, _ = c.gc.Write(p)
	if !c.alive() {
		return
	}
	c.handed += len(p)
	if c.opened != 0 {
		c.loop.stats.bytesOut.Add(uint64(len(p)))
	}
}

// sockShutdown shuts down the sending side of c's socket.
func (c *Conn) sockShutdown() {
	if !c.alive() {
		c.srv.violation()
		return
	}
	_ = unix.Shutdown(c.gc.Fd(), unix.SHUT_WR)
}
