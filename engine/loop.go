package engine

import (
	"context"
	"math/bits"
	"sync/atomic"
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

	// The timer sweep (see sweepTask): next is where it goes on, quota how
	// many connections the current part still looks at; sweeping is set
	// while a part is under way, by OnTick's goroutine, which starts a part
	// only when none is.
	next     int
	quota    int
	sweeping atomic.Bool

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

// The timer sweep looks at every connection once per Config.tick, a
// part of them at each of the tick's sweepParts (see Config.sweepParts),
// so that pings fall due across the tick rather than all at its start: a
// sweep that pinged a second's worth of connections at once delayed
// broadcasts behind it by up to 20 ms.
//
// A part runs in slices: a slice ends after sweepActs connections needed
// something done (a ping, a close, a flush of what drained) or sweepScan
// were looked at, and the loop then runs what is queued behind the sweep
// (broadcasts, sends from other goroutines) before the next slice. A sweep
// that pinged tens of thousands of connections in one go held a loop for
// ~60 ms.
const (
	sweepActs = 64
	sweepScan = 4096
)

// sweepTask runs a part of the timer sweep on the loop, one slice per
// Run; a slice that did not finish the part queues the next one behind
// the tasks already waiting.
type sweepTask loop

func (t *sweepTask) Run(context.Context) error {
	l := (*loop)(t)
	if l.quota == 0 { // a new part: its share of the connections
		parts := l.srv.cfg.sweepParts()
		l.quota = (len(l.conns) + parts - 1) / parts
	}
	if l.sweep(time.Now().UnixNano()) {
		l.sweeping.Store(false)
		return nil
	}
	if l.el.Execute(context.Background(), t) != nil {
		l.sweeping.Store(false) // the engine is stopping
	}
	return nil
}

// sweep applies the timeouts and heartbeats of the part's remaining
// l.quota connections, from l.next on, round the loop's connections, until
// the slice's budget is spent, and reports whether the part is done. A
// connection moved into a slot the sweep has passed (by a removal between
// slices) waits for the next round.
func (l *loop) sweep(now int64) (done bool) {
	l.now = now
	acts, scanned := 0, 0
	for l.quota > 0 && len(l.conns) > 0 {
		if acts >= sweepActs || scanned >= sweepScan {
			return false
		}
		if l.next >= len(l.conns) {
			l.next = 0
		}
		c := l.conns[l.next]
		if l.check(c, now) {
			acts++
		}
		scanned++
		l.quota--
		if l.next < len(l.conns) && l.conns[l.next] != c {
			continue // c was removed and another connection took its slot
		}
		l.next++
	}
	l.quota = 0
	return true
}

// check applies c's timers; it enters c only when there is something to
// do, and reports whether there was.
func (l *loop) check(c *Conn, now int64) (acted bool) {
	if c.full.Load() || c.wire.Load() != 0 {
		// Output is waiting: see whether it drained, and write what room
		// allows now (the pong owed for a peer's latest ping, say).
		acted = true
		c.enter()
		c.wire.Store(int64(c.gc.OutboundBuffered()))
		c.checkBuffer()
		c.exit()
		if !c.alive() {
			return true
		}
	}
	if c.http != nil && c.http.stalled { // plain HTTP waiting for the peer to read (http.go)
		acted = true
		c.enter()
		c.resumeHTTP()
		c.exit()
		if !c.alive() {
			return true
		}
	}
	switch c.state {
	case stateUpgrading:
		if now >= c.deadline {
			l.srv.refuse(RefusedHandshakeTimeout)
			c.closeErr = errHandshakeTimeout
			c.closeNow()
			return true
		}
	case stateClosing, stateFailing, stateDraining:
		if now >= c.deadline {
			if c.closeErr == nil {
				c.closeErr = errCloseTimeout
			}
			c.closeNow()
			return true
		}
		c.enter()
		c.exit() // output that drained meanwhile: FIN, or close
		return true
	case stateOpen:
		return l.heartbeat(c, now, &l.srv.cfg) || acted
	}
	return acted
}

// heartbeat closes an idle connection and pings a quiet one, and reports
// whether it did. Any bytes from the peer answer a ping (see
// events.OnTraffic: a slow upload of a large frame is alive), those still
// in the socket too: a loop busy past the pong timeout (a fan-out to every
// subscriber, a machine out of CPU) has not read the answer yet, and the
// peer is not the one late. Only complete frames count against the idle
// timeout.
//
// A connection counts as quiet after between three quarters and a quarter
// more than PingInterval, a fraction of its own (quietAfter), on average
// PingInterval: connections whose traffic stopped together — opened in one
// storm, or all sent one broadcast — are pinged over half an interval, not
// in one sweep, and their pongs do not come back together either.
func (l *loop) heartbeat(c *Conn, now int64, cfg *Config) bool {
	switch {
	case cfg.IdleTimeout > 0 && now-c.lastRecv >= int64(cfg.IdleTimeout):
		c.closeErr = ErrIdleTimeout
		c.enter()
		_ = c.queueClose(cfg.IdleTimeoutCode, "idle timeout")
		c.exit()
		return true
	case cfg.PingInterval <= 0:
		return false
	case c.pingOut:
		if now-c.lastPing < int64(cfg.PongTimeout) || kernelHolds(c.gc.Fd()) {
			return false // answered, or the answer waits for this busy loop
		}
		c.closeErr = ErrPongTimeout
		if cfg.PongTimeoutCode != 0 {
			c.enter()
			_ = c.queueClose(cfg.PongTimeoutCode, "pong timeout")
			c.exit() // written now, if the socket takes it
		}
		c.closeNow() // the peer is gone or stuck: no closing handshake
		return true
	}
	quiet := quietAfter(c.gc.Fd(), cfg.PingInterval)
	if now-c.lastPing < quiet || (now-c.lastRecv < quiet && now-c.lastSend < quiet) {
		return false
	}
	c.pingOut = true
	c.lastPing = now
	c.enter()
	_ = c.queue(wsproto.OpPing, nil, false)
	c.exit()
	return true
}

// quietAfter returns how long a connection must be quiet before it is
// pinged: three quarters of interval and a share of half of it that its
// socket's number picks (Fibonacci hashing, so that consecutive numbers
// land far apart), on average interval.
func quietAfter(fd int, interval time.Duration) int64 {
	hi, _ := bits.Mul64(uint64(interval/2), uint64(fd)*0x9E3779B97F4A7C15)
	return int64(interval)*3/4 + int64(hi)
}
