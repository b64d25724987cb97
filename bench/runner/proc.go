package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/bench/servers"
	"github.com/wssd/wssd/internal/procstat"
)

// Build compiles benchd and loadgen from the bench module in modDir into
// binDir, and the wssd binary from the root module, its parent directory
// (with the root's go.mod: the binary users run).
func Build(ctx context.Context, modDir, binDir string) error {
	for _, b := range []struct{ name, dir string }{{"benchd", modDir}, {"loadgen", modDir}, {"wssd", filepath.Join(modDir, "..")}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, b.name), "./cmd/"+b.name)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.name, err, out)
		}
	}
	return nil
}

// ready is benchd's first line.
type ready struct {
	Server string `json:"server"`
	Addr   string `json:"addr"`
	Stats  string `json:"stats"`
	PID    int    `json:"pid"`
}

// serverStats is benchd's /stats.
type serverStats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	Conns      int    `json:"conns"`
}

// server is a running benchd.
type server struct {
	cmd   *exec.Cmd
	ready ready
	// front is nginx terminating TLS in front of benchd, or nil.
	front *nginxProc
	// noStats: not a benchd (centrifugo), with no /stats: its Go runtime's
	// figures read as zero and its live heap is not read.
	noStats bool
	// tree: the wssd binary, whose children (its workers under -procs)
	// count with it; metrics is its operations endpoint.
	tree    bool
	metrics string
	dir     string // removed at stop, if set
}

// target starts the server info names for transport tr, on a free port with
// the run's ping interval, and says how clients reach it. "nginx" is wssd's
// ws with nginx terminating TLS in front of it.
func (r *run) target(ctx context.Context, info servers.Info, tr string, d deflate) (*server, clientSpec, error) {
	name, backTr := info.Name, tr
	if info.Front {
		name, backTr = "wssd", "ws"
	}
	var s *server
	var err error
	if info.External {
		s, err = r.startCentrifugo(ctx, tr)
	} else {
		s, err = r.startServer(ctx, name, backTr, "127.0.0.1:0", false, r.cfg.PingInterval, d != deflateNone)
	}
	if err != nil {
		return nil, clientSpec{}, err
	}
	sp := clientSpec{addr: s.ready.Addr, tls: tr == "wss", proto: protoOf(info), conc: r.cfg.ConnectConcurrency, deflate: d == deflateOn}
	switch {
	case info.External:
		sp.path = load.CentrifugoPath
		sp.trigger = s.centrifugoTrigger(tr)
	case info.Push:
		sp.path = "/app/" + servers.PushAppKey + "?protocol=7"
		sp.trigger = r.triggerArgs(s, tr)
	}
	if info.Front {
		if s.front, err = r.startNginx(ctx, s.ready.Addr); err != nil {
			s.stop()
			return nil, clientSpec{}, err
		}
		sp.addr, sp.path = s.front.addr, nginxPath
	}
	return s, sp, nil
}

// pids are the server's processes: benchd, and nginx's master and
// workers; the wssd binary and its workers.
func (s *server) pids() []int {
	pids := []int{s.pid()}
	if s.front != nil {
		pids = append(pids, s.front.pids()...)
	}
	if s.tree {
		pids = append(pids, procstat.Children(s.pid())...)
	}
	return pids
}

// rss is the resident memory of all the server's processes.
func (s *server) rss() int64 {
	var n int64
	for _, p := range s.pids() {
		n += procRSS(p)
	}
	return n
}

// startServer starts benchd, accepting permessage-deflate if compress;
// env is added to its environment.
func (r *run) startServer(ctx context.Context, name, transport, listen string, reusePort bool, ping time.Duration, compress bool, env ...string) (*server, error) {
	args := []string{"-server", name, "-listen", listen, "-ping-interval", ping.String()}
	if compress {
		args = append(args, "-compression")
	}
	if transport == "wss" {
		args = append(args, "-tls-cert", r.certFile, "-tls-key", r.keyFile)
	}
	if reusePort {
		args = append(args, "-reuseport")
	}
	cmd := exec.Command(filepath.Join(r.bin, "benchd"), args...)
	cmd.Env = append(append(os.Environ(), "GOGC="+r.cfg.GOGC), env...)
	cmd.Stderr = r.logWriter(name + "/" + transport)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), `{"server"`) {
				lines <- sc.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &s.ready); err != nil {
			s.stop()
			return nil, err
		}
		return s, nil
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("benchd %s %s did not start", name, transport)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stats() (serverStats, error) { return s.statsAfter("") }

// liveHeap returns the server's Go heap found live by a collection it runs
// now.
func (s *server) liveHeap() (uint64, error) {
	st, err := s.statsAfter("?gc=1")
	return st.HeapAlloc, err
}

func (s *server) statsAfter(query string) (serverStats, error) {
	var st serverStats
	if s.noStats {
		return st, nil
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.ready.Stats + "/stats" + query)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// profile writes a CPU profile of d to file.
func (s *server) profile(d time.Duration, file string) error {
	c := http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.ready.Stats, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop ends the server, nginx first: SIGTERM, then SIGKILL after a few
// seconds.
func (s *server) stop() {
	if s.front != nil {
		s.front.stop()
	}
	grace := 3 * time.Second
	if s.tree { // the supervisor waits for its workers' shutdown
		grace = 10 * time.Second
	}
	stopProcess(s.cmd, grace)
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// client is a running loadgen that keeps connections.
type client struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// clientSpec says how loadgen processes connect.
type clientSpec struct {
	addr  string
	path  string // the upgrade request's; empty: "/"
	tls   bool
	proto load.Proto
	rbuf  int
	conc  int
	env   []string // added to each loadgen's environment
	// deflate offers permessage-deflate.
	deflate bool
	// trigger are loadgen's -trigger arguments: where a push server's
	// events are published.
	trigger []string
}

func (sp clientSpec) args() []string {
	a := []string{"-addr", sp.addr, "-proto", sp.proto.String(), "-rbuf", fmt.Sprint(max(sp.rbuf, 2048))}
	if sp.path != "" {
		a = append(a, "-path", sp.path)
	}
	if sp.tls {
		a = append(a, "-tls")
	}
	if sp.deflate {
		a = append(a, "-deflate")
	}
	return append(a, sp.trigger...)
}

// loadgen returns the command of the i-th loadgen process for sp, with
// extra arguments; ctx ending kills it.
func (r *run) loadgen(ctx context.Context, sp clientSpec, i int, extra ...string) *exec.Cmd {
	args := append(sp.args(), "-src", source(i))
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, "loadgen"), append(args, extra...)...)
	cmd.Env = append(os.Environ(), sp.env...)
	cmd.Stderr = r.logWriter("loadgen")
	return cmd
}

// sourcesPerClient is how many source addresses each loadgen dials from,
// in turn. The kernel picks a connection's ephemeral port by walking the
// ports of its source address from an offset until one is free, so that
// the walk grows with the ports in use there: with 15,000 connections on
// one address, __inet_check_established was a third of the clients' CPU
// at 470,000 connections (push-scale).
const sourcesPerClient = 4

// source returns the i-th loadgen's source addresses, comma-separated:
// 127.0.0.2 onwards, sourcesPerClient each, none shared.
func source(i int) string {
	addrs := make([]string, sourcesPerClient)
	for j := range addrs {
		n := i*sourcesPerClient + j + 2
		addrs[j] = fmt.Sprintf("127.0.%d.%d", n/250, n%250)
	}
	return strings.Join(addrs, ",")
}

// openClients starts enough loadgen processes for n connections and waits
// until each has opened its share (or given up).
func (r *run) openClients(ctx context.Context, sp clientSpec, n int) ([]*client, load.Result, error) {
	k := max(1, (n+r.cfg.ConnsPerClient-1)/r.cfg.ConnsPerClient)
	var (
		clients []*client
		total   load.Result
		mu      sync.Mutex
		wg      sync.WaitGroup
		errs    []error
	)
	hist := load.NewHist()
	for i := range k {
		share := n / k
		if i < n%k {
			share++
		}
		// The processes outlive ctx, which only bounds the opening.
		cmd := r.loadgen(context.Background(), sp, i, "-conns", fmt.Sprint(share), "-concurrency", fmt.Sprint(max(1, sp.conc/k)))
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, total, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, total, err
		}
		if err := cmd.Start(); err != nil {
			return nil, total, err
		}
		c := &client{cmd: cmd, in: in, out: bufio.NewScanner(out)}
		c.out.Buffer(make([]byte, 64<<10), 16<<20)
		clients = append(clients, c)
		wg.Go(func() {
			res, err := c.read()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			addResult(&total, hist, res)
		})
	}
	waitOrCancel(ctx, &wg, func() {
		for _, c := range clients {
			_ = c.cmd.Process.Signal(syscall.SIGUSR1)
		}
	})
	total.Lat = load.EncodeHist(hist)
	if total.Conns == 0 {
		closeClients(clients)
		return nil, total, fmt.Errorf("no connection opened: %v %s", errors.Join(errs...), total.LastError)
	}
	return clients, total, nil
}

// waitOrCancel waits for wg; if ctx ends first it calls cancel and keeps
// waiting.
func waitOrCancel(ctx context.Context, wg *sync.WaitGroup, cancel func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
	}
}

func (c *client) read() (load.Result, error) {
	var res load.Result
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return res, err
		}
		return res, io.ErrUnexpectedEOF
	}
	return res, json.Unmarshal(c.out.Bytes(), &res)
}

// command sends cmd and reads the answer.
func (c *client) command(cmd string) (load.Result, error) {
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return load.Result{}, err
	}
	return c.read()
}

// broadcastCommand sends cmd to every client at once and collects the
// answers in order.
func broadcastCommand(clients []*client, cmd string) ([]load.Result, error) {
	res := make([]load.Result, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { res[i], errs[i] = c.command(cmd) })
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

func closeClients(clients []*client) {
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			_, _ = io.WriteString(c.in, "quit\n")
			_ = c.in.Close()
			done := make(chan struct{})
			go func() { _ = c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
}

// churn runs loadgen -churn in k processes and sums their results.
func (r *run) churn(ctx context.Context, sp clientSpec, n, k int, d time.Duration) (load.Result, error) {
	var (
		total load.Result
		mu    sync.Mutex
		wg    sync.WaitGroup
		errs  []error
	)
	hist := load.NewHist()
	for i := range k {
		cmd := r.loadgen(ctx, sp, i, "-churn", fmt.Sprint(n/k), "-duration", d.String(),
			"-concurrency", fmt.Sprint(max(1, sp.conc/k)))
		wg.Go(func() {
			out, err := cmd.Output()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			var res load.Result
			if err := json.Unmarshal(out, &res); err != nil {
				errs = append(errs, err)
				return
			}
			addResult(&total, hist, res)
		})
	}
	wg.Wait()
	total.Lat = load.EncodeHist(hist)
	return total, errors.Join(errs...)
}

// logWriter returns where a child's standard error goes, each line
// prefixed.
func (r *run) logWriter(prefix string) io.Writer {
	return &prefixWriter{w: r.log, prefix: prefix + ": "}
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// merge sums the load generators' results of one command; the latencies
// are merged into one histogram.
func merge(res []load.Result) (load.Result, *hdrhistogram.Histogram) {
	var total load.Result
	hist := load.NewHist()
	for _, x := range res {
		addResult(&total, hist, x)
	}
	return total, hist
}

// addResult adds one load generator's result to the run's total; the
// latencies go into hist, merged across processes.
func addResult(total *load.Result, hist *hdrhistogram.Histogram, res load.Result) {
	total.Conns += res.Conns
	total.Failed += res.Failed
	total.Errors += res.Errors
	total.Msgs += res.Msgs
	total.Sent += res.Sent
	total.Seconds = max(total.Seconds, res.Seconds)
	total.CPUSeconds += res.CPUSeconds
	total.Deflated += res.Deflated
	total.Compressed += res.Compressed
	if res.LastError != "" {
		total.LastError = res.LastError
	}
	hist.Merge(res.Lat.Decode())
}
