package engine

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// admission decides, in the acceptor and before a connection reaches an
// event loop, whether it is served: MaxConns, MaxConnsPerIP and AcceptRate.
// Its methods are safe for concurrent use.
type admission struct {
	srv     *Server
	perIP   map[netip.Addr]int32 // open connections per client key; nil without MaxConnsPerIP
	perIPMu sync.Mutex
	limiter *rate.Limiter // nil without AcceptRate
	log     admissionLog
}

func (a *admission) init(s *Server) {
	a.srv = s
	if s.cfg.MaxConnsPerIP > 0 {
		a.perIP = make(map[netip.Addr]int32)
	}
	if s.cfg.AcceptRate > 0 {
		a.limiter = rate.NewLimiter(rate.Limit(s.cfg.AcceptRate), s.cfg.AcceptBurst)
	}
	a.log.init(s)
}

// take counts a connection from peer as open, or says why it is refused.
// Every take that returns refusedNone is matched by one release.
func (a *admission) take(peer netip.Addr) refusal {
	s := a.srv
	if s.conns.Add(1) > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		return refusedMaxConns
	}
	if a.perIP != nil {
		if k, ok := a.perIPKey(peer); ok {
			a.perIPMu.Lock()
			n := a.perIP[k]
			if int(n) >= s.cfg.MaxConnsPerIP {
				a.perIPMu.Unlock()
				s.conns.Add(-1)
				return refusedPerIP
			}
			a.perIP[k] = n + 1
			a.perIPMu.Unlock()
		}
	}
	return refusedNone
}

// release undoes a take, when the connection closes or never reached a
// loop.
func (a *admission) release(peer netip.Addr) {
	if a.perIP != nil {
		if k, ok := a.perIPKey(peer); ok {
			a.perIPMu.Lock()
			if n := a.perIP[k] - 1; n > 0 {
				a.perIP[k] = n
			} else {
				delete(a.perIP, k)
			}
			a.perIPMu.Unlock()
		}
	}
	a.srv.conns.Add(-1)
}

func (a *admission) perIPKey(peer netip.Addr) (netip.Addr, bool) {
	return perIPKey(a.srv.trusted, peer)
}

// perIPKey is what MaxConnsPerIP counts peer under: the IPv4 address, or
// the /64 of an IPv6 address (the smallest network a site is given, so
// one client holds a whole /64). Trusted proxies carry many clients and
// are not counted.
func perIPKey(trusted realIP, peer netip.Addr) (netip.Addr, bool) {
	if trusted.contains(peer) {
		return netip.Addr{}, false
	}
	if peer.Is6() {
		p, _ := peer.Prefix(64)
		return p.Addr(), true
	}
	return peer, true
}

// wait holds an accepted connection back until AcceptRate allows it; the
// connections behind it wait in the kernel's accept queue. It returns
// false if ctx ends first.
func (a *admission) wait(ctx context.Context) bool {
	if a.limiter == nil || a.limiter.Allow() {
		return true
	}
	a.log.add(refusedThrottled, nil)
	return a.limiter.Wait(ctx) == nil
}

// refusal is why the acceptor did not serve a connection, or delayed it.
type refusal uint8

const (
	refusedNone      refusal = iota
	refusedMaxConns          // MaxConns connections are open
	refusedPerIP             // the peer has MaxConnsPerIP open
	refusedThrottled         // delayed, not refused: AcceptRate reached
	refusedNoFiles           // EMFILE, ENFILE: the connection is accepted and closed
	refusedNoMemory          // ENOMEM, ENOBUFS: the acceptor backs off
	refusedError             // any other failure of accept or of the hand-over to a loop
	numRefusals
)

// admissionLog logs the acceptor's refusals through the server's refusal
// log: at most one line a second per reason, with a count.
type admissionLog struct {
	srv  *Server
	msgs [numRefusals]refusalMsg
}

type refusalMsg struct {
	level slog.Level
	msg   string
	attr  slog.Attr
}

func (l *admissionLog) init(s *Server) {
	l.srv = s
	l.msgs = [numRefusals]refusalMsg{
		refusedMaxConns:  {slog.LevelWarn, "connections refused: MaxConns reached", slog.Int("max_conns", s.cfg.MaxConns)},
		refusedPerIP:     {slog.LevelWarn, "connections refused: MaxConnsPerIP reached", slog.Int("max_conns_per_ip", s.cfg.MaxConnsPerIP)},
		refusedThrottled: {slog.LevelInfo, "connections delayed: AcceptRate reached", slog.Float64("accept_rate", s.cfg.AcceptRate)},
		refusedNoFiles:   {slog.LevelWarn, "connections refused: out of file descriptors", slog.Int("max_conns", s.cfg.MaxConns)},
		refusedNoMemory:  {slog.LevelWarn, "accept failed: out of kernel memory, backing off", slog.Attr{}},
		refusedError:     {slog.LevelWarn, "accept failed", slog.Attr{}},
	}
}

// add counts a refusal for why, with the error behind it if any.
func (l *admissionLog) add(why refusal, err error) {
	switch c := &l.srv.counts; why {
	case refusedMaxConns:
		l.srv.refuse(RefusedMaxConns)
	case refusedPerIP:
		l.srv.refuse(RefusedPerIP)
	case refusedNoFiles:
		l.srv.refuse(RefusedNoFiles)
	case refusedThrottled:
		c.delayed.Add(1)
	default:
		c.acceptErrors.Add(1)
	}
	m := &l.msgs[why]
	attrs := make([]slog.Attr, 0, 2)
	if m.attr.Key != "" {
		attrs = append(attrs, m.attr)
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	l.srv.refusals.note(time.Now(), refusalKind{level: m.level, msg: m.msg}, attrs...)
}
