package engine

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wssd/wssd/wsproto"
)

// loop is the engine's state for one gnet event loop. Only that loop's
// goroutine touches it, except el, which is safe from anywhere.
type loop struct {
	el    gnet.EventLoop
	srv   *Server
	conns []*Conn // every connection of the loop, for the timer sweep
	now   int64   // coarse clock in Unix nanoseconds, advanced by each sweep
	plain []byte  // scratch for decrypted bytes, reused by every wss connection

	stats loopStats
}

func (l *loop) add(c *Conn) {
	c.slot = len(l.conns)
	l.conns = append(l.conns, c)
}

func (l *loop) remove(c *Conn) {
	last := len(l.conns) - 1
	moved := l.conns[last]
	l.conns[c.slot] = moved
	moved.slot = c.slot
	l.conns[last] = nil
	l.conns = l.conns[:last]
}

// sweepTask runs the timer sweep on the loop.
type sweepTask loop

func (t *sweepTask) Run(context.Context) error {
	(*loop)(t).sweep(time.Now().UnixNano())
	return nil
}

// sweep applies every timeout and heartbeat of the loop's connections. A
// linear pass over plain fields costs a few nanoseconds per connection.
func (l *loop) sweep(now int64) {
	l.now = now
	for i := 0; i < len(l.conns); i++ {
		c := l.conns[i]
		l.check(c, now)
		if i < len(l.conns) && l.conns[i] != c {
			i-- // c was removed and another connection took its slot
		}
	}
}

// check applies c's timers; it enters c only when there is something to do.
func (l *loop) check(c *Conn, now int64) {
	if c.full.Load() || c.wire.Load() != 0 {
		// Output is waiting: see whether it drained, and write what room
		// allows now (the pong owed for a peer's latest ping, say).
		c.enter()
		c.wire.Store(int64(c.gc.OutboundBuffered()))
		c.checkBuffer()
		c.exit()
		if !c.alive() {
			return
		}
	}
	if c.http != nil && c.http.stalled { // plain HTTP waiting for the peer to read (http.go)
		c.enter()
		c.resumeHTTP()
		c.exit()
		if !c.alive() {
			return
		}
	}
	switch c.state {
	case stateUpgrading:
		if now >= c.deadline {
			l.srv.refuse(RefusedHandshakeTimeout)
			c.closeErr = errHandshakeTimeout
			c.closeNow()
		}
	case stateClosing, stateFailing, stateDraining:
		if now >= c.deadline {
			if c.closeErr == nil {
				c.closeErr = errCloseTimeout
			}
			c.closeNow()
			return
		}
		c.enter()
		c.exit() // output that drained meanwhile: FIN, or close
	case stateOpen:
		l.heartbeat(c, now, &l.srv.cfg)
	}
}

// heartbeat closes an idle connection and pings a quiet one. Any bytes from
// the peer answer a ping (see events.OnTraffic: a slow upload of a large
// frame is alive), but only complete frames count against the idle timeout.
func (l *loop) heartbeat(c *Conn, now int64, cfg *Config) {
	switch {
	case cfg.IdleTimeout > 0 && now-c.lastRecv >= int64(cfg.IdleTimeout):
		c.closeErr = ErrIdleTimeout
		c.enter()
		_ = c.queueClose(cfg.IdleTimeoutCode, "idle timeout")
		c.exit()
	case cfg.PingInterval <= 0:
	case c.pingOut && now-c.lastPing >= int64(cfg.PongTimeout):
		c.closeErr = ErrPongTimeout
		if cfg.PongTimeoutCode != 0 {
			c.enter()
			_ = c.queueClose(cfg.PongTimeoutCode, "pong timeout")
			c.exit() // written now, if the socket takes it
		}
		c.closeNow() // the peer is gone or stuck: no closing handshake
	case !c.pingOut && now-c.lastPing >= int64(cfg.PingInterval) &&
		(now-c.lastRecv >= int64(cfg.PingInterval) || now-c.lastSend >= int64(cfg.PingInterval)):
		c.pingOut = true
		c.lastPing = now
		c.enter()
		_ = c.queue(wsproto.OpPing, nil, false)
		c.exit()
	}
}
