package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/internal/procstat"
)

// Config is one soak run. Zero fields take the defaults of a ten-minute
// run of 15,000 connections.
type Config struct {
	// WSSD is the wssd binary to run.
	WSSD string
	// TLS serves wss with a development certificate (-tls-dev).
	TLS bool
	// Conns honest connections are held for Duration after the baseline.
	Conns    int
	Duration time.Duration
	// Settle is the wait after the connections opened before the baseline.
	Settle time.Duration
	// SampleEvery is how often a sample is printed.
	SampleEvery time.Duration
	// EchoEvery is how often each honest connection sends a message.
	EchoEvery time.Duration
	// MsgSize is an echo message's size, up to 125 bytes.
	MsgSize int
	// ChurnPerMinute honest connections are closed and reopened a minute.
	ChurnPerMinute float64
	// PingInterval is wssd's -ping-interval.
	PingInterval time.Duration
	// Hostile holds each kind's limits; kinds not named are off. nil:
	// DefaultLimits.
	Hostile map[string]Limit
	// Hold is the longest a silent hostile client waits for the server to
	// close it.
	Hold time.Duration
	// Pings is how many pings a ping flood sends.
	Pings int
	// Bounds are checked at the end; nil: DefaultBounds.
	Bounds *Bounds
	// Sources is how many client source addresses (127.0.0.2 onwards) the
	// honest connections use; the hostile ones use one more.
	Sources int
	// GCWait is how long the baseline waits for a GC cycle of the server
	// after the connection storm, and the final sample for each of two
	// after the hostile clients stopped (a sync.Pool keeps what it held
	// through one), so that the live heap is current.
	GCWait time.Duration
	// Seed picks the churned connections.
	Seed uint64
	// Dir keeps the development certificate and wssd's log; empty: a new
	// temporary directory.
	Dir string
}

func (c *Config) defaults() error {
	if c.WSSD == "" {
		return errors.New("soak: no wssd binary")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Conns <= 0 {
		c.Conns = 15000
	}
	def(&c.Duration, 10*time.Minute)
	def(&c.Settle, 15*time.Second)
	def(&c.SampleEvery, 30*time.Second)
	def(&c.EchoEvery, 20*time.Second)
	def(&c.PingInterval, 10*time.Second)
	def(&c.Hold, 60*time.Second)
	def(&c.GCWait, 130*time.Second)
	if c.MsgSize <= 0 {
		c.MsgSize = 64
	}
	if c.MsgSize > 125 {
		return fmt.Errorf("soak: messages of %d bytes: the client checks at most 125", c.MsgSize)
	}
	if c.Pings <= 0 {
		c.Pings = 400000
	}
	if c.Sources <= 0 {
		c.Sources = max(1, (c.Conns+19999)/20000)
	}
	if c.Hostile == nil {
		c.Hostile = DefaultLimits(c.Duration)
	}
	return nil
}

// DefaultLimits returns every kind's default limits, their counts scaled
// to a run of d.
func DefaultLimits(d time.Duration) map[string]Limit {
	m := map[string]Limit{}
	for _, k := range Kinds {
		l := k.Default
		l.Count = max(1, int(float64(l.Count)*d.Seconds()/600))
		m[k.Name] = l
	}
	return m
}

// Result is what a run saw.
type Result struct {
	Base, Final Sample
	Samples     []Sample
	Checks      []Check
	// Hostile is each kind's summary.
	Hostile map[string]string
	// Notes are the first drops and corruptions the honest clients saw.
	Notes []string
	// ServerExit is wssd's exit after SIGTERM, nil if graceful.
	ServerExit error
	// Log is wssd's log file.
	Log string
}

// Failed returns the checks that do not hold, and the server's exit.
func (r *Result) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK() {
			out = append(out, c.String())
		}
	}
	if r.ServerExit != nil {
		out = append(out, "wssd's exit after SIGTERM: "+r.ServerExit.Error())
	}
	return out
}

// source returns the i-th client source address, 127.0.0.2 onwards.
func source(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, byte((i + 2) / 250), byte((i + 2) % 250)})
}

// Run runs a soak and writes its progress to w. It returns an error when
// the run could not take place; a run that took place and broke a bound
// returns its Result with failed checks.
func Run(ctx context.Context, cfg Config, w io.Writer) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	kinds := cfg.kinds()
	bounds := DefaultBoundsFor(cfg)
	if cfg.Bounds != nil {
		bounds = *cfg.Bounds
	}
	// Every client lives in this process, which Go lets open as many
	// files as the hard limit allows.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && int64(cfg.Conns)+bounds.HostileInFlight+64 > int64(lim.Cur) {
		return nil, fmt.Errorf("soak: %d honest and up to %d hostile connections need more files than this process may open (%d)",
			cfg.Conns, bounds.HostileInFlight, lim.Cur)
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "wssd-soak-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	const path = "/soak"
	args := []string{"-path", path, "-ping-interval", cfg.PingInterval.String()}
	if cfg.TLS {
		args = append(args, "-tls-dev", filepath.Join(dir, "tls"))
	}
	statsEvery := min(2*time.Second, cfg.SampleEvery/2)
	res := &Result{Log: filepath.Join(dir, "wssd.log"), Hostile: map[string]string{}}
	srv, err := startServer(ctx, cfg.WSSD, args, statsEvery, res.Log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if srv != nil {
			_ = srv.stop(time.Second)
		}
	}()
	scheme := "ws"
	if cfg.TLS {
		scheme = "wss"
	}
	fmt.Fprintf(w, "soak: wssd %s://%s%s (pid %d, log %s)\n", scheme, srv.addr, path, srv.cmd.Process.Pid, res.Log)

	ht := &load.Target{Addr: srv.addr, TLS: cfg.TLS, Path: path}
	for i := range cfg.Sources {
		ht.Sources = append(ht.Sources, source(i))
	}
	t0 := time.Now()
	honest, err := openHonest(ctx, ht, cfg.Conns, 64, cfg.MsgSize)
	if err != nil {
		return nil, err
	}
	defer honest.close()
	opened := time.Now()
	fmt.Fprintf(w, "soak: %d honest connections open in %v; echoing, settling for %v and a GC cycle of the server\n",
		cfg.Conns, opened.Sub(t0).Round(time.Millisecond), cfg.Settle)
	var wg sync.WaitGroup
	defer wg.Wait() // after the contexts below end
	echoCtx, stopEchoes := context.WithCancel(ctx)
	defer stopEchoes()
	wg.Go(func() { honest.echoes(echoCtx, cfg.EchoEvery) })

	sample := func(at time.Time, hostileInFlight int64) (Sample, error) {
		s := Sample{At: at.Sub(t0), Honest: honest.counts(), Hostile: hostileInFlight}
		var err error
		if s.RSS, err = procstat.RSS(srv.cmd.Process.Pid); err != nil {
			return s, err
		}
		if s.FDs, err = procFDs(srv.cmd.Process.Pid); err != nil {
			return s, err
		}
		s.Server, err = srv.statsAfter(at, 3*statsEvery+5*time.Second)
		return s, err
	}
	// The baseline's live heap must be measured after the storm: the
	// echoes go on until the server completes a GC cycle (Go forces one
	// every two minutes at the latest).
	atOpen, err := srv.statsAfter(opened, 3*statsEvery+5*time.Second)
	if err != nil {
		return nil, err
	}
	if !sleep(ctx, cfg.Settle) {
		return nil, ctx.Err()
	}
	if err := waitGC(srv, atOpen.GC, 1, cfg.GCWait); err != nil {
		if !errors.Is(err, errNoGC) {
			return nil, err
		}
		res.Notes = append(res.Notes, "baseline: "+err.Error())
	}
	t0 = time.Now()
	if res.Base, err = sample(t0, 0); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "soak: baseline %v\n", res.Base)

	he := &hostileEnv{
		t:    &load.Target{Addr: srv.addr, TLS: cfg.TLS, Path: path, Sources: []netip.Addr{source(cfg.Sources)}},
		hold: cfg.Hold, pings: cfg.Pings, pause: 5 * time.Second, dribble: time.Second,
	}
	if cfg.TLS {
		if he.hello, err = clientHello(); err != nil {
			return nil, err
		}
	}
	runCtx, stopRun := context.WithTimeout(ctx, cfg.Duration)
	defer stopRun()
	hostile, waitHostile := startHostile(runCtx, he, kinds, cfg.Hostile)
	wg.Go(func() { honest.churn(runCtx, cfg.ChurnPerMinute, cfg.Seed) })
	tick := time.NewTicker(cfg.SampleEvery)
	var runErr error
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-srv.exited:
			runErr = fmt.Errorf("%w (%v); its log: %s", errExited, srv.err, res.Log)
			break loop
		case now := <-tick.C:
			s, err := sample(now, hostile.inFlight())
			if err != nil {
				runErr = err
				break loop
			}
			res.Samples = append(res.Samples, s)
			fmt.Fprintf(w, "soak: %v\n", s)
		}
	}
	tick.Stop()
	stopRun()
	waitHostile()
	if runErr == nil {
		runErr = ctx.Err()
	}
	if runErr != nil {
		stopEchoes()
		return nil, runErr
	}
	for i, k := range hostile.kinds {
		res.Hostile[k.Name] = hostile.stats[i].summary()
	}

	// The drain. The hostile clients have stopped and the churn too; the
	// echoes go on until the server completes two GC cycles, so that its
	// live heap counts what the hostile clients left behind, not what
	// they held (Go forces a cycle every two minutes at the latest).
	stopped := time.Now()
	fmt.Fprintf(w, "soak: hostile clients and churn stopped at t=%v; waiting up to %v for two GC cycles of the server\n",
		stopped.Sub(t0).Round(time.Second), 2*cfg.GCWait)
	atStop, err := srv.statsAfter(stopped, 3*statsEvery+5*time.Second)
	if err != nil {
		return nil, err
	}
	// Two cycles: a sync.Pool keeps what it held through one.
	gcErr := waitGC(srv, atStop.GC, 2, 2*cfg.GCWait)
	if gcErr != nil && !errors.Is(gcErr, errNoGC) {
		return nil, gcErr
	}
	stopEchoes()
	// Echoes in flight come back, churned connections reopen.
	honest.drain(10 * time.Second)
	if res.Final, err = sample(time.Now(), hostile.inFlight()); err != nil {
		return nil, err
	}
	if gcErr != nil {
		res.Notes = append(res.Notes, "final: "+gcErr.Error())
	}
	res.Final.Honest = honest.finalCounts()
	res.Notes = append(res.Notes, honest.notes()...)
	fmt.Fprintf(w, "soak: final %v\n", res.Final)
	res.Checks = bounds.Checks(cfg.Conns, res.Base, res.Final, res.Samples)
	honest.close()
	res.ServerExit = srv.stop(15 * time.Second)
	srv = nil
	return res, nil
}

// kinds returns the hostile kinds that apply to the transport.
func (c *Config) kinds() []Kind {
	var out []Kind
	for _, k := range Kinds {
		if !k.TLSOnly || c.TLS {
			out = append(out, k)
		}
	}
	return out
}

// DefaultBoundsFor returns DefaultBounds for the machine's CPUs and cfg's
// hostile clients.
func DefaultBoundsFor(cfg Config) Bounds {
	var inFlight, floods int64
	for _, k := range cfg.kinds() {
		if l := cfg.Hostile[k.Name]; l.Count > 0 && l.Rate > 0 {
			inFlight += int64(max(1, l.InFlight))
			if k.Name == "pingflood" {
				floods = int64(max(1, l.InFlight))
			}
		}
	}
	return DefaultBounds(runtime.NumCPU(), inFlight, floods)
}

var errNoGC = errors.New("soak: the server ran too few GC cycles in time: its live heap may be out of date")

// waitGC waits up to timeout for the server to complete cycles GC cycles
// after its gc-th; errNoGC says it did not.
func waitGC(srv *server, gc, cycles int64, timeout time.Duration) error {
	_, err := srv.waitStats(func(st ServerStats, _ time.Time) bool { return st.GC >= gc+cycles }, timeout)
	if err != nil && !errors.Is(err, errExited) {
		return errNoGC
	}
	return err
}

// sleep waits d or until ctx ends, and says whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Report writes the checks, the hostile clients' outcomes and the verdict.
func (r *Result) Report(w io.Writer) {
	fmt.Fprintln(w, "soak: hostile clients")
	for _, k := range Kinds {
		if s, ok := r.Hostile[k.Name]; ok {
			fmt.Fprintf(w, "  %-12s %s\n", k.Name, s)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "soak: what the honest clients saw first")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	fmt.Fprintln(w, "soak: checks against the baseline")
	for _, c := range r.Checks {
		fmt.Fprintln(w, "  "+c.String())
	}
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "soak: FAIL: %d of the bounds broken (wssd's log: %s)\n", len(failed), r.Log)
		for _, f := range failed {
			fmt.Fprintln(w, "  "+f)
		}
		return
	}
	fmt.Fprintln(w, "soak: PASS")
}
