package supervisor_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wssd/wssd/internal/leakcheck"
	"github.com/wssd/wssd/internal/supervisor"
)

// The test binary is its own worker: started by a Supervisor, it behaves
// as envBehaviour says instead of running the tests.
const envBehaviour = "SUPERVISOR_TEST_WORKER"

func TestMain(m *testing.M) {
	w, err := supervisor.CurrentWorker()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if w != nil {
		os.Exit(testWorker(w, os.Getenv(envBehaviour)))
	}
	leakcheck.Main(m, 5*time.Second)
}

// testWorker is a worker that, as behaviour says:
//   - "fail": exits with status 3 at once;
//   - "others-fail": the first worker serves, the others fail;
//   - "serve": serves /metrics (test_worker_index, its index) and /readyz
//     on loopback, reports, and exits 0 on SIGTERM;
//   - "stubborn": the same, but ignores SIGTERM.
func testWorker(w *supervisor.Worker, behaviour string) int {
	if behaviour == "fail" || behaviour == "others-fail" && w.Index > 0 {
		return 3
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_worker_index", Help: "The worker's index."},
		func() float64 { return float64(w.Index) }))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	go func() { _ = http.Serve(ln, mux) }()
	listen := w.Listen
	if listen == "" {
		listen = "127.0.0.1:1" // what the first worker bound
	}
	if err := w.Serving(supervisor.Report{Listen: listen, Metrics: ln.Addr().String()}); err != nil {
		return 1
	}
	for range sig {
		if behaviour != "stubborn" {
			return 0
		}
	}
	return 0
}

// config runs n test workers of behaviour.
func config(t *testing.T, n int, behaviour string) supervisor.Config {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return supervisor.Config{Procs: n, Path: exe, Env: []string{envBehaviour + "=" + behaviour}, Stderr: os.Stderr, StartTimeout: 10 * time.Second}
}
