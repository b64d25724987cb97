package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/report"
	"github.com/wssd/wssd/bench/runner"
)

// TestSmoke runs the whole harness with a few connections so that it
// cannot rot: build, every scenario but scale, the report.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, out := t.TempDir(), t.TempDir()
	if err := runner.Build(ctx, "..", bin); err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(ctx, runner.Smoke(), "smoke", bin, out, &logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Errorf("problem: %s", p)
	}
	cases := []struct {
		name string
		n    int
		want int
	}{
		// wssd, gorilla, gnet-echo (ws) + tls-loop and the two (wss)
		{"connect rows", len(res.Connect), 6},
		// wssd, gorilla × ws, wss + gnet-echo ws
		{"idle rows", len(res.Idle), 5},
		{"echo rows", len(res.Echo), 5 * 2},
		{"broadcast rows", len(res.Broadcast), 4},
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
	}
	for _, r := range res.Idle {
		if r.Alive != r.Conns || r.RSS == 0 {
			t.Errorf("idle %s %s: %d of %d alive, RSS %d", r.Server, r.Transport, r.Alive, r.Conns, r.RSS)
		}
	}
	for _, r := range res.Broadcast {
		if r.Delivered != r.Expected || r.TimeToLastMedianUs == 0 {
			t.Errorf("broadcast %s %s: %d/%d delivered, time to last %dµs", r.Server, r.Transport, r.Delivered, r.Expected, r.TimeToLastMedianUs)
		}
	}
	if err := report.Write(out, res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## connect", "## idle", "## echo", "## broadcast", "**wssd**", "gorilla", "![", "× wssd"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q", want)
		}
	}
	for _, f := range []string{"latest.json", "connect.svg", "idle-rss.svg", "echo-64.svg", "broadcast.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// logWriter sends the run's progress to the test log.
type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
