package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wssd/wssd/bench/runner"
)

// pushScaleGoal is the goal for push-scale: concurrent wss
// subscribers across the workers of one 2-core, 24 GB machine.
const pushScaleGoal = 500000

// writeCluster writes the cluster scenarios' section: the wssd binary's
// push mode with -procs.
func writeCluster(p func(string, ...any), res *runner.Results) {
	if res.PushScale == nil && len(res.PushClusterFanout)+len(res.PushClusterCost) == 0 {
		return
	}
	cfg := res.Config
	p("## push across processes — the wssd binary with -procs\n\n")
	p("The `wssd` binary itself (built from the root module) in push mode, `-procs N`: a supervisor starts N worker processes sharing the port (SO_REUSEPORT) and runs the embedded NATS server; each worker keeps its subscribers and shares the push state over NATS (cluster.State): a trigger reaching one worker is delivered by it to its own subscribers and published once to the workers that have subscribers on the channel. "+
		"wss with the run's certificate, the push server's app (`-app-id`/`-app-key`/`-app-secret`), GOGC=%s, clients as in the push section, events triggered through the HTTP API on the shared port (so each lands on one worker, as the kernel spreads connections). "+
		"Memory is VmRSS from `/proc` (what top shows) of the workers, the supervisor's (NATS) apart; CPU is `/proc` of all the processes, the supervisor's included; connections and NATS traffic come from the binary's merged `/metrics` (`wssd_connections_open`, `wssd_cluster_published_total`, `wssd_cluster_received_total`).\n\n", cfg.GOGC)
	if s := res.PushScale; s != nil {
		p("### push-scale — as many subscribed wss connections as the machine holds\n\n")
		p("%d workers; loadgen processes: %d, from their own source addresses, opening as the scale scenario does: until the target, a deadline (%s) or less than %d MiB available; pings every 25 s. "+
			"Each connection then subscribes to one of %d channels (%d subscribers each, as in push-idle, so that the figure per connection compares with one process's; the channels' members spread over the workers, so every worker holds NATS interest in most of them).",
			s.Procs, s.Clients, cfg.ScaleTimeout, cfg.ScaleMinFree>>20, s.Channels, max(1, s.Target/max(1, s.Channels)))
		if g := cfg.ScaleGOMAXPROCS; g != "" {
			p(" Every process runs with GOMAXPROCS=%s.", g)
		}
		p("\n\n")
		var at []string
		for _, x := range s.RSSSamples {
			at = append(at, fmt.Sprintf("%s at +%.0f s", kb(x.PerConn), x.AfterSeconds))
		}
		held := strings.Join(at, ", ")
		if held == "" {
			held = "–"
		}
		p("| target | held | failed | setup | subscribe | stopped by | workers' RSS | RSS/conn (workers, after the subscriptions) | growth/conn | supervisor (NATS) RSS | all processes/conn | per worker | NATS subscriptions | idle CPU (cores) | client RSS | memory left |\n" +
			"|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		p("| %d | %d | %d | %.0f s (%.0f/s) | %.1f s | %s | %.2f GiB | %s | %s | %d MiB | %s | %s | %d | %.3f | %.2f GiB | %.2f GiB |\n\n",
			s.Target, s.Conns, s.Failed, s.SetupSeconds, float64(s.Opened)/max(s.SetupSeconds, 1e-9), s.SubscribeSeconds, s.StoppedBy,
			float64(s.RSS)/(1<<30), held, kb(s.RSSPerConn), s.SupervisorRSS>>20, kb(float64(s.RSS+s.SupervisorRSS)/float64(max(s.Conns, 1))),
			spreadOf(s.PerWorker), s.Subscriptions, s.IdleCPU,
			float64(s.ClientRSS)/(1<<30), float64(s.MemAvailable)/(1<<30))
	}
	if len(res.PushClusterFanout) > 0 {
		p("### push-cluster-fanout — one trigger to a channel of every connection (lower is better)\n\n")
		p("Every connection subscribes to one channel (push-scale's connections besides their own); %d events are triggered on it, at least %s apart and %s per subscriber (so that one fan-out is over before the next); time to last runs from just before the trigger request until the last subscriber had the event: p50, p99 and worst over the events. "+
			"The workers hold push-scale's connections; one process (`-procs 1`) holds as many as one process may (%d), for scale, with the same pings (every 25 s). × 1 process compares time to last (p50).\n\n",
			cfg.PushClusterRounds, cfg.PushClusterInterval, runner.FanoutPerSubscriber, min(cfg.PushScaleTarget, cfg.ConnsPerServer))
		p("| procs | subscribers | events apart | time to last p50 | p99 | worst | × 1 process | arrival p50 | arrival p99 | delivered | closed meanwhile | sends refused | over NATS: published | received | dropped | server CPU | client CPU |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
		one := fanoutOf(res.PushClusterFanout, 1).TimeToLastMedianUs
		for _, r := range res.PushClusterFanout {
			p("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %d/%d | %s | %d | %d | %d | %d | %.2f | %.2f |\n", r.Procs, r.Conns, r.Interval,
				us(r.TimeToLastMedianUs), us(r.TimeToLastP99Us), us(r.TimeToLastMaxUs), ratio(float64(r.TimeToLastMedianUs), float64(one)),
				us(r.Latency.P50), us(r.Latency.P99), r.Delivered, r.Expected, closedBy(r.Cluster), r.Cluster.SendsRefused,
				r.Cluster.Published, r.Cluster.Received, r.Cluster.Dropped, r.ServerCPU, r.ClientCPU)
		}
		p("\n")
	}
	if len(res.PushClusterCost) > 0 {
		p("### push-cluster-cost — deliveries per server CPU-second (higher is better)\n\n")
		p("push-latency's load on each: %d channels of %d subscribers, %d triggers a second over them for %s; server CPU from just before the first trigger until the last delivery was read, of every process (under -procs the supervisor and its NATS server too). Idle: the same processes' CPU for %s before the triggers (pings every %s, the cluster's heartbeats); above idle counts only the CPU beyond it, what the deliveries cost. × 1 process compares deliveries per CPU-second: below 1 is what the cluster costs.\n\n",
			cfg.PushLatencyChannels, cfg.PushLatencySubs, cfg.PushLatencyRate, cfg.PushLatencyDuration, secs(cfg.PushCostIdle), cfg.PingInterval)
		p("| procs | subscribers | delivered | server CPU-s | deliveries per CPU-s | × 1 process | idle CPU (cores) | per CPU-s above idle | × 1 process | over NATS: published | received | dropped | p50 | p99 | client CPU |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		one := costOf(res.PushClusterCost, 1)
		for _, r := range res.PushClusterCost {
			p("| %d | %d | %d/%d | %.2f | %.0f | %s | %.3f | %.0f | %s | %d | %d | %d | %s | %s | %.2f |\n", r.Procs, r.Conns, r.Delivered, r.Expected,
				r.ServerCPUSeconds, r.DeliveriesPerCPUSecond, ratio(r.DeliveriesPerCPUSecond, one.DeliveriesPerCPUSecond), r.IdleCPU,
				r.DeliveriesPerBusyCPUSecond, ratio(r.DeliveriesPerBusyCPUSecond, one.DeliveriesPerBusyCPUSecond), r.Cluster.Published, r.Cluster.Received,
				r.Cluster.Dropped, us(r.Latency.P50), us(r.Latency.P99), r.ClientCPU)
		}
		p("\n")
	}
}

// spreadOf is the least and most connections a worker held.
func spreadOf(perWorker []int) string {
	if len(perWorker) == 0 {
		return "–"
	}
	lo, hi := perWorker[0], perWorker[0]
	for _, n := range perWorker {
		lo, hi = min(lo, n), max(hi, n)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

func fanoutOf(rows []runner.ClusterFanoutRow, procs int) runner.ClusterFanoutRow {
	for _, r := range rows {
		if r.Procs == procs {
			return r
		}
	}
	return runner.ClusterFanoutRow{}
}

func costOf(rows []runner.ClusterCostRow, procs int) runner.ClusterCostRow {
	for _, r := range rows {
		if r.Procs == procs {
			return r
		}
	}
	return runner.ClusterCostRow{}
}

// clusterTargets adds the goal for push-scale to the targets.
func clusterTargets(res *runner.Results, add func(target string, ok bool, format string, args ...any)) {
	s := res.PushScale
	if s == nil {
		return
	}
	perConn := kb(s.RSSPerConn) + " growth"
	if n := len(s.RSSSamples); n > 0 {
		perConn = fmt.Sprintf("%s/conn held by the workers at +%.0f s", kb(s.RSSSamples[n-1].PerConn), s.RSSSamples[n-1].AfterSeconds)
	}
	add("push-scale ≥ 500,000 subscribed wss connections (-procs)", s.Conns >= pushScaleGoal,
		"%d held on %d workers (target %d, %s), %s; setup %.0f/s", s.Conns, s.Procs, s.Target, s.StoppedBy, perConn,
		float64(s.Opened)/max(s.SetupSeconds, 1e-9))
}

// closedBy is the connections the workers closed, with their causes: "0",
// or "12 (pong_timeout 10, transport 2)".
func closedBy(f runner.ClusterFigures) string {
	n := f.ClosedTotal()
	if n == 0 {
		return "0"
	}
	causes := slices.Sorted(maps.Keys(f.Closed))
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = fmt.Sprintf("%s %d", c, f.Closed[c])
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}
