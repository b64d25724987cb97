package runner_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/report"
	"github.com/wssd/wssd/bench/runner"
)

// TestSmoke runs the whole harness with a few connections so that it
// cannot rot: build, every scenario but scale (push-scale on 2 workers),
// the report.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := runner.Smoke()
	nginx := true
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := exec.LookPath("/usr/sbin/nginx"); err != nil {
			// Tests that need a real component run in CI: there, a missing
			// one fails (the runner records a problem).
			if os.Getenv("CI") != "true" {
				t.Log("nginx is not installed (apt-get install -y nginx): the run goes without it")
				cfg.Servers = slices.DeleteFunc(cfg.Servers, func(s string) bool { return s == "nginx" })
				nginx = false
			}
		}
	}
	bin, out := t.TempDir(), t.TempDir()
	if err := runner.Build(ctx, "..", bin); err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(ctx, cfg, "smoke", bin, out, &logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Errorf("problem: %s", p)
	}
	front := 0 // nginx in front of wssd: wss only
	if nginx {
		front = 1
	}
	cases := []struct {
		name string
		n    int
		want int
	}{
		// wssd, gorilla, gnet-echo (ws) + tls-loop, nginx and the two (wss)
		{"connect rows", len(res.Connect), 6 + front},
		// wssd, gorilla × ws, wss + gnet-echo ws + nginx wss
		{"idle rows", len(res.Idle), 5 + front},
		// the rounds of each size merged into one row
		{"echo rows", len(res.Echo), (5 + front) * len(cfg.EchoSizes)},
		{"latency rows", len(res.Latency), 4 + front},
		{"broadcast rows", len(res.Broadcast), 5 + front}, // and the raw ceiling
		// wssd and gorilla (which compress) × ws, wss × plain, compressed
		{"echo-deflate rows", len(res.DeflateEcho), 8},
		// wssd × ws, wss × plain, compressed
		{"idle-deflate rows", len(res.DeflateIdle), 4},
		{"broadcast-deflate rows", len(res.DeflateBroadcast), 4},
		// push beside wssd × ws, wss
		{"push-idle rows", len(res.PushIdle), 4},
		// and the raw ceiling (ws)
		{"push-fanout rows", len(res.PushFanout), 5},
		{"push-latency rows", len(res.PushLatency), 2},
		// the workers holding push-scale's connections, and one process
		{"push-cluster-fanout rows", len(res.PushClusterFanout), 2},
		// PushCostProcs workers, and one process
		{"push-cluster-cost rows", len(res.PushClusterCost), 2},
	}
	for _, c := range cases {
		if c.n != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.n, c.want)
		}
	}
	for _, r := range res.Connect {
		if r.PerSecond <= 0 {
			t.Errorf("connect %s %s: %v/s", r.Server, r.Transport, r.PerSecond)
		}
	}
	for _, r := range res.Echo {
		if r.Msgs == 0 || r.Latency.P50 == 0 {
			t.Errorf("echo %s %s %d: %d messages, p50 %dµs", r.Server, r.Transport, r.Size, r.Msgs, r.Latency.P50)
		}
		if len(r.Runs) != cfg.EchoRepeat || !slices.Contains(r.Runs, r.PerSecond) {
			t.Errorf("echo %s %s %d: rounds %v, want %d of them including the row's %.0f/s", r.Server, r.Transport, r.Size, r.Runs, cfg.EchoRepeat, r.PerSecond)
		}
	}
	for _, r := range res.Latency {
		if r.Sent == 0 || r.Received != r.Sent || r.Latency.P50 == 0 || r.Latency.P99 < r.Latency.P50 {
			t.Errorf("latency %s %s: %d of %d answered, p50 %dµs p99 %dµs", r.Server, r.Transport, r.Received, r.Sent, r.Latency.P50, r.Latency.P99)
		}
		// The schedule, not the server, sets the rate: within 20% of
		// what was offered, for a load this light.
		if got, want := r.PerSecond, float64(cfg.LatencyRate); got < 0.8*want || got > 1.2*want {
			t.Errorf("latency %s %s: %.0f/s answered, %0.f/s offered", r.Server, r.Transport, got, want)
		}
	}
	var idleOrder []runner.Key
	for _, r := range res.Idle {
		if r.Alive != r.Conns || r.RSS == 0 {
			t.Errorf("idle %s %s: %d of %d alive, RSS %d", r.Server, r.Transport, r.Alive, r.Conns, r.RSS)
		}
		// RSS is read twice, at IdleSettle and IdleHold after the last
		// connection opened; per connection is what the process holds.
		if n := len(r.RSSSamples); n != 2 || r.RSSSamples[0].AfterSeconds < cfg.IdleSettle.Seconds() ||
			r.RSSSamples[1].AfterSeconds < cfg.IdleHold.Seconds() || r.RSSSamples[1].RSS != r.RSS ||
			r.RSSSamples[1].PerConn != float64(r.RSS)/float64(r.Alive) {
			t.Errorf("idle %s %s: RSS samples %+v, want 2 at +%s and +%s of RSS %d over %d conns", r.Server, r.Transport, r.RSSSamples,
				cfg.IdleSettle, cfg.IdleHold, r.RSS, r.Alive)
		}
		idleOrder = append(idleOrder, r.Key)
	}
	// The holds overlap, but the rows keep the order in which they ran.
	if !slices.IsSortedFunc(idleOrder, func(a, b runner.Key) int {
		return cmp.Compare(slices.Index(cfg.Servers, a.Server), slices.Index(cfg.Servers, b.Server))*2 +
			cmp.Compare(slices.Index(cfg.Transports, a.Transport), slices.Index(cfg.Transports, b.Transport))
	}) {
		t.Errorf("idle rows out of order: %v", idleOrder)
	}
	for _, r := range res.Broadcast {
		if r.Delivered != r.Expected || r.TimeToLastMedianUs == 0 {
			t.Errorf("broadcast %s %s: %d/%d delivered, time to last %dµs", r.Server, r.Transport, r.Delivered, r.Expected, r.TimeToLastMedianUs)
		}
	}
	for _, r := range res.PushIdle {
		if r.Alive != r.Conns || r.RSS == 0 || (r.Server == "push") != (r.Channels > 0) {
			t.Errorf("push-idle %s %s: %d of %d alive, RSS %d, %d channels", r.Server, r.Transport, r.Alive, r.Conns, r.RSS, r.Channels)
		}
	}
	for _, r := range res.PushFanout {
		if r.Conns != cfg.PushFanoutN || r.Delivered != r.Expected || r.TimeToLastMedianUs == 0 || r.TimeToLastP99Us < r.TimeToLastMedianUs {
			t.Errorf("push-fanout %s %s: %d conns, %d/%d delivered, time to last p50 %dµs p99 %dµs", r.Server, r.Transport, r.Conns,
				r.Delivered, r.Expected, r.TimeToLastMedianUs, r.TimeToLastP99Us)
		}
	}
	for _, r := range res.PushLatency {
		if r.Sent == 0 || r.Failed != 0 || r.Expected != r.Sent*int64(cfg.PushLatencySubs) || r.Delivered != r.Expected || r.Latency.P50 == 0 {
			t.Errorf("push-latency %s %s: %d sent, %d failed, %d/%d delivered, p50 %dµs", r.Server, r.Transport, r.Sent, r.Failed,
				r.Delivered, r.Expected, r.Latency.P50)
		}
	}
	if s := res.PushScale; s == nil || s.Conns != cfg.PushScaleTarget || s.Procs != cfg.PushScaleProcs || len(s.PerWorker) != s.Procs ||
		len(s.RSSSamples) != 2 || s.RSS == 0 || s.SupervisorRSS == 0 {
		t.Errorf("push-scale: %+v, want %d conns on %d workers, each counted, RSS read twice", s, cfg.PushScaleTarget, cfg.PushScaleProcs)
	}
	for _, r := range res.PushClusterFanout {
		// Under -procs each event crosses NATS once, to the other workers.
		crossed := r.Procs == 1 || r.Cluster.Published == int64(r.Rounds) && r.Cluster.Received == int64(r.Rounds*(r.Procs-1))
		if r.Delivered != r.Expected || r.TimeToLastMedianUs == 0 || !crossed {
			t.Errorf("push-cluster-fanout -procs %d: %d/%d delivered, time to last %dµs, %+v over NATS", r.Procs, r.Delivered, r.Expected,
				r.TimeToLastMedianUs, r.Cluster)
		}
	}
	for _, r := range res.PushClusterCost {
		if r.Delivered != r.Expected || r.Sent == 0 || r.ServerCPUSeconds <= 0 || r.DeliveriesPerCPUSecond <= 0 || (r.Procs > 1) != (r.Cluster.Published > 0) {
			t.Errorf("push-cluster-cost -procs %d: %d/%d delivered, %.2f CPU-s, %.0f per CPU-s, %d published over NATS", r.Procs, r.Delivered,
				r.Expected, r.ServerCPUSeconds, r.DeliveriesPerCPUSecond, r.Cluster.Published)
		}
	}
	var deflateRows []deflateRow
	for _, r := range res.DeflateEcho {
		deflateRows = append(deflateRows, deflateRow{"echo-deflate", r.Key, r.Deflate, r.Conns, r.Msgs})
	}
	for _, r := range res.DeflateIdle {
		deflateRows = append(deflateRows, deflateRow{"idle-deflate", r.Key, r.Deflate, r.Alive, r.Deflate.Received})
	}
	for _, r := range res.DeflateBroadcast {
		deflateRows = append(deflateRows, deflateRow{"broadcast-deflate", r.Key, r.Deflate, r.Conns, r.Delivered})
	}
	offered := 0
	for _, r := range deflateRows {
		d := r.stats
		switch {
		case d == nil || r.msgs == 0:
			t.Errorf("%s %v: deflate %+v, %d messages", r.scenario, r.key, d, r.msgs)
		case d.Offered && d.Negotiated != r.conns:
			t.Errorf("%s %v compressed: negotiated on %d of %d connections", r.scenario, r.key, d.Negotiated, r.conns)
		case d.Offered && r.scenario != "idle-deflate" && d.Compressed != d.Received:
			t.Errorf("%s %v compressed: %d of %d messages came compressed", r.scenario, r.key, d.Compressed, d.Received)
		case !d.Offered && (d.Negotiated != 0 || d.Compressed != 0):
			t.Errorf("%s %v plain: negotiated on %d connections, %d messages compressed", r.scenario, r.key, d.Negotiated, d.Compressed)
		}
		if d != nil && d.Offered {
			offered++
		}
	}
	if offered*2 != len(deflateRows) {
		t.Errorf("%d of %d deflate rows compressed, want half", offered, len(deflateRows))
	}
	if err := report.Write(out, res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	wantMD := []string{"## connect", "## idle", "## echo", "## latency", "## broadcast", "**wssd**", "gorilla", "![", "× wssd",
		"## permessage-deflate", "### echo, 512 B JSON", "### idle with compression negotiated", "### broadcast of a prepared message",
		"## push", "### idle, each connection subscribed", "### fan-out", "### end-to-end latency", "push idle (subscribed)",
		"## push across processes", "### push-scale", "### push-cluster-fanout", "### push-cluster-cost", "push-scale ≥ 500,000"}
	if nginx {
		wantMD = append(wantMD, "nginx→wssd", "## wssd's own TLS vs nginx")
	}
	for _, want := range wantMD {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q", want)
		}
	}
	for _, f := range []string{"latest.json", "connect.svg", "idle-rss.svg", "echo-64.svg", "latency.svg", "broadcast.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// deflateRow is a row of a permessage-deflate scenario: how compression
// went on its conns connections, and the msgs they got.
type deflateRow struct {
	scenario string
	key      runner.Key
	stats    *runner.DeflateStats
	conns    int
	msgs     int64
}

// logWriter sends the run's progress to the test log.
type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
