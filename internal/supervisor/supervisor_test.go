package supervisor_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/supervisor"
)

// scrape returns the body of one of sup's endpoints.
func scrape(sup *supervisor.Supervisor, path string) (int, string) {
	rec := httptest.NewRecorder()
	sup.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// waitReady waits until every worker reported and answers /readyz.
func waitReady(t *testing.T, sup *supervisor.Supervisor) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := scrape(sup, "/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("/readyz: %d %s", code, body)
		}
	}
}

func TestStartFirstWorkerFails(t *testing.T) {
	_, err := supervisor.Start(config(t, 2, "fail"))
	if !errors.Is(err, supervisor.ErrFirstWorker) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Start: %v, want ErrFirstWorker with the exit status", err)
	}
}

// TestMergedMetrics: /metrics carries each worker's series with its
// worker label beside the supervisor's; /readyz is 200 with every worker
// up, 503 while one is being restarted and once Shutdown has begun.
func TestMergedMetrics(t *testing.T) {
	sup, err := supervisor.Start(config(t, 2, "serve"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sup.Listen(); got != "127.0.0.1:1" {
		t.Fatalf("Listen %q, want the first worker's report", got)
	}
	waitReady(t, sup)
	want := `
# HELP test_worker_index The worker's index.
# TYPE test_worker_index gauge
test_worker_index{worker="0"} 0
test_worker_index{worker="1"} 1
# HELP wssd_workers_running Workers that reported serving and have not died since.
# TYPE wssd_workers_running gauge
wssd_workers_running 2
`
	_, body := scrape(sup, "/metrics")
	if err := testutil.ScrapeAndCompare(serveBody(t, body), strings.NewReader(want), "test_worker_index", "wssd_workers_running"); err != nil {
		t.Fatal(err)
	}
	if err := sup.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(sup, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after Shutdown: %d", code)
	}
}

// serveBody serves body as an exposition, for testutil.ScrapeAndCompare.
func serveBody(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRestart: a worker killed with SIGKILL is counted, started again
// with its index, and reported ready again.
func TestRestart(t *testing.T) {
	sup, err := supervisor.Start(config(t, 2, "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Shutdown(context.Background())
	waitReady(t, sup)
	sup.Signal(syscall.SIGKILL)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := scrape(sup, "/metrics")
		if strings.Contains(body, `wssd_worker_restarts_total{worker="0"} 1`) && strings.Contains(body, `wssd_worker_restarts_total{worker="1"} 1`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no restarts counted:\n%s", body)
		}
	}
	waitReady(t, sup)
}

// TestShutdownKills: workers that ignore SIGTERM are killed when the
// context ends, and Shutdown says so.
func TestShutdownKills(t *testing.T) {
	sup, err := supervisor.Start(config(t, 2, "stubborn"))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, sup)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := sup.Shutdown(ctx); !errors.Is(err, supervisor.ErrKilled) {
		t.Fatalf("Shutdown: %v, want ErrKilled", err)
	}
}

// TestBackoff: a worker that dies at once is started again after 100 ms,
// then 200 ms, then 400 ms, each death logged with its cause.
func TestBackoff(t *testing.T) {
	log, buf := logtest.New()
	cfg := config(t, 2, "others-fail")
	cfg.Logger = log
	sup, err := supervisor.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Shutdown(context.Background())
	const third = `msg="worker died; restarting it" worker=1`
	for end := time.Now().Add(10 * time.Second); buf.Count(third) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("fewer than three deaths logged:\n%s", buf)
		}
	}
	var delays []string
	for line := range strings.Lines(buf.String()) {
		if !strings.Contains(line, third) {
			continue
		}
		if !strings.Contains(line, `cause="exit status 3"`) {
			t.Fatalf("death line without its cause: %s", line)
		}
		_, d, _ := strings.Cut(line, "restart_in=")
		delays = append(delays, strings.TrimSpace(d))
	}
	if want := []string{"100ms", "200ms", "400ms"}; !slices.Equal(delays[:3], want) {
		t.Fatalf("restart delays %v, want %v first", delays, want)
	}
}
