package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/bench/servers"
	"github.com/wssd/wssd/internal/certstore"
)

// run is one benchmark run in progress.
type run struct {
	cfg               Config
	bin, out          string
	certFile, keyFile string
	log               io.Writer
	res               *Results
	step              string // the scenario running
	round             int    // of a repeated scenario, from 0

	// Idle servers stand idle until Config.IdleHold on their own
	// goroutines, at most Config.IdleHolds at once, while the next ones
	// open their connections.
	holds     sync.WaitGroup
	holdSlots chan struct{}
	mu        sync.Mutex // guards res.Problems and idleRows while holds run
	idleRows  []*IdleRow // in the order the rows started; nil until done or failed

	// notCompressed lists what broke ErrNotCompressed, which Run returns
	// after the whole run.
	notCompressed []error
}

// Run measures every server in cfg through every scenario, with benchd
// and loadgen from bin, writing profiles under out. Progress goes to log.
// A server that fails a scenario is recorded in Results.Problems and the
// run goes on.
func Run(ctx context.Context, cfg Config, mode, bin, out string, log io.Writer) (*Results, error) {
	r := &run{cfg: cfg, bin: bin, out: out, log: &lockedWriter{w: log}, holdSlots: make(chan struct{}, max(1, cfg.IdleHolds))}
	r.res = &Results{Machine: machine(cfg.GOGC), Mode: mode, Config: cfg, Started: time.Now().UTC()}
	dir, err := os.MkdirTemp("", "wssd-bench-pki-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	certPEM, keyPEM, err := certstore.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	r.certFile, r.keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(r.certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	steps := []struct {
		name   string
		f      func(context.Context, servers.Info, string) error
		rounds int
	}{
		{"connect", r.connect, 1},
		{"idle", r.idle, 1},
		{"echo", r.echo, max(1, cfg.EchoRepeat)},
		{"latency", r.latency, 1},
		{"broadcast", r.broadcast, 1},
		{"echo-deflate", r.echoDeflate, max(1, cfg.EchoRepeat)},
		{"idle-deflate", r.idleDeflate, 1},
		{"broadcast-deflate", r.broadcastDeflate, 1},
		{"push-idle", r.idle, 1},
		{"push-fanout", r.pushFanout, 1},
		{"push-latency", r.pushLatency, 1},
	}
	for _, name := range cfg.Servers {
		if _, ok := servers.Lookup(name); !ok {
			return nil, fmt.Errorf("runner: unknown server %q", name)
		}
	}
	for _, st := range steps {
		if !cfg.has(st.name) {
			continue
		}
		r.step = st.name
		for r.round = range st.rounds {
			for _, name := range cfg.Servers {
				info, _ := servers.Lookup(name)
				for _, tr := range cfg.Transports {
					if !applies(st.name, info, tr) {
						continue
					}
					if ctx.Err() != nil {
						return r.res, ctx.Err()
					}
					if st.rounds > 1 {
						r.logf("%s %s %s (round %d of %d)", st.name, name, tr, r.round+1, st.rounds)
					} else {
						r.logf("%s %s %s", st.name, name, tr)
					}
					if err := st.f(ctx, info, tr); err != nil {
						r.problem("%s %s %s: %v", st.name, name, tr, err)
					}
				}
			}
		}
		if st.name == "idle" || st.name == "idle-deflate" || st.name == "push-idle" {
			r.holds.Wait()
			dst := &r.res.Idle
			switch st.name {
			case "idle-deflate":
				dst = &r.res.DeflateIdle
			case "push-idle":
				dst = &r.res.PushIdle
			}
			for _, row := range r.idleRows {
				if row != nil {
					*dst = append(*dst, *row)
				}
			}
			r.idleRows = nil
		}
	}
	r.res.Echo = medianEcho(r.res.Echo)
	r.res.DeflateEcho = medianEcho(r.res.DeflateEcho)
	if cfg.has("scale") && slices.Contains(cfg.Servers, "wssd") {
		r.logf("scale wssd wss, target %d", cfg.ScaleTarget)
		if err := r.scale(ctx); err != nil {
			r.problem("scale: %v", err)
		}
	}
	if slices.Contains(cfg.Servers, "push") {
		r.pushCluster(ctx)
	}
	r.res.Finished = time.Now().UTC()
	if len(r.notCompressed) > 0 {
		return r.res, errors.Join(r.notCompressed...)
	}
	return r.res, nil
}

// applies says whether a server takes part in a scenario over a transport.
func applies(scenario string, s servers.Info, transport string) bool {
	if transport == "wss" && !s.TLS || transport == "ws" && s.Front {
		return false
	}
	switch scenario {
	case "echo-deflate": // wssd and the peers the issue names, each compressing
		return s.Compression
	case "idle-deflate", "broadcast-deflate":
		return s.Name == "wssd"
	case "push-idle": // the push server beside the engine, both measured alike
		return s.Push || s.Name == "wssd"
	case "push-fanout": // beside the engine's broadcast and the raw TCP ceiling
		return s.Push || s.Name == "wssd" || s.Name == "gnet-echo"
	case "push-latency":
		return s.Push
	}
	if s.Push {
		return false
	}
	switch s.Name {
	case "gnet-echo": // raw TCP: the ws ceiling for connect, echo, broadcast and idle memory
		return scenario == "connect" || scenario == "echo" || scenario == "idle" || scenario == "broadcast"
	case "tls-loop": // the wss handshake ceiling
		return scenario == "connect" && transport == "wss"
	}
	return s.WebSocket
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "benchrun: "+format+"\n", args...)
}

func (r *run) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.logf("PROBLEM %s", msg)
	r.mu.Lock()
	r.res.Problems = append(r.res.Problems, msg)
	r.mu.Unlock()
}

func protoOf(s servers.Info) load.Proto {
	switch s.Name {
	case "gnet-echo":
		return load.Raw
	case "tls-loop":
		return load.Handshake
	}
	switch {
	case s.Name == "centrifugo":
		return load.Centrifugo
	case s.Push:
		return load.Pusher
	}
	return load.WebSocket
}

func latency(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9), Max: h.Max()}
}

// cpuMeter measures processes' CPU time over an interval, in cores.
type cpuMeter struct {
	pids  []int
	start time.Time
	cpu   time.Duration
}

func meterCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: time.Now()}
	for _, p := range pids {
		m.cpu += procCPU(p)
	}
	return m
}

// cores is the CPU time the processes took since meterCPU, per second.
func (m *cpuMeter) cores() float64 {
	return m.seconds() / time.Since(m.start).Seconds()
}

// seconds is the CPU time the processes took since meterCPU. A process
// that ended meanwhile no longer counts.
func (m *cpuMeter) seconds() float64 {
	var cpu time.Duration
	for _, p := range m.pids {
		cpu += procCPU(p)
	}
	return (cpu - m.cpu).Seconds()
}

func (r *run) connect(ctx context.Context, info servers.Info, tr string) error {
	s, sp, err := r.target(ctx, info, tr, deflateNone)
	if err != nil {
		return err
	}
	defer s.stop()
	n := r.cfg.ConnectN
	if tr == "wss" {
		n /= 4
	}
	m := meterCPU(s.pids()...)
	res, err := r.churn(ctx, sp, n, 2, r.cfg.ConnectDuration)
	serverCPU := m.cores()
	if err != nil {
		return err
	}
	row := ConnectRow{Key: Key{info.Name, tr}, Conns: res.Conns, Failed: res.Failed, Seconds: res.Seconds,
		Latency: latency(res.Lat.Decode()), ServerCPU: serverCPU, LastError: res.LastError}
	if res.Seconds > 0 {
		row.PerSecond = float64(res.Conns) / res.Seconds
		row.ClientCPU = res.CPUSeconds / res.Seconds
	}
	if serverCPU > 0 {
		row.PerServerCPUSecond = row.PerSecond / serverCPU
	}
	r.res.Connect = append(r.res.Connect, row)
	r.logf("  %.0f/s p50 %dµs p99 %dµs, %d failed", row.PerSecond, row.Latency.P50, row.Latency.P99, row.Failed)
	if res.Conns == 0 {
		return fmt.Errorf("no connection completed: %s", res.LastError)
	}
	return nil
}

func (r *run) idle(ctx context.Context, info servers.Info, tr string) error {
	return r.idleWith(ctx, info, tr, deflateNone)
}

// idleWith opens the connections and reads the server's RSS right after,
// then leaves the server standing idle, to read it again at
// Config.IdleHold, on a goroutine of r.holds. Unless d is deflateNone,
// each connection first subscribes (loadgen's subscribe: one small
// message, compressed under deflateOn, and its echo).
func (r *run) idleWith(ctx context.Context, info servers.Info, tr string, d deflate) error {
	r.holdSlots <- struct{}{}
	release := func() { <-r.holdSlots }
	s, sp, err := r.target(ctx, info, tr, d)
	if err != nil {
		release()
		return err
	}
	fail := func(err error) error {
		s.stop()
		release()
		return err
	}
	time.Sleep(300 * time.Millisecond)
	base := s.rss()
	st0, err := s.stats()
	if err != nil {
		return fail(err)
	}
	// The live heap is read in the permessage-deflate and push rows.
	live := (d != deflateNone || r.step == "push-idle") && !s.noStats
	var live0 uint64
	if live {
		if live0, err = s.liveHeap(); err != nil {
			return fail(err)
		}
	}
	clients, open, err := r.openClients(ctx, sp, r.cfg.IdleN)
	if err != nil {
		return fail(err)
	}
	var stats *DeflateStats
	if d != deflateNone {
		if stats, err = subscribe(clients, d, open); err != nil {
			closeClients(clients)
			return fail(err)
		}
		r.checkDeflate("idle-deflate", Key{info.Name, tr}, stats, open.Conns)
	}
	channels := 0
	if info.Push {
		channels = max(1, r.cfg.IdleN/max(1, r.cfg.PushSubsPerChannel))
		if err := pusherSubscribe(clients, r.cfg.IdleN, channels); err != nil {
			closeClients(clients)
			return fail(err)
		}
	}
	opened := time.Now()
	r.mu.Lock()
	slot := len(r.idleRows)
	r.idleRows = append(r.idleRows, nil)
	r.mu.Unlock()
	row := &IdleRow{Key: Key{info.Name, tr}, Conns: open.Conns, Failed: open.Failed, SetupSeconds: open.Seconds, RSSBase: base, Deflate: stats, Channels: channels}
	step := r.step
	r.holds.Go(func() {
		defer release()
		defer s.stop()
		defer closeClients(clients)
		if err := r.holdIdle(ctx, s, clients, opened, row, st0, live, live0); err != nil {
			r.problem("%s %s %s%s: %v", step, info.Name, tr, d.suffix(), err)
			if row.Alive == 0 {
				return
			}
		}
		r.mu.Lock()
		r.idleRows[slot] = row
		r.mu.Unlock()
	})
	return nil
}

// holdIdle reads s's RSS at Config.IdleSettle and Config.IdleHold after
// opened, when the last connection opened, and fills in row; with
// readLive (the permessage-deflate and push rows), also the live heap
// after a collection, less live0, the same before any connection.
func (r *run) holdIdle(ctx context.Context, s *server, clients []*client, opened time.Time, row *IdleRow, st0 serverStats, readLive bool, live0 uint64) error {
	sample := func() RSSSample {
		return RSSSample{AfterSeconds: time.Since(opened).Seconds(), RSS: s.rss()}
	}
	sleep(ctx, time.Until(opened.Add(r.cfg.IdleSettle)))
	settled := sample()
	m := meterCPU(s.pids()...)
	sleep(ctx, time.Until(opened.Add(r.cfg.IdleHold)))
	row.IdleCPU = m.cores()
	end := sample()
	row.RSS = end.RSS
	st, err := s.stats()
	if err != nil {
		return err
	}
	row.Goroutines = st.Goroutines
	var live uint64
	if readLive { // after every other reading: it collects
		if live, err = s.liveHeap(); err != nil {
			return err
		}
	}
	stats, err := broadcastCommand(clients, "stats")
	if err != nil {
		return err
	}
	var clientRSS int64
	for i, c := range clients {
		row.Alive += stats[i].Conns
		clientRSS += procRSS(c.cmd.Process.Pid)
	}
	if row.Alive > 0 {
		for _, x := range []RSSSample{settled, end} {
			x.PerConn = float64(x.RSS) / float64(row.Alive)
			row.RSSSamples = append(row.RSSSamples, x)
		}
		row.RSSPerConn = float64(row.RSS-row.RSSBase) / float64(row.Alive)
		row.HeapPerConn = float64(int64(st.HeapInuse+st.StackInuse)-int64(st0.HeapInuse+st0.StackInuse)) / float64(row.Alive)
		row.ClientRSSPerConn = float64(clientRSS) / float64(row.Alive)
		if readLive {
			row.LiveHeapPerConn = float64(int64(live)-int64(live0)) / float64(row.Alive)
		}
	}
	r.logf("  idle %s %s%s: %d conns (%d alive), RSS per conn %s at +%.0fs, %s at +%.0fs; %d goroutines, %.3f cores idle",
		row.Server, row.Transport, row.Deflate.suffix(), row.Conns, row.Alive, perConnKB(settled.RSS, row.Alive), settled.AfterSeconds,
		perConnKB(end.RSS, row.Alive), end.AfterSeconds, row.Goroutines, row.IdleCPU)
	if row.Alive < row.Conns {
		return fmt.Errorf("%d of %d connections dropped while idle", row.Conns-row.Alive, row.Conns)
	}
	return nil
}

func perConnKB(rss int64, n int) string {
	return fmt.Sprintf("%.2f KB", float64(rss)/float64(max(n, 1))/1000)
}

// hold starts the server and n connections to it, each with a read buffer
// of rbuf bytes (0: loadgen's default), using permessage-deflate as d says,
// and lets the servers' handshake goroutines finish. done closes the
// connections and stops the server.
func (r *run) hold(ctx context.Context, info servers.Info, tr string, n, rbuf int, d deflate) (s *server, clients []*client, open load.Result, done func(), err error) {
	s, sp, err := r.target(ctx, info, tr, d)
	if err != nil {
		return nil, nil, open, nil, err
	}
	sp.rbuf = rbuf
	if clients, open, err = r.openClients(ctx, sp, n); err != nil {
		s.stop()
		return nil, nil, open, nil, err
	}
	time.Sleep(300 * time.Millisecond)
	return s, clients, open, func() { closeClients(clients); s.stop() }, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (r *run) echo(ctx context.Context, info servers.Info, tr string) error {
	s, clients, _, done, err := r.hold(ctx, info, tr, r.cfg.EchoConns, 16<<10, deflateNone)
	if err != nil {
		return err
	}
	defer done()
	var problems []error
	for _, size := range r.cfg.EchoSizes {
		prof := r.profileEcho(info, s, fmt.Sprintf("profiles/wssd-%s-echo-%d.pprof", tr, size))
		m := meterCPU(s.pids()...)
		res, err := broadcastCommand(clients, fmt.Sprintf("echo %d %s", size, r.cfg.EchoDuration))
		serverCPU := m.cores()
		prof()
		if err != nil {
			return err
		}
		row := r.echoRow(info, tr, size, serverCPU, res)
		r.res.Echo = append(r.res.Echo, row)
		if row.Msgs == 0 {
			problems = append(problems, fmt.Errorf("%d B: no message came back", size))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%v", problems)
	}
	return nil
}

// profileEcho starts a CPU profile of wssd into file for an echo of the
// first round, when the run takes profiles; the returned function waits
// for it.
func (r *run) profileEcho(info servers.Info, s *server, file string) (wait func()) {
	var prof sync.WaitGroup
	if r.cfg.Profile && info.Name == "wssd" && r.round == 0 {
		prof.Go(func() {
			if err := os.MkdirAll(filepath.Join(r.out, "profiles"), 0o755); err != nil {
				return
			}
			if err := s.profile(r.cfg.EchoDuration, filepath.Join(r.out, file)); err != nil {
				r.problem("profile %s: %v", file, err)
				return
			}
			r.mu.Lock()
			r.res.Profiles = append(r.res.Profiles, file)
			r.mu.Unlock()
		})
	}
	return prof.Wait
}

// echoRow is the row of an echo command's results res, and logs it.
func (r *run) echoRow(info servers.Info, tr string, size int, serverCPU float64, res []load.Result) EchoRow {
	total, h := merge(res)
	row := EchoRow{Key: Key{info.Name, tr}, Size: size, ServerCPU: serverCPU, Conns: total.Conns, Msgs: total.Msgs,
		Errors: total.Errors, Latency: latency(h)}
	if total.Seconds > 0 {
		row.PerSecond = float64(row.Msgs) / total.Seconds
		row.ClientCPU = total.CPUSeconds / total.Seconds
	}
	if serverCPU > 0 {
		row.PerServerCPUSecond = row.PerSecond / serverCPU
	}
	r.logf("  %6d B: %.0f msg/s p50 %dµs p99 %dµs p999 %dµs, server %.2f cores, client %.2f", size, row.PerSecond,
		row.Latency.P50, row.Latency.P99, row.Latency.P999, row.ServerCPU, row.ClientCPU)
	return row
}

// latency offers every server the same fixed rate, well below what any of
// them can do, and reads the latency percentiles: what a user sees from a
// server that is not saturated.
func (r *run) latency(ctx context.Context, info servers.Info, tr string) error {
	s, clients, open, done, err := r.hold(ctx, info, tr, r.cfg.LatencyConns, 0, deflateNone)
	if err != nil {
		return err
	}
	defer done()
	m := meterCPU(s.pids()...)
	perClient := float64(r.cfg.LatencyRate) / float64(len(clients))
	res, err := broadcastCommand(clients, fmt.Sprintf("rate %g %d %s %s", perClient, r.cfg.LatencySize, r.cfg.LatencyDuration, 5*time.Second))
	serverCPU := m.cores()
	if err != nil {
		return err
	}
	total, h := merge(res)
	row := LatencyRow{Key: Key{info.Name, tr}, Conns: open.Conns, Size: r.cfg.LatencySize, Rate: r.cfg.LatencyRate, ServerCPU: serverCPU,
		Sent: total.Sent, Received: total.Msgs, Latency: latency(h)}
	if total.Seconds > 0 {
		row.PerSecond = float64(row.Received) / total.Seconds
		row.ClientCPU = total.CPUSeconds / total.Seconds
	}
	r.res.Latency = append(r.res.Latency, row)
	r.logf("  %d/s offered, %.0f/s answered: p50 %dµs p99 %dµs p999 %dµs max %dµs, server %.2f cores", row.Rate, row.PerSecond,
		row.Latency.P50, row.Latency.P99, row.Latency.P999, row.Latency.Max, row.ServerCPU)
	if row.Received < row.Sent {
		return fmt.Errorf("%d of %d messages not answered", row.Sent-row.Received, row.Sent)
	}
	return nil
}

// medianEcho keeps, of the rounds of each server, transport and size, the
// median one by messages per second, with every round's figures beside it
// and the median of the per-CPU-second figures.
func medianEcho(rows []EchoRow) []EchoRow {
	type key struct {
		Key
		size    int
		offered bool // permessage-deflate
	}
	var order []key
	groups := map[key][]EchoRow{}
	for _, r := range rows {
		k := key{r.Key, r.Size, r.Deflate != nil && r.Deflate.Offered}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]EchoRow, 0, len(order))
	for _, k := range order {
		g := groups[k]
		if len(g) == 1 {
			out = append(out, g[0])
			continue
		}
		rates := make([]float64, len(g))
		perCPU := make([]float64, len(g))
		for i, r := range g {
			rates[i], perCPU[i] = r.PerSecond, r.PerServerCPUSecond
		}
		slices.SortFunc(g, func(a, b EchoRow) int { return cmp.Compare(a.PerSecond, b.PerSecond) })
		m := g[(len(g)-1)/2]
		m.Runs, m.PerServerCPUSecondRuns = rates, slices.Clone(perCPU)
		slices.Sort(perCPU)
		m.PerServerCPUSecond = perCPU[(len(perCPU)-1)/2]
		out = append(out, m)
	}
	return out
}

func (r *run) broadcast(ctx context.Context, info servers.Info, tr string) error {
	row, err := r.broadcastWith(ctx, info, tr, deflateNone, r.cfg.BroadcastSize, r.cfg.BroadcastN, r.cfg.BroadcastRounds)
	if row != nil {
		r.res.Broadcast = append(r.res.Broadcast, *row)
	}
	return err
}

// broadcastWith measures rounds broadcasts of size bytes to n connections,
// using permessage-deflate as d says; unless d is deflateNone, the
// messages are JSON chat, and the row says how compression went. The row
// is nil when nothing was measured.
func (r *run) broadcastWith(ctx context.Context, info servers.Info, tr string, d deflate, size, n, rounds int) (*BroadcastRow, error) {
	s, clients, open, done, err := r.hold(ctx, info, tr, n, 0, d)
	if err != nil {
		return nil, err
	}
	defer done()
	send := fmt.Sprintf("send %d %d %s", rounds, size, r.cfg.BroadcastInterval)
	if d != deflateNone {
		send += " chat"
	}
	return r.timeBroadcast(s, clients, open, Key{info.Name, tr}, d, rounds, send)
}

// timeBroadcast arms clients for rounds messages, has the first one send
// them with the loadgen command send, and collects the row.
func (r *run) timeBroadcast(s *server, clients []*client, open load.Result, key Key, d deflate, rounds int, send string) (*BroadcastRow, error) {
	if _, err := broadcastCommand(clients, fmt.Sprintf("arm %d", rounds)); err != nil {
		return nil, err
	}
	m := meterCPU(s.pids()...)
	if res, err := clients[0].command(send); err != nil || res.LastError != "" {
		return nil, errors.Join(err, errorOf(res.LastError))
	}
	res, err := broadcastCommand(clients, "collect 30s")
	serverCPU := m.cores()
	if err != nil {
		return nil, err
	}
	row := BroadcastRow{Key: key, Conns: open.Conns, Rounds: rounds, ServerCPU: serverCPU,
		Expected: int64(open.Conns) * int64(rounds)}
	total, h := merge(res)
	row.Delivered, row.Latency = total.Msgs, latency(h)
	if total.Seconds > 0 {
		row.ClientCPU = total.CPUSeconds / total.Seconds
	}
	perRound := make([]int64, rounds)
	for _, x := range res {
		for i, v := range x.RoundMaxNs {
			if i < rounds {
				perRound[i] = max(perRound[i], v)
			}
		}
	}
	sort.Slice(perRound, func(i, j int) bool { return perRound[i] < perRound[j] })
	row.TimeToLastMedianUs = perRound[len(perRound)/2] / 1000
	row.TimeToLastP99Us = perRound[(len(perRound)*99+99)/100-1] / 1000 // nearest rank
	row.TimeToLastMaxUs = perRound[len(perRound)-1] / 1000
	if d != deflateNone {
		row.Deflate = &DeflateStats{Offered: d == deflateOn, Negotiated: open.Deflated, Received: total.Msgs, Compressed: total.Compressed}
	}
	r.logf("  %d conns%s: time to last median %dµs p99 %dµs max %dµs, arrivals p50 %dµs p99 %dµs, %d/%d delivered", row.Conns, d.suffix(),
		row.TimeToLastMedianUs, row.TimeToLastP99Us, row.TimeToLastMaxUs, row.Latency.P50, row.Latency.P99, row.Delivered, row.Expected)
	if row.Delivered < row.Expected {
		return &row, fmt.Errorf("%d of %d messages not delivered", row.Expected-row.Delivered, row.Expected)
	}
	return &row, nil
}

// errorOf is a loadgen's LastError as an error, nil if empty.
func errorOf(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

// lockedWriter serializes writes from the children's log copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
