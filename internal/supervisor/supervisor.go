package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Restarts: a worker that dies is started again after a delay that
// doubles from MinBackoff to MaxBackoff, and is back to MinBackoff once a
// worker stayed up StableAfter.
const (
	MinBackoff  = 100 * time.Millisecond
	MaxBackoff  = 30 * time.Second
	StableAfter = 10 * time.Second
)

// DefaultStartTimeout is Config.StartTimeout's default.
const DefaultStartTimeout = 30 * time.Second

// Sentinel errors.
var (
	// ErrFirstWorker is returned by Start, wrapped with the worker's exit
	// status, when the first worker exits or times out before it reports
	// that it serves.
	ErrFirstWorker = errors.New("supervisor: the first worker did not start")
	// ErrKilled is returned by Shutdown when workers still running at the
	// deadline had to be killed.
	ErrKilled = errors.New("supervisor: workers still running at the deadline were killed")
)

// Config describes the workers. It must not be modified after it is
// handed to Start.
type Config struct {
	// Procs is how many workers run, at least 1.
	Procs int
	// Path and Args are the program each worker runs (Args without the
	// program's name), usually os.Executable and os.Args[1:].
	Path string
	Args []string
	// Env is added to the supervisor's environment for every worker.
	Env []string
	// Stdout and Stderr receive the workers' output; nil discards it. An
	// *os.File is handed to the workers as it is: their lines are not
	// copied through the supervisor.
	Stdout, Stderr io.Writer
	// Logger receives the workers' starts and deaths; nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds how long the first worker may take to report
	// that it serves; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
}

// Supervisor runs the workers of a Config. Its methods are safe for
// concurrent use.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	listen string // the address the first worker reported

	spawn     chan spawnRequest
	spawnOnce sync.Once
	loops     sync.WaitGroup
	stopCh    chan struct{} // closed when Shutdown begins

	mu       sync.Mutex
	workers  []*worker
	stopping bool

	reg      *prometheus.Registry
	restarts *prometheus.CounterVec
}

// worker is one worker slot; a process fills it at a time.
type worker struct {
	index    int
	proc     *proc  // nil while no process runs
	reported bool   // proc reported that it serves
	metrics  string // proc's metrics address, from its report
}

// proc is one process of a worker slot.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	report  chan Report   // the process's report, at most one
	done    chan struct{} // closed once Wait has returned
}

// spawnRequest asks the spawning thread to start cmd.
type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

// Start starts the first worker, waits until it reports that it serves,
// then starts the others and returns. It fails if the first worker exits
// or does not report within cfg.StartTimeout.
func Start(cfg Config) (*Supervisor, error) {
	if cfg.Procs < 1 {
		return nil, fmt.Errorf("supervisor: Procs is %d, want at least 1", cfg.Procs)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	s := &Supervisor{
		cfg:    cfg,
		log:    cfg.Logger,
		spawn:  make(chan spawnRequest),
		stopCh: make(chan struct{}),
		reg:    prometheus.NewRegistry(),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wssd_worker_restarts_total",
			Help: "Workers started again after they died, by worker.",
		}, []string{"worker"}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for i := range cfg.Procs {
		s.workers = append(s.workers, &worker{index: i})
		s.restarts.WithLabelValues(strconv.Itoa(i))
	}
	s.reg.MustRegister(s.restarts, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wssd_workers_running",
		Help: "Workers that reported serving and have not died since.",
	}, func() float64 { return float64(len(s.running())) }))
	go s.spawner()

	first := s.workers[0]
	p, err := s.launch(first)
	if err != nil {
		s.stopSpawner()
		return nil, err
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case r := <-p.report:
		s.listen = r.Listen
		s.serving(first, r)
	case <-p.done:
		s.stopSpawner()
		return nil, fmt.Errorf("%w: %s", ErrFirstWorker, p.cmd.ProcessState)
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		s.stopSpawner()
		return nil, fmt.Errorf("%w: no report within %v", ErrFirstWorker, cfg.StartTimeout)
	}
	s.loops.Add(cfg.Procs)
	go s.loop(first, p)
	for _, w := range s.workers[1:] {
		go s.loop(w, nil)
	}
	return s, nil
}

// Listen returns the address the first worker reported, which every
// worker binds.
func (s *Supervisor) Listen() string { return s.listen }

// spawner starts every worker from one OS thread that lives until the
// last worker is gone: Linux sends the parent death signal when the thread
// that started a child exits, not only the process.
func (s *Supervisor) spawner() {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	for req := range s.spawn {
		req.err <- req.cmd.Start()
	}
}

func (s *Supervisor) stopSpawner() { s.spawnOnce.Do(func() { close(s.spawn) }) }

// launch starts a process in w's slot.
func (s *Supervisor) launch(w *worker) (*proc, error) {
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.cfg.Path, s.cfg.Args...)
	cmd.Env = append(os.Environ(), s.cfg.Env...)
	cmd.Env = append(cmd.Env,
		envIndex+"="+strconv.Itoa(w.index),
		envParent+"="+strconv.Itoa(os.Getpid()),
		envListen+"="+s.listen)
	cmd.Stdout, cmd.Stderr = s.cfg.Stdout, s.cfg.Stderr
	cmd.ExtraFiles = []*os.File{wr} // controlFD in the worker
	cmd.SysProcAttr = sysProcAttr()
	req := spawnRequest{cmd: cmd, err: make(chan error, 1)}
	s.spawn <- req
	err = <-req.err
	wr.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("supervisor: starting worker %d: %w", w.index, err)
	}
	p := &proc{cmd: cmd, started: time.Now(), report: make(chan Report, 1), done: make(chan struct{})}
	go func() {
		defer r.Close()
		if rep, err := readReport(r); err == nil {
			p.report <- rep
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	w.proc = p
	stopping := s.stopping
	s.mu.Unlock()
	if stopping { // started as Shutdown began: it stops too
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	s.log.Info("worker started", "worker", w.index, "pid", cmd.Process.Pid)
	return p, nil
}

// loop keeps w's slot filled until Shutdown, starting from p (nil: start
// one).
func (s *Supervisor) loop(w *worker, p *proc) {
	defer s.loops.Done()
	backoff := MinBackoff
	for {
		if p == nil {
			var err error
			if p, err = s.launch(w); err != nil {
				s.log.Error("worker not started", "worker", w.index, "err", err, "retry_in", backoff.String())
			}
		}
		if p != nil {
			report := p.report
		wait:
			for {
				select {
				case r := <-report:
					s.serving(w, r)
					report = nil
				case <-p.done:
					break wait
				}
			}
			s.mu.Lock()
			w.proc, w.reported, w.metrics = nil, false, ""
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				s.log.Info("worker stopped", "worker", w.index, "pid", p.cmd.Process.Pid, "status", p.cmd.ProcessState.String())
				return
			}
			up := time.Since(p.started)
			if up >= StableAfter {
				backoff = MinBackoff
			}
			s.log.Warn("worker died; restarting it", "worker", w.index, "pid", p.cmd.Process.Pid,
				"cause", p.cmd.ProcessState.String(), "uptime", up.Round(time.Millisecond).String(), "restart_in", backoff.String())
			s.restarts.WithLabelValues(strconv.Itoa(w.index)).Inc()
			p = nil
		}
		select {
		case <-time.After(backoff):
		case <-s.stopCh:
			return
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// serving records that w's process reported r.
func (s *Supervisor) serving(w *worker, r Report) {
	s.mu.Lock()
	w.reported, w.metrics = true, r.Metrics
	s.mu.Unlock()
}

// running returns the workers whose process has reported and not died,
// with their metrics addresses.
func (s *Supervisor) running() []worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []worker
	for _, w := range s.workers {
		if w.proc != nil && w.reported {
			out = append(out, worker{index: w.index, metrics: w.metrics})
		}
	}
	return out
}

// Signal sends sig to every running worker: SIGHUP to reload, for
// instance. Use Shutdown to stop them.
func (s *Supervisor) Signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		if w.proc != nil {
			_ = w.proc.cmd.Process.Signal(sig)
		}
	}
}

// Shutdown stops restarting workers, sends each SIGTERM (a graceful stop)
// and waits for them to exit. When ctx ends first it kills those left with
// SIGKILL, waits for them and returns ErrKilled. Call it once.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	close(s.stopCh)
	s.mu.Unlock()
	s.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.Signal(syscall.SIGKILL)
		<-done
		err = ErrKilled
	}
	s.stopSpawner()
	return err
}
