package soak

import (
	"fmt"
	"strconv"
	"time"
)

// Bounds say how far the server may drift from the baseline: the first
// sample after the connection storm settled, before the heartbeats, churn
// and hostile clients start. Final bounds apply to the last sample, taken
// after the hostile clients stopped and the echoes drained; peak bounds to
// every sample of the run.
type Bounds struct {
	// RSSGrowth and RSSSlack bound the final RSS to
	// base×(1+RSSGrowth)+RSSSlack: the heap goal at GOGC=50 already
	// leaves room for the garbage of reconnections, and the baseline holds
	// the storm's, so a steady server ends near its baseline; 25% catches
	// a leak of a quarter of a connection's memory per reconnect or
	// hostile client long before it runs a machine out of memory.
	RSSGrowth float64
	RSSSlack  int64
	// PeakRSSGrowth and PeakRSSSlack bound the RSS of every sample the
	// same way. The slack covers what hostile clients may legitimately
	// hold (a ping flood fills its send queue, MaxQueuedBytes).
	PeakRSSGrowth float64
	PeakRSSSlack  int64
	// HeapGrowth and HeapSlack bound the final live Go heap (what the last
	// GC found reachable) likewise. The heap in use would swing by half
	// between two GCs at GOGC=50 and hide a leak in the swing.
	HeapGrowth float64
	HeapSlack  int64
	// GoroutineSlack bounds the final goroutines to base+GoroutineSlack:
	// wssd keeps no goroutine per connection, so once the handshakes are
	// done the count returns to its baseline.
	GoroutineSlack int64
	// PeakGoroutines bounds every sample's goroutines to
	// base+PeakGoroutines: the TLS handshakes in flight (wssd bounds them
	// to 256 per CPU) and little more.
	PeakGoroutines int64
	// HostileInFlight is the most hostile clients that can be open at once
	// (the sum of the kinds' InFlight): every sample's open files may
	// exceed the baseline by it, by the honest connections above the
	// baseline's, and by FDSlack.
	HostileInFlight int64
	// FDSlack is the slack of the open files: connections the clients
	// closed and the server has not yet seen close, files the runtime
	// opens. The server's count of connections has no slack: after the
	// drain it must equal the honest connections open.
	FDSlack int64
}

// DefaultBounds returns the bounds for a server on cpus CPUs facing
// hostile clients at most hostileInFlight at a time, pingFloods of them
// flooding pings.
func DefaultBounds(cpus int, hostileInFlight, pingFloods int64) Bounds {
	return Bounds{
		RSSGrowth: 0.25, RSSSlack: 16 << 20,
		PeakRSSGrowth: 1, PeakRSSSlack: 64<<20 + pingFloods*8<<20,
		HeapGrowth: 0.25, HeapSlack: 8 << 20,
		GoroutineSlack:  16,
		PeakGoroutines:  256*int64(cpus) + 64,
		HostileInFlight: hostileInFlight,
		FDSlack:         32,
	}
}

// Check is one bounded figure: it holds if Got ≤ Limit.
type Check struct {
	Name  string
	Got   int64
	Limit int64
	// Bytes formats Got and Limit in MiB.
	Bytes bool
	// At is when the worst sample of a peak check was taken.
	At time.Duration
	// Note says more when the check fails.
	Note string
}

// OK says whether the check holds.
func (c Check) OK() bool { return c.Got <= c.Limit }

func (c Check) String() string {
	f := func(n int64) string { return strconv.FormatInt(n, 10) }
	if c.Bytes {
		f = mib
	}
	verdict := "ok  "
	if !c.OK() {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%s %-34s %14s  (limit %s)", verdict, c.Name, f(c.Got), f(c.Limit))
	if c.At != 0 {
		s += fmt.Sprintf(" at t=%v", c.At.Round(time.Second))
	}
	if !c.OK() && c.Note != "" {
		s += ": " + c.Note
	}
	return s
}

func grown(base int64, growth float64, slack int64) int64 {
	return int64(float64(base)*(1+growth)) + slack
}

// Checks applies b to a run of conns honest connections: base is the
// baseline, final the sample after the drain, samples every sample taken
// in between.
func (b Bounds) Checks(conns int, base, final Sample, samples []Sample) []Check {
	moreHonest := func(s Sample) int64 { return max(0, s.Honest.Open-base.Honest.Open) }
	checks := []Check{
		{Name: "final RSS", Got: final.RSS, Limit: grown(base.RSS, b.RSSGrowth, b.RSSSlack), Bytes: true,
			Note: "the server's memory grew during the soak"},
		{Name: "final live Go heap", Got: final.Server.HeapLive, Limit: grown(base.Server.HeapLive, b.HeapGrowth, b.HeapSlack), Bytes: true,
			Note: "the server's heap grew during the soak"},
		{Name: "final goroutines", Got: final.Server.Goroutines, Limit: base.Server.Goroutines + b.GoroutineSlack,
			Note: "goroutines leaked"},
		{Name: "final open files", Got: int64(final.FDs), Limit: int64(base.FDs) + moreHonest(final) + b.FDSlack,
			Note: "file descriptors leaked"},
		{Name: "final server connections", Got: final.Server.Conns, Limit: final.Honest.Open,
			Note: "the server holds connections no client holds (OnClose never ran)"},
		{Name: "honest messages lost", Got: final.Honest.Lost, Note: "echoes never came back"},
		{Name: "honest echoes corrupt or out of order", Got: final.Honest.Corrupt},
		{Name: "honest connections dropped", Got: final.Honest.Dropped, Note: "the server ended connections the clients kept"},
		{Name: "honest reconnections failed", Got: final.Honest.ConnectFails},
		{Name: "honest connections missing at the end", Got: int64(conns) - final.Honest.Open},
		{Name: "honest echoes unanswered", Got: final.Honest.Sent - final.Honest.Received - final.Honest.Corrupt - final.Honest.Lost,
			Note: "the counts do not add up"},
	}
	if final.Honest.Sent == 0 {
		checks = append(checks, Check{Name: "honest echoes sent", Got: 0, Limit: -1, Note: "no message flowed: the run proves nothing"})
	}
	peak := func(name string, bytes bool, got, limit func(Sample) int64) Check {
		c := Check{Name: name, Bytes: bytes, Limit: limit(base), Got: got(base)}
		for _, s := range samples {
			if g, l := got(s), limit(s); g-l > c.Got-c.Limit || c.At == 0 && g-l == c.Got-c.Limit {
				c.Got, c.Limit, c.At = g, l, s.At
			}
		}
		return c
	}
	checks = append(checks,
		peak("peak RSS", true, func(s Sample) int64 { return s.RSS },
			func(Sample) int64 { return grown(base.RSS, b.PeakRSSGrowth, b.PeakRSSSlack) }),
		peak("peak goroutines", false, func(s Sample) int64 { return s.Server.Goroutines },
			func(Sample) int64 { return base.Server.Goroutines + b.PeakGoroutines }),
		peak("peak open files", false, func(s Sample) int64 { return int64(s.FDs) },
			func(s Sample) int64 { return int64(base.FDs) + moreHonest(s) + b.HostileInFlight + b.FDSlack }),
	)
	return checks
}
