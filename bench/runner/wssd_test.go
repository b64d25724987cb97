package runner

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/procstat"
)

// metricsCases are /metrics pages of the wssd binary and what the cluster
// scenarios read from them; they seed FuzzParseMetrics too.
var metricsCases = []struct {
	name    string
	page    string // or file, under testdata
	file    string
	want    ClusterFigures
	wantErr bool
}{
	{
		name: "a supervisor's page: each worker's series summed, the workers in index order",
		page: `# HELP wssd_connections_open WebSocket connections open: upgraded and not yet closed.
# TYPE wssd_connections_open gauge
wssd_connections_open{worker="0"} 10
wssd_connections_open{worker="10"} 5
wssd_connections_open{worker="2"} 20
# TYPE wssd_cluster_published_total counter
wssd_cluster_published_total{worker="0"} 3
wssd_cluster_published_total{worker="2"} 4
# TYPE wssd_cluster_received_total counter
wssd_cluster_received_total{worker="10"} 7
# TYPE wssd_cluster_publish_dropped_total counter
wssd_cluster_publish_dropped_total{worker="0"} 1
# TYPE wssd_cluster_receive_dropped_total counter
wssd_cluster_receive_dropped_total{worker="2"} 2
# TYPE wssd_cluster_subscriptions gauge
wssd_cluster_subscriptions{worker="0"} 100
wssd_cluster_subscriptions{worker="2"} 50
# TYPE wssd_workers_running gauge
wssd_workers_running 3
`,
		want: ClusterFigures{Conns: 35, PerWorker: []int{10, 20, 5}, Published: 7, Received: 7, Dropped: 3, Subscriptions: 150, Closed: map[string]int64{}},
	},
	{
		name: "closes by cause summed over the workers, sends refused",
		page: `# TYPE wssd_connections_closed_total counter
wssd_connections_closed_total{cause="pong_timeout",worker="0"} 3
wssd_connections_closed_total{cause="pong_timeout",worker="1"} 4
wssd_connections_closed_total{cause="transport",worker="1"} 1
wssd_connections_closed_total{cause="peer",worker="0"} 0
# TYPE wssd_connections_refused_total counter
wssd_connections_refused_total{reason="max_conns",worker="0"} 9
# TYPE wssd_send_buffer_full_total counter
wssd_send_buffer_full_total{worker="0"} 2
wssd_send_buffer_full_total{worker="1"} 5
`,
		want: ClusterFigures{Closed: map[string]int64{"pong_timeout": 7, "transport": 1, "peer": 0}, SendsRefused: 7},
	},
	{
		name: "a single process's page: no worker label, no spread",
		page: `# TYPE wssd_connections_open gauge
wssd_connections_open 42
# TYPE wssd_push_connections gauge
wssd_push_connections{app="a"} 40
wssd_push_connections{app="b"} 2
`,
		want: ClusterFigures{Conns: 42, Closed: map[string]int64{}},
	},
	{
		name: "the binary's own page, -procs 2, no client yet",
		file: "metrics-procs2.txt",
		want: ClusterFigures{PerWorker: []int{0, 0}, Closed: map[string]int64{"app": 0, "buffer_full": 0, "idle_timeout": 0, "peer": 0,
			"pong_timeout": 0, "protocol_error": 0, "shutdown": 0, "transport": 0}},
	},
	{
		name:    "not an exposition",
		page:    "wssd_connections_open{worker=\"0\" 10\n",
		wantErr: true,
	},
}

func TestParseMetrics(t *testing.T) {
	for _, c := range metricsCases {
		t.Run(c.name, func(t *testing.T) {
			page := c.page
			if c.file != "" {
				b, err := os.ReadFile(filepath.Join("testdata", c.file))
				if err != nil {
					t.Fatal(err)
				}
				page = string(b)
			}
			m, err := parseMetrics(strings.NewReader(page))
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want an error: %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			got := m.figures()
			if got.Conns != c.want.Conns || !slices.Equal(got.PerWorker, c.want.PerWorker) || got.Published != c.want.Published ||
				got.Received != c.want.Received || got.Dropped != c.want.Dropped || got.Subscriptions != c.want.Subscriptions ||
				!maps.Equal(got.Closed, c.want.Closed) || got.SendsRefused != c.want.SendsRefused {
				t.Errorf("figures %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseMetricsOtherLabels(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`wssd_push_connections{app="a",worker="1"} 4
wssd_push_connections{app="b",worker="1"} 6
wssd_push_connections{app="a",worker="0"} 1
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.perWorker("wssd_push_connections"), []float64{1, 10}; !slices.Equal(got, want) {
		t.Errorf("per worker %v, want %v (the apps summed)", got, want)
	}
	if got := m.total("wssd_push_connections"); got != 11 {
		t.Errorf("total %v, want 11", got)
	}
	if got := m.total("wssd_absent"); got != 0 {
		t.Errorf("absent series: total %v, want 0", got)
	}
}

func FuzzParseMetrics(f *testing.F) {
	for _, c := range metricsCases {
		page := c.page
		if c.file != "" {
			b, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				f.Fatal(err)
			}
			page = string(b)
		}
		f.Add(page)
	}
	f.Fuzz(func(t *testing.T, page string) {
		m, err := parseMetrics(strings.NewReader(page))
		if err != nil {
			return
		}
		fig := m.figures()
		if len(fig.PerWorker) == 1 {
			t.Fatalf("one worker's spread %v: a single figure is no spread", fig.PerWorker)
		}
	})
}

func TestClusterFiguresSince(t *testing.T) {
	before := ClusterFigures{Conns: 9, Published: 10, Received: 20, Dropped: 1, Subscriptions: 5,
		Closed: map[string]int64{"pong_timeout": 2, "transport": 3}, SendsRefused: 4}
	after := ClusterFigures{Conns: 8, PerWorker: []int{4, 4}, Published: 15, Received: 35, Dropped: 1, Subscriptions: 6,
		Closed: map[string]int64{"pong_timeout": 12, "transport": 3, "peer": 1}, SendsRefused: 4}
	got := after.since(before)
	want := ClusterFigures{Conns: 8, PerWorker: []int{4, 4}, Published: 5, Received: 15, Subscriptions: 6,
		Closed: map[string]int64{"pong_timeout": 10, "peer": 1}}
	if got.Conns != want.Conns || !slices.Equal(got.PerWorker, want.PerWorker) || got.Published != want.Published ||
		got.Received != want.Received || got.Dropped != want.Dropped || got.Subscriptions != want.Subscriptions ||
		!maps.Equal(got.Closed, want.Closed) || got.SendsRefused != want.SendsRefused || got.ClosedTotal() != 11 {
		t.Errorf("since: %+v, want %+v (counters less the earlier reading, gauges as read)", got, want)
	}
}

// The binary's JSON log, as -procs 3 and -procs 1 write it.
const (
	logProcs3 = `{"time":"2026-11-30T01:07:18.95Z","level":"INFO","msg":"embedded nats started","url":"nats://127.0.0.1:33477","store":"/tmp/nats"}
{"time":"2026-11-30T01:07:18.95Z","level":"INFO","msg":"metrics listening","url":"http://127.0.0.1:42093/metrics","workers":3}
{"time":"2026-11-30T01:07:18.95Z","level":"INFO","msg":"worker started","worker":0,"pid":9770}
{"time":"2026-11-30T01:07:18.96Z","level":"DEBUG","msg":"worker metrics listening","worker":0,"addr":"127.0.0.1:40001"}
{"time":"2026-11-30T01:07:18.96Z","level":"INFO","msg":"nats connected","worker":0,"url":"nats://127.0.0.1:33477","server":"wssd-embedded","node":0}
{"time":"2026-11-30T01:07:18.96Z","level":"INFO","msg":"wssd listening","worker":0,"mode":"push","url":"wss://localhost:35391/","pid":9770,"node":0}
{"time":"2026-11-30T01:07:18.96Z","level":"INFO","msg":"supervisor running","procs":3,"listen":"127.0.0.1:35391","pid":9761}
{"time":"2026-11-30T01:07:18.98Z","level":"INFO","msg":"wssd listening","worker":1,"mode":"push","url":"wss://localhost:35391/","pid":9778,"node":1}`
	logProcs1 = `{"time":"2026-11-30T01:07:18.96Z","level":"INFO","msg":"metrics listening","url":"http://127.0.0.1:9282/metrics"}
{"time":"2026-11-30T01:07:18.96Z","level":"INFO","msg":"wssd listening","mode":"push","url":"wss://127.0.0.1:8282/","pid":9770,"node":0}`
)

func TestWssdReady(t *testing.T) {
	cases := []struct {
		name string
		log  string
		want wssdReady
		// lines is how many lines read reports as taken
		lines int
	}{
		{"-procs 3: the supervisor's metrics, the first worker's port", logProcs3, wssdReady{addr: "127.0.0.1:35391", metrics: "127.0.0.1:42093"}, 2},
		{"-procs 1: one process says both", logProcs1, wssdReady{addr: "127.0.0.1:8282", metrics: "127.0.0.1:9282"}, 2},
		{"no metrics yet", `{"level":"INFO","msg":"wssd listening","url":"wss://localhost:1/"}`, wssdReady{addr: "127.0.0.1:1"}, 1},
		{"not JSON, or no port", "panic: oops\n" + `{"level":"INFO","msg":"wssd listening","url":"wss://localhost/"}`, wssdReady{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd wssdReady
			taken := 0
			for l := range strings.SplitSeq(c.log, "\n") {
				if rd.read([]byte(l)) {
					taken++
				}
			}
			if rd != c.want || taken != c.lines {
				t.Errorf("read %+v from %d lines, want %+v from %d", rd, taken, c.want, c.lines)
			}
			if rd.complete() != (c.want.addr != "" && c.want.metrics != "") {
				t.Errorf("complete: %v", rd.complete())
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	cases := []struct {
		name, line string
		want       int
	}{
		{"info", `{"level":"INFO","msg":"x"}`, 0},
		{"warning", `{"level":"WARN","msg":"x"}`, 4},
		{"error", `{"level":"ERROR","msg":"x"}`, 8},
		{"debug", `{"level":"DEBUG","msg":"x"}`, -4},
		{"not JSON: shown as an error", `panic: runtime error`, 8},
	}
	for _, c := range cases {
		if got := logLevel([]byte(c.line)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestServerPIDs checks that a server run as a tree (the supervisor and
// its workers) measures both, and takes the children for the workers
// (procstat.Children itself is tested in internal/procstat).
func TestServerPIDs(t *testing.T) {
	sh := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range procstat.Children(sh.Process.Pid) {
			if q, err := os.FindProcess(p); err == nil {
				_ = q.Kill()
			}
		}
		_ = sh.Process.Kill()
		_ = sh.Wait()
	})
	var grand []int
	for deadline := time.Now().Add(5 * time.Second); len(grand) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		grand = procstat.Children(sh.Process.Pid)
	}
	if len(grand) != 1 {
		t.Fatalf("sh's children: %v, want its sleep", grand)
	}
	s := &server{cmd: sh, tree: true}
	if got, want := s.pids(), []int{sh.Process.Pid, grand[0]}; !slices.Equal(got, want) {
		t.Errorf("the tree's pids %v, want %v", got, want)
	}
	if got := s.workers(); !slices.Equal(got, grand) {
		t.Errorf("workers %v, want the children %v", got, grand)
	}
}

func TestPerConn(t *testing.T) {
	got := perConn(4, RSSSample{AfterSeconds: 3, RSS: 400}, RSSSample{AfterSeconds: 13, RSS: 800})
	want := []RSSSample{{AfterSeconds: 3, RSS: 400, PerConn: 100}, {AfterSeconds: 13, RSS: 800, PerConn: 200}}
	if !slices.Equal(got, want) {
		t.Errorf("perConn: %+v, want %+v", got, want)
	}
	if got := perConn(0, RSSSample{RSS: 1}); got != nil {
		t.Errorf("no connections: %+v, want none", got)
	}
}
