package report

import (
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/runner"
)

// targetLine returns the row of the report's target table that starts with
// target, or "".
func targetLine(md, target string) string {
	for l := range strings.SplitSeq(md, "\n") {
		if strings.HasPrefix(l, "| "+target+" |") {
			return l
		}
	}
	return ""
}

func TestTargets(t *testing.T) {
	key := func(s, tr string) runner.Key { return runner.Key{Server: s, Transport: tr} }
	echo := func(s, tr string, perSec float64) runner.EchoRow {
		return runner.EchoRow{Key: key(s, tr), Size: 512, PerSecond: perSec, PerServerCPUSecond: perSec}
	}
	res := &runner.Results{
		Config: runner.Config{EchoSizes: []int{512}, IdleSettle: 3 * time.Second, IdleHold: time.Minute},
		Idle: []runner.IdleRow{
			{Key: key("wssd", "ws"), RSSPerConn: 1100, Alive: 10, RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: 1900}, {AfterSeconds: 60, PerConn: 1700}}},
			{Key: key("wssd", "wss"), RSSPerConn: 6100, Alive: 10, RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: 9000}, {AfterSeconds: 60, PerConn: 6800}}},
			{Key: key("nginx", "wss"), RSSPerConn: 30000, Alive: 10, RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: 35000}, {AfterSeconds: 60, PerConn: 34000}}},
		},
		Echo: []runner.EchoRow{
			echo("wssd", "ws", 130), echo("gws", "ws", 100), echo("gorilla", "ws", 110), echo("gnet-echo", "ws", 200),
			echo("wssd", "wss", 100), echo("gws", "wss", 90), echo("nginx", "wss", 95),
		},
		Connect: []runner.ConnectRow{
			{Key: key("wssd", "wss"), PerSecond: 80, PerServerCPUSecond: 1},
			{Key: key("tls-loop", "wss"), PerSecond: 100, PerServerCPUSecond: 1},
		},
		Scale: &runner.ScaleRow{Transport: "wss", Target: 100, Conns: 10, RSSPerConn: 5000,
			RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: 7000}, {AfterSeconds: 13, PerConn: 6000}}},
		Broadcast: []runner.BroadcastRow{
			{Key: key("wssd", "ws"), TimeToLastMedianUs: 40},
			{Key: key("gws", "ws"), TimeToLastMedianUs: 100},
			{Key: key("nginx", "wss"), TimeToLastMedianUs: 50},
			{Key: key("gnet-echo", "ws"), TimeToLastMedianUs: 30},
		},
	}
	var b strings.Builder
	if err := Markdown(&b, res, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	cases := []struct {
		name, target string
		want         []string // in the row, in order
	}{
		{"ws idle under its limit", "ws idle ≤ 1.20 KB/conn", []string{"1.10 KB/conn growth (10 conns)", "holds 1.70 KB/conn at +60 s", "| yes |"}},
		{"wss idle over its limit", "wss idle ≤ 6.00 KB/conn", []string{"6.10 KB/conn growth", "| no |"}},
		// The best peer is gorilla (110), not gws; the ceiling is no peer.
		{"ws echo against the best peer", "ws echo 512 B ≥ 1.2× best peer", []string{"1.18× gorilla (130 vs 110 msg/s)", "| no |"}},
		{"ws echo against the ceiling", "ws echo 512 B ≥ 0.8× raw gnet", []string{"0.65× (130 vs 200 msg/s)", "| no |"}},
		// nginx, faster here, is no Go peer: gws is the best one.
		{"wss echo against the best peer", "wss echo 512 B ≥ 1.2× best peer", []string{"1.11× gws", "| no |"}},
		{"handshakes", "wss handshakes ≥ 0.9× bare crypto/tls loop", []string{"0.80× (80 vs 100/s)", "| no |"}},
		{"broadcast", "ws broadcast time-to-last ≤ 0.5× best peer", []string{"0.40× gws (40 µs vs 100 µs)", "raw TCP ceiling 30 µs", "| yes |"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := targetLine(md, c.target)
			if row == "" {
				t.Fatalf("no target row %q in:\n%s", c.target, md)
			}
			rest := row
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("row %q lacks %q (in order)", row, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	// The idle table: what the process holds at both readings, the ratio of
	// the second, then the growth; the nginx comparison takes the second.
	if !strings.Contains(md, "| **wssd** | wss | 0 | 9.00 KB | 6.80 KB | 1.00× | 6.10 KB |") {
		t.Errorf("the idle table lacks wssd wss's readings:\n%s", md)
	}
	if !strings.Contains(md, "| idle RSS/conn at +60 s (lower is better) | 6.80 KB | 34.00 KB | 0.20× |") {
		t.Errorf("the nginx comparison lacks idle RSS:\n%s", md)
	}
	if !strings.Contains(md, "| 7.00 KB at +3 s, 6.00 KB at +13 s (growth 5.00 KB) |") {
		t.Errorf("the scale row lacks the servers' RSS readings:\n%s", md)
	}
	if !strings.Contains(md, "| echo 512 B | 100 msg/s | 95 msg/s | 1.05× |") {
		t.Errorf("the nginx comparison lacks echo 512 B:\n%s", md)
	}
	if targetLine(md, "wss broadcast time-to-last ≤ 0.5× best peer") != "" {
		t.Error("a wss broadcast target with no wssd wss row")
	}
}

func TestSpread(t *testing.T) {
	cases := []struct {
		name   string
		runs   []float64
		median float64
		want   string
	}{
		{"one round", []float64{5}, 5, "–"},
		{"three rounds", []float64{90, 100, 120}, 100, "90–120% (3)"},
		{"no median", []float64{1, 2}, 0, "–"},
	}
	for _, c := range cases {
		if got := spread(c.runs, c.median); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCluster(t *testing.T) {
	fanout := func(procs int, p50 int64) runner.ClusterFanoutRow {
		return runner.ClusterFanoutRow{Procs: procs, BroadcastRow: runner.BroadcastRow{Key: runner.Key{Server: "wssd", Transport: "wss"},
			Conns: 100, Rounds: 2, Delivered: 200, Expected: 200, TimeToLastMedianUs: p50, TimeToLastP99Us: 2 * p50, TimeToLastMaxUs: 2 * p50}}
	}
	cost := func(procs int, perCPU float64, published int64) runner.ClusterCostRow {
		return runner.ClusterCostRow{Procs: procs, DeliveriesPerCPUSecond: perCPU, IdleCPU: 0.1, DeliveriesPerBusyCPUSecond: 2 * perCPU,
			Cluster:        runner.ClusterFigures{Published: published},
			PushLatencyRow: runner.PushLatencyRow{Key: runner.Key{Server: "wssd", Transport: "wss"}, Conns: 50, Delivered: 1000, Expected: 1000, ServerCPUSeconds: 1000 / perCPU}}
	}
	scale := func(conns int) *runner.PushScaleRow {
		return &runner.PushScaleRow{Target: 500000, Procs: 32, Clients: 34, Channels: 33333, Opened: conns, SetupSeconds: 100,
			StoppedBy: "target reached", ClusterFigures: runner.ClusterFigures{Conns: conns, PerWorker: []int{15000, 16100, 15500}},
			RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: 9000}, {AfterSeconds: 13, PerConn: 8500}}, RSSPerConn: 8000}
	}
	cases := []struct {
		name string
		res  runner.Results
		want []string // in the report, each in order within its line
	}{
		{
			name: "the goal met, and the ratios to one process",
			res: runner.Results{
				PushScale:         scale(500000),
				PushClusterFanout: []runner.ClusterFanoutRow{fanout(32, 300000), fanout(1, 20000)},
				PushClusterCost:   []runner.ClusterCostRow{cost(4, 10000, 500), cost(1, 40000, 0)},
			},
			want: []string{
				"| push-scale ≥ 500,000 subscribed wss connections (-procs) | 500000 held on 32 workers (target 500000, target reached), 8.50 KB/conn held by the workers at +13 s; setup 5000/s | yes |",
				"| 500000 | 500000 | 0 | 100 s (5000/s) |",
				"9.00 KB at +3 s, 8.50 KB at +13 s | 8.00 KB |",
				"| 15000–16100 |",
				"| 32 | 100 | 0s | 300.0 ms | 600.0 ms | 600.0 ms | 15.00× |",
				"| 1 | 100 | 0s | 20.0 ms | 40.0 ms | 40.0 ms | 1.00× |",
				"| 4 | 50 | 1000/1000 | 0.10 | 10000 | 0.25× | 0.100 | 20000 | 0.25× | 500 |",
				"| 1 | 50 | 1000/1000 | 0.03 | 40000 | 1.00× | 0.100 | 80000 | 1.00× | 0 |",
			},
		},
		{
			name: "the goal missed",
			res:  runner.Results{PushScale: scale(431000)},
			want: []string{"| push-scale ≥ 500,000 subscribed wss connections (-procs) | 431000 held on 32 workers", "| no |"},
		},
		{
			name: "no single-process row: no ratio",
			res:  runner.Results{PushClusterCost: []runner.ClusterCostRow{cost(4, 10000, 500)}},
			want: []string{"| 4 | 50 | 1000/1000 | 0.10 | 10000 | – | 0.100 | 20000 | – |"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			if err := Markdown(&b, &c.res, nil); err != nil {
				t.Fatal(err)
			}
			md := b.String()
			if !strings.Contains(md, "## push across processes") {
				t.Fatalf("no cluster section:\n%s", md)
			}
			for _, w := range c.want {
				if !strings.Contains(md, w) {
					t.Errorf("report lacks %q:\n%s", w, md)
				}
			}
		})
	}
}
