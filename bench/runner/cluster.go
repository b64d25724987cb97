package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/bench/servers"
)

// The cluster scenarios run the wssd binary's push mode with -procs
// (startWssd), over wss only: push-scale, push-cluster-fanout and
// push-cluster-cost.

// pushCluster runs the cluster scenarios the run has: push-scale, and on
// its connections the workers' part of push-cluster-fanout; then the
// single process's part of push-cluster-fanout; then push-cluster-cost.
func (r *run) pushCluster(ctx context.Context) {
	c := r.cfg
	if c.has("push-scale") || c.has("push-cluster-fanout") {
		r.step = "push-scale"
		r.logf("push-scale wssd -procs %d wss, target %d", r.scaleProcs(), c.PushScaleTarget)
		if err := r.pushScale(ctx); err != nil {
			r.problem("push-scale: %v", err)
		}
	}
	if c.has("push-cluster-fanout") && ctx.Err() == nil {
		r.step = "push-cluster-fanout"
		n := min(c.PushScaleTarget, c.ConnsPerServer)
		r.logf("push-cluster-fanout wssd -procs 1 wss, %d subscribers", n)
		if err := r.fanoutOne(ctx, n); err != nil {
			r.problem("push-cluster-fanout -procs 1: %v", err)
		}
	}
	if c.has("push-cluster-cost") {
		r.step = "push-cluster-cost"
		for _, procs := range []int{c.PushCostProcs, 1} {
			if ctx.Err() != nil {
				return
			}
			r.logf("push-cluster-cost wssd -procs %d wss", procs)
			if err := r.clusterCost(ctx, procs); err != nil {
				r.problem("push-cluster-cost -procs %d: %v", procs, err)
			}
		}
	}
}

// scaleProcs is push-scale's number of workers: Config.PushScaleProcs, or
// one per Config.ConnsPerServer connections of the target.
func (r *run) scaleProcs() int {
	if r.cfg.PushScaleProcs > 0 {
		return r.cfg.PushScaleProcs
	}
	return max(1, (r.cfg.PushScaleTarget+r.cfg.ConnsPerServer-1)/r.cfg.ConnsPerServer)
}

// pushClientSpec is how loadgen reaches the wssd binary s in push mode
// over wss, triggering through its HTTP API.
func pushClientSpec(s *server, conc int, env []string) clientSpec {
	return clientSpec{addr: s.ready.Addr, path: "/app/" + servers.PushAppKey + "?protocol=7", tls: true, proto: load.Pusher,
		conc: conc, env: env, trigger: httpTriggerArgs(s, "wss")}
}

// pushScale holds Config.PushScaleTarget subscribers on the workers as
// the scale scenario holds its connections (the same time cap, free
// memory guard, GOMAXPROCS and ping interval), each subscribed to one of
// target ÷ Config.PushSubsPerChannel channels, and reads what the workers
// hold. With push-cluster-fanout, it then times the fan-out to all of
// them.
func (r *run) pushScale(ctx context.Context) error {
	c := r.cfg
	target, procs := c.PushScaleTarget, r.scaleProcs()
	var env []string
	if c.ScaleGOMAXPROCS != "" {
		env = []string{"GOMAXPROCS=" + c.ScaleGOMAXPROCS}
	}
	s, err := r.startWssd(ctx, procs, scalePing, env...)
	if err != nil {
		return err
	}
	defer s.stop()
	time.Sleep(300 * time.Millisecond)
	base := s.workersRSS()
	clients, open, stoppedBy, err := r.openAtScale(ctx, pushClientSpec(s, r.scaleConcurrency(target), env), target)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	row := &PushScaleRow{Target: target, Procs: procs, Clients: len(clients), Opened: open.Conns, Failed: open.Failed,
		SetupSeconds: open.Seconds, StoppedBy: stoppedBy, Channels: max(1, target/max(1, c.PushSubsPerChannel))}
	if c.has("push-scale") {
		r.res.PushScale = row
	}
	t0 := time.Now()
	if err := pusherSubscribeWithin(clients, target, row.Channels, c.ScaleTimeout); err != nil {
		return err
	}
	row.SubscribeSeconds = time.Since(t0).Seconds()
	settled, end := holdScale(ctx, time.Now(), s.workersRSS, &row.IdleCPU, s.pids()...)
	row.RSS = end.RSS
	if procs > 1 {
		row.SupervisorRSS = procRSS(s.pid())
	}
	if row.ClusterFigures, err = s.clusterFigures(); err != nil {
		return err
	}
	row.RSSSamples = perConn(row.Conns, settled, end)
	if row.Conns > 0 {
		row.RSSPerConn = float64(row.RSS-base) / float64(row.Conns)
	}
	for _, cl := range clients {
		row.ClientRSS += procRSS(cl.cmd.Process.Pid)
	}
	row.MemAvailable = meminfo("MemAvailable") << 10
	r.logf("  %d conns on %d workers in %.0fs (%s), subscribed to %d channels in %.1fs, workers' RSS per conn %s at +%.0fs, %s at +%.0fs, supervisor %d MiB, %d failed",
		row.Conns, procs, row.SetupSeconds, row.StoppedBy, row.Channels, row.SubscribeSeconds, perConnKB(settled.RSS, row.Conns), settled.AfterSeconds,
		perConnKB(end.RSS, row.Conns), end.AfterSeconds, row.SupervisorRSS>>20, row.Failed)
	if row.Conns < row.Opened {
		r.problem("push-scale: the workers hold %d of the %d connections opened", row.Conns, row.Opened)
	}
	if c.has("push-cluster-fanout") && ctx.Err() == nil {
		r.step = "push-cluster-fanout"
		r.logf("push-cluster-fanout wssd -procs %d wss, %d subscribers", procs, open.Conns)
		if err := r.clusterFanout(s, clients, open, procs); err != nil {
			r.problem("push-cluster-fanout -procs %d: %v", procs, err)
		}
	}
	return nil
}

// perConn returns the samples with PerConn set for conns connections;
// none without connections.
func perConn(conns int, samples ...RSSSample) []RSSSample {
	if conns <= 0 {
		return nil
	}
	out := make([]RSSSample, len(samples))
	for i, x := range samples {
		x.PerConn = float64(x.RSS) / float64(conns)
		out[i] = x
	}
	return out
}

// fanoutOne is push-cluster-fanout's single process: n subscribers on
// wssd -procs 1, pinged as push-scale's.
func (r *run) fanoutOne(ctx context.Context, n int) error {
	s, err := r.startWssd(ctx, 1, scalePing)
	if err != nil {
		return err
	}
	defer s.stop()
	clients, open, err := r.openClients(ctx, pushClientSpec(s, r.cfg.ConnectConcurrency, nil), n)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	return r.clusterFanout(s, clients, open, 1)
}

// clusterFanout subscribes every connection of clients to one more
// channel, triggers Config.PushClusterRounds events on it through the HTTP
// API, clusterGap apart, and times each until the last
// subscriber had it. Under -procs a trigger reaches one worker, which
// delivers to its own subscribers and publishes once over NATS to the
// others.
func (r *run) clusterFanout(s *server, clients []*client, open load.Result, procs int) error {
	c := r.cfg
	if err := pusherSubscribeWithin(clients, open.Conns, 1, c.ScaleTimeout); err != nil {
		return err
	}
	before, err := s.clusterFigures()
	if err != nil {
		return err
	}
	gap := clusterGap(c.PushClusterInterval, open.Conns)
	send := fmt.Sprintf("trigger %d %s %s %d", c.PushClusterRounds, gap, load.PusherChannel(0), pushEventSize)
	b, err := r.timeBroadcast(s, clients, open, Key{"wssd", "wss"}, deflateNone, c.PushClusterRounds, send)
	if b == nil {
		return err
	}
	row := ClusterFanoutRow{BroadcastRow: *b, Procs: procs, Interval: gap}
	after, ferr := s.clusterFigures()
	row.Cluster = after.since(before)
	if n := row.Cluster.ClosedTotal(); n > 0 || row.Cluster.SendsRefused > 0 {
		r.logf("  meanwhile the workers closed %d connections %v and refused %d sends on full queues", n, row.Cluster.Closed, row.Cluster.SendsRefused)
	}
	r.res.PushClusterFanout = append(r.res.PushClusterFanout, row)
	if err == nil {
		err = ferr
	}
	return err
}

// FanoutPerSubscriber is a generous bound on what a fan-out takes per
// subscriber on this machine, server and client together: small runs
// took ~15 µs (8,000 wss subscribers on 8 workers in 117 ms), but 493,489
// on 32 workers took 25 µs (p50, 32 µs p99) while every connection was
// also pinged, so that events 25 µs apart overlapped and the loadgens fell
// further behind with each.
const FanoutPerSubscriber = 40 * time.Microsecond

// clusterGap is the time between push-cluster-fanout's events to n
// subscribers: at least min, and long enough for one fan-out to be over
// before the next starts (20 s for 500,000), so that each event's time
// to last is its own.
func clusterGap(min time.Duration, n int) time.Duration {
	return max(min, time.Duration(n)*FanoutPerSubscriber).Round(time.Millisecond)
}

// since is f less the counters of an earlier reading; the gauges are f's.
func (f ClusterFigures) since(before ClusterFigures) ClusterFigures {
	f.Published -= before.Published
	f.Received -= before.Received
	f.Dropped -= before.Dropped
	f.SendsRefused -= before.SendsRefused
	closed := map[string]int64{}
	for cause, n := range f.Closed {
		if n -= before.Closed[cause]; n != 0 {
			closed[cause] = n
		}
	}
	f.Closed = closed
	return f
}

// clusterCost runs push-latency's load (Config.PushLatencyChannels
// channels of Config.PushLatencySubs subscribers, Config.PushLatencyRate
// triggers a second for Config.PushLatencyDuration) on wssd -procs procs
// and reads the deliveries per second of CPU of all its processes: the
// workers, and under -procs the supervisor running the embedded NATS
// server.
func (r *run) clusterCost(ctx context.Context, procs int) error {
	c := r.cfg
	n := c.PushLatencyChannels * c.PushLatencySubs
	s, err := r.startWssd(ctx, procs, c.PingInterval)
	if err != nil {
		return err
	}
	defer s.stop()
	clients, open, err := r.openClients(ctx, pushClientSpec(s, c.ConnectConcurrency, nil), n)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	if err := pusherSubscribe(clients, n, c.PushLatencyChannels); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond) // the workers' NATS interest settles
	idle := meterCPU(s.pids()...)
	sleep(ctx, c.PushCostIdle)
	idleCPU := idle.cores()
	before, err := s.clusterFigures()
	if err != nil {
		return err
	}
	l, err := r.triggerRate(s, clients, open, Key{"wssd", "wss"})
	if l == nil {
		return err
	}
	row := ClusterCostRow{PushLatencyRow: *l, Procs: procs, IdleCPU: idleCPU}
	if l.ServerCPUSeconds > 0 {
		row.DeliveriesPerCPUSecond = float64(l.Delivered) / l.ServerCPUSeconds
		elapsed := l.ServerCPUSeconds / l.ServerCPU
		if busy := l.ServerCPUSeconds - idleCPU*elapsed; busy > 0 {
			row.DeliveriesPerBusyCPUSecond = float64(l.Delivered) / busy
		}
	}
	after, ferr := s.clusterFigures()
	row.Cluster = after.since(before)
	r.res.PushClusterCost = append(r.res.PushClusterCost, row)
	r.logf("  -procs %d: %.0f deliveries per server CPU-second (%.2f CPU-s; %.3f cores idle before, %.0f per CPU-second above it), %d published over NATS, %d received from it",
		procs, row.DeliveriesPerCPUSecond, l.ServerCPUSeconds, row.IdleCPU, row.DeliveriesPerBusyCPUSecond, row.Cluster.Published, row.Cluster.Received)
	if err == nil {
		err = ferr
	}
	return err
}
