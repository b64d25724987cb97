package engine

import (
	"context"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ResolveClientIP exposes client IP resolution to the tests: cfg's
// TrustedProxies, RealIPHeader and ProxyProtocol, the nearest hop and how it
// is known (SourcePeer, SourceProxyProtocol or SourceProxyUnknown).
func ResolveClientIP(cfg Config, hop netip.Addr, src IPSource, h http.Header) (netip.Addr, IPSource, error) {
	r, err := newRealIP(cfg.withDefaults())
	if err != nil {
		return netip.Addr{}, 0, err
	}
	a, s := r.clientIP(hop, src, h)
	return a, s, nil
}

// SourceProxyUnknown is the hop's source after a PROXY LOCAL or UNKNOWN header.
const SourceProxyUnknown = sourceProxyUnknown

// CheckOrigin exposes the Origin check: New's error for allowed, or the
// check's for h.
func CheckOrigin(allowed []string, h http.Header) (newErr, checkErr error) {
	p, err := newOriginPolicy(allowed)
	if err != nil {
		return err, nil
	}
	return nil, p.check(h)
}

// ProxyHeaderLength and ParseProxyHeader expose the PROXY protocol stage.
var (
	ProxyHeaderLength = proxyHeaderLength
	ParseProxyHeader  = parseProxyHeader
)

// Resurrections returns how many lifecycle bugs the server caught at run
// time: moves out of the closed state, socket calls on a closed connection.
func (s *Server) Resurrections() int64 { return s.resurrections.Load() }

// FirstViolation returns the stack where the first of them was caught.
func (s *Server) FirstViolation() string {
	v, _ := s.firstViolation.Load().(string)
	return v
}

// Conns returns the number of connections the server holds, upgraded or not.
func (s *Server) Conns() int64 { return s.conns.Load() }

// FaultKind is a kind of socket operation InjectFault can fail.
type FaultKind = faultOp

// Fault kinds for InjectFault.
const (
	FaultWrite   = opWrite
	FaultRead    = opRead
	FaultExecute = opExecute
	FaultAccept  = opAccept
)

// InjectFault makes the n-th operation of kind op on the server, counted
// from 1 from the first call of InjectFault, fail with errno.
func (s *Server) InjectFault(op faultOp, n int, errno syscall.Errno) {
	f := s.faults.Load()
	if f == nil {
		f = &faults{}
		if !s.faults.CompareAndSwap(nil, f) {
			f = s.faults.Load()
		}
	}
	f.inject(op, n, n, errno)
}

// OnLoop runs f on c's event loop and waits for it.
func OnLoop(c *Conn, f func()) {
	done := make(chan struct{})
	err := c.loop.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		defer close(done)
		f()
		return nil
	}))
	if err != nil {
		panic(err)
	}
	<-done
}

// Pending returns the bytes queued for c, its own and gnet's, as of the last
// flush. Call it on c's loop.
func Pending(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pendingLocked()
}

// InputCap returns the capacity of c's input buffer. Call it on c's loop.
func InputCap(c *Conn) int {
	if c.in == nil {
		return 0
	}
	return cap(c.in.B)
}

// WithFault returns cfg with a fault injected from the start: operations
// of kind op numbered from to to (to 0: every one from on), counted from 1,
// fail with errno. Accepts need it: the first one waits before Start returns.
func WithFault(cfg Config, op faultOp, from, to int, errno syscall.Errno) Config {
	if cfg.faults == nil {
		cfg.faults = &faults{}
	}
	cfg.faults.inject(op, from, to, errno)
	return cfg
}

// PerIPKey exposes what MaxConnsPerIP counts a peer under.
func PerIPKey(trusted []netip.Prefix, peer netip.Addr) (netip.Addr, bool) {
	return perIPKey(realIP{trusted: trusted}, peer)
}

// CompressionHeld returns the bytes of compression state c holds between
// messages: its inflater's and its deflater's windows. Call it on c's loop.
func CompressionHeld(c *Conn) int {
	n := 0
	if c.parser.Inflater != nil {
		n += c.parser.Inflater.Held()
	}
	if c.deflater != nil {
		c.mu.Lock()
		n += c.deflater.Held()
		c.mu.Unlock()
	}
	return n
}

// ReadHTTPHead exposes the plain HTTP request head reader (http.go).
var ReadHTTPHead = readHTTPHead

// SweepBudget is how many connections a sweep slice acts on at most.
const SweepBudget = sweepActs

// SweepAt runs a whole round of c's loop's timer sweep by hand, every
// connection once, as if the time were at, and returns the number of
// slices it took.
func SweepAt(c *Conn, at time.Time) (slices int) {
	OnLoop(c, func() { slices = SweepOnLoop(c, at) })
	return slices
}

// SweepOnLoop is SweepAt for a caller already on c's loop (inside OnLoop).
func SweepOnLoop(c *Conn, at time.Time) (slices int) {
	l := c.loop
	l.next, l.quota = 0, len(l.conns)
	for slices = 1; !l.sweep(at.UnixNano()); slices++ {
	}
	return slices
}
