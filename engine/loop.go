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
	cfg := &l.srv.cfg
	for i := 0; i < len(l.conns); i++ {
		c := l.conns[i]
		if c.full.Load() {
			c.wire.Store(int64(c.gc.OutboundBuffered()))
			c.checkBuffer()
		} else if c.wire.Load() != 0 {
			c.wire.Store(int64(c.gc.OutboundBuffered()))
		}
		switch c.state {
		case stateUpgrading:
			if now >= c.deadline {
				c.closeErr = errHandshakeTimeout
				l.close(c)
			}
		case stateClosing, stateFailing:
			c.shutdownWrite()
			if now >= c.deadline {
				if c.closeErr == nil {
					c.closeErr = errCloseTimeout
				}
				l.close(c)
			}
		case stateOpen:
			l.heartbeat(c, now, cfg)
		}
		if i < len(l.conns) && l.conns[i] != c {
			i-- // c was removed and another connection took its slot
		}
	}
}

func (l *loop) heartbeat(c *Conn, now int64, cfg *Config) {
	switch {
	case cfg.IdleTimeout > 0 && now-c.lastRecv >= int64(cfg.IdleTimeout):
		c.closeErr = ErrIdleTimeout
		c.beginServe()
		_ = c.queueClose(wsproto.CloseGoingAway, "idle timeout")
		c.flush(true)
	case cfg.PingInterval <= 0:
	case c.pingOut && now-c.lastPing >= int64(cfg.PongTimeout):
		c.closeErr = ErrPongTimeout
		l.close(c) // the peer is gone or stuck: no closing handshake
	case !c.pingOut && now-c.lastPing >= int64(cfg.PingInterval) &&
		(now-c.lastRecv >= int64(cfg.PingInterval) || now-c.lastSend >= int64(cfg.PingInterval)):
		c.pingOut = true
		c.lastPing = now
		c.beginServe()
		_ = c.queue(wsproto.OpPing, nil, true)
		c.flush(true)
	}
}

// close drops c's TCP connection now; gnet calls OnClose before it returns.
func (l *loop) close(c *Conn) {
	if c.state != stateClosed {
		_ = l.el.Close(c.gc)
	}
}
