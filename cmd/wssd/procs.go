package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wssd/wssd/internal/supervisor"
)

// Settings a supervisor hands its workers, beside supervisor's own.
const (
	envWorkerNATS       = "WSSD_WORKER_NATS"        // the embedded NATS server's URL
	envWorkerDevApp     = "WSSD_WORKER_DEV_APP"     // the development app, as devApp's JSON
	envWorkerEventLoops = "WSSD_WORKER_EVENT_LOOPS" // the engine's event loops (workerCPUs)
)

// shutdownMargin is how much longer than -shutdown-timeout the supervisor
// waits for its workers before it kills them: a worker's own shutdown
// takes -shutdown-timeout at most, plus its exit.
const shutdownMargin = 5 * time.Second

// Node numbers: -node is the machine's, 0 to maxMachine; a process's push
// node (in its socket ids) is the machine's times 256 plus its worker
// index, so that machines with distinct -node values never share one,
// whatever their -procs.
const (
	maxMachine = 255
	maxProcs   = 256
)

func pushNode(machine uint16, worker int) uint16 { return machine<<8 | uint16(worker) }

// asWorker returns o as worker w runs it: on the address the first worker
// bound, with SO_REUSEPORT, metrics on a loopback port of its own for the
// supervisor to merge, the supervisor's NATS server and development app.
func (o options) asWorker(w *supervisor.Worker) (options, error) {
	o.reusePort = true
	if w.Listen != "" {
		o.listen = w.Listen
	}
	if o.metricsListen != "" {
		o.metricsListen = "127.0.0.1:0"
	}
	if u := os.Getenv(envWorkerNATS); u != "" && len(o.nats.urls) == 0 {
		o.nats.urls = []string{u}
	}
	if s := os.Getenv(envWorkerDevApp); s != "" {
		var d devApp
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return o, fmt.Errorf("%s: %w", envWorkerDevApp, err)
		}
		app := d.app()
		o.devApp = &app
	}
	if s := os.Getenv(envWorkerEventLoops); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return o, fmt.Errorf("%s: %q is not a number of event loops", envWorkerEventLoops, s)
		}
		o.eventLoops = n
	}
	return o, nil
}

// workerCPUs returns the GOMAXPROCS and the event loops of each of procs
// workers on cpus CPUs, unless the environment sets GOMAXPROCS: the loops
// an equal share of the CPUs, at least one, and one P more than loops.
// Each worker would otherwise take every CPU, with a loop per CPU, and the
// processes would wake and hand work between more threads than can run at
// once. The P more is for the rest of a worker's work (NATS, the HTTP API,
// TLS handshakes): a gnet loop keeps its P while it waits in epoll_wait,
// so with no other P each of those goroutines waits for the runtime to
// take one back from a waiting loop, and every loop's wait restarts the
// runtime's 20 µs monitor ticks. The push-cluster-cost bench scenario,
// -procs 4 on 2 CPUs, deliveries per CPU-second against one process's:
// 0.25-0.32 with GOMAXPROCS 2 and 2 loops per worker (each taking every
// CPU), 0.34-0.44 with 1 and 1, 0.39-0.47 with 2 and 1.
func workerCPUs(cpus, procs int) (gomaxprocs, loops int) {
	loops = max(1, cpus/max(procs, 1))
	return loops + 1, loops
}

// supervise runs o.procs workers, each this program with args, until
// SIGINT or SIGTERM, and forwards SIGHUP to them. Without -nats-url the
// push server's workers share an embedded NATS server, started before
// them and stopped after them.
func supervise(o options, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	if err := checkPortFree(o); err != nil {
		return err
	}

	var env []string
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		gomaxprocs, loops := workerCPUs(runtime.GOMAXPROCS(0), o.procs)
		env = append(env, "GOMAXPROCS="+strconv.Itoa(gomaxprocs), envWorkerEventLoops+"="+strconv.Itoa(loops))
	}
	if o.mode == "push" {
		if len(o.nats.urls) == 0 {
			store := o.natsStore
			if store == "" {
				if store, err = defaultNATSStore(); err != nil {
					return err
				}
			}
			ns, err := startEmbeddedNATS(o.natsListen, store, log)
			if err != nil {
				return err
			}
			defer ns.stop() // after the workers
			env = append(env, envWorkerNATS+"="+ns.URL())
		}
		if o.appID == "" && o.appsFile == "" && o.devAppFile == "" {
			// One development app for all workers: each would make its own.
			app, err := loadDevApp("")
			if err != nil {
				return err
			}
			b, _ := json.Marshal(devApp{ID: app.ID, Key: app.Key, Secret: app.Secret})
			env = append(env, envWorkerDevApp+"="+string(b))
		}
	}

	// The operations endpoint first, so that a port in use stops wssd
	// before any worker starts; it answers 503 until they have.
	var ops atomic.Pointer[http.Handler]
	if o.metricsListen != "" {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := ops.Load(); h != nil {
				(*h).ServeHTTP(w, r)
				return
			}
			http.Error(w, "workers starting", http.StatusServiceUnavailable)
		})
		addr, stopMetrics, err := serveMetrics(o.metricsListen, h, log)
		if err != nil {
			return fmt.Errorf("-metrics-listen: %w", err)
		}
		defer stopMetrics(time.Second)
		log.Info("metrics listening", "url", "http://"+addr.String()+"/metrics", "workers", o.procs)
	}

	sup, err := supervisor.Start(supervisor.Config{
		Procs: o.procs, Path: exe, Args: args, Env: env,
		Stdout: stdout, Stderr: stderr, Logger: log,
		StartTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	h := sup.Handler()
	ops.Store(&h)
	log.Info("supervisor running", "procs", o.procs, "listen", sup.Listen(), "pid", os.Getpid())

	for s := range sig {
		if s == syscall.SIGHUP {
			log.Info("SIGHUP: forwarded to the workers")
			sup.Signal(s)
			continue
		}
		log.Info("shutting down the workers", "signal", s.String(), "timeout", (o.shutdownTimeout + shutdownMargin).String())
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout+shutdownMargin)
	defer cancel()
	if err := sup.Shutdown(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// checkPortFree fails if -listen is in use. The workers bind it with
// SO_REUSEPORT, which would let them join another wssd's workers there and
// split its clients with them; -reuseport given by hand says that sharing
// is meant.
func checkPortFree(o options) error {
	if o.reusePort {
		return nil
	}
	if _, port, err := net.SplitHostPort(o.listen); err != nil || port == "0" {
		return nil // port 0 is always free; a bad address fails in the first worker
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w (-reuseport to share the port on purpose)", err)
	}
	return ln.Close()
}

// reportServing tells the supervisor, if any, that this worker serves on
// its bound port; listen is -listen (its host is kept, so that ":0" stays
// dual stack).
func reportServing(w *supervisor.Worker, listen string, port uint16, metrics net.Addr) error {
	if w == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	r := supervisor.Report{Listen: net.JoinHostPort(host, strconv.Itoa(int(port)))}
	if metrics != nil {
		r.Metrics = metrics.String()
	}
	if err := w.Serving(r); err != nil {
		return errors.Join(errors.New("telling the supervisor"), err)
	}
	return nil
}
