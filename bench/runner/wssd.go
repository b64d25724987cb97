package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wssd/wssd/bench/servers"
	"github.com/wssd/wssd/internal/procstat"
)

// The wssd binary itself (cmd/wssd, built from the root module by Build)
// runs the cluster scenarios: its push mode with -procs, a supervisor
// running the embedded NATS server and its workers, each a child process.

// startWssd starts the wssd binary in push mode with procs workers (1: a
// single process, no supervisor, no NATS) on wss with the run's
// certificate, the push server's app, pings every ping, and its metrics on
// a free loopback port; env is added to its environment (the supervisor
// hands its own to the workers). It returns once /readyz answers 200:
// with procs > 1, once every worker serves.
func (r *run) startWssd(ctx context.Context, procs int, ping time.Duration, env ...string) (*server, error) {
	c := servers.PushCredentials()
	args := []string{"-mode", "push", "-procs", strconv.Itoa(procs), "-listen", "127.0.0.1:0",
		"-tls-cert", r.certFile, "-tls-key", r.keyFile,
		"-app-id", c.ID, "-app-key", c.Key, "-app-secret", c.Secret,
		"-metrics-listen", "127.0.0.1:0", "-ping-interval", ping.String(),
		"-log-format", "json", "-shutdown-timeout", "2s"}
	dir := ""
	if procs > 1 { // the embedded NATS server's JetStream store, not the user's
		var err error
		if dir, err = os.MkdirTemp("", "wssd-bench-nats-"); err != nil {
			return nil, err
		}
		args = append(args, "-nats-store", dir)
	}
	cmd := exec.Command(filepath.Join(r.bin, "wssd"), args...)
	cmd.Env = append(append(os.Environ(), "GOGC="+r.cfg.GOGC), env...)
	name := fmt.Sprintf("wssd -procs %d", procs)
	cmd.Stderr = r.logWriter(name)
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	s := &server{cmd: cmd, noStats: true, tree: true, dir: dir}
	found, exited := make(chan wssdReady, 1), make(chan struct{})
	go func() {
		defer close(exited)
		// Warnings and errors go to the run's log; the rest is read for
		// the addresses and dropped.
		warn := r.logWriter(name)
		var rd wssdReady
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if !rd.complete() && rd.read(sc.Bytes()) && rd.complete() {
				found <- rd
			}
			if logLevel(sc.Bytes()) >= 4 { // WARN, ERROR
				fmt.Fprintf(warn, "%s\n", sc.Bytes())
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	deadline := time.After(30*time.Second + time.Duration(procs)*2*time.Second)
	select {
	case rd := <-found:
		s.ready.Addr, s.metrics, s.ready.PID = rd.addr, rd.metrics, cmd.Process.Pid
	case <-exited:
		s.stop()
		return nil, fmt.Errorf("%s exited before it served (its log is above)", name)
	case <-deadline:
		s.stop()
		return nil, fmt.Errorf("%s did not start", name)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	for {
		if err := s.readyz(); err == nil {
			return s, nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			s.stop()
			return nil, fmt.Errorf("%s: not ready: %v", name, s.readyz())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		}
	}
}

// wssdReady is what the wssd binary's log says of where it serves.
type wssdReady struct {
	addr    string // the WebSocket port, as 127.0.0.1:PORT
	metrics string // the operations endpoint's host:port
}

func (rd wssdReady) complete() bool { return rd.addr != "" && rd.metrics != "" }

// read takes what it needs from one line of the binary's JSON log: the
// first "wssd listening" (a single process's, or the first worker's:
// every worker binds the same port) gives the port, "metrics listening"
// (the supervisor's, or a single process's) the operations endpoint. It
// reports whether the line was one of them.
func (rd *wssdReady) read(line []byte) bool {
	var l struct {
		Msg    string `json:"msg"`
		URL    string `json:"url"`
		Worker *int   `json:"worker"`
	}
	if json.Unmarshal(line, &l) != nil || l.URL == "" {
		return false
	}
	u, err := url.Parse(l.URL)
	if err != nil {
		return false
	}
	switch {
	case l.Msg == "wssd listening" && rd.addr == "":
		if _, err := strconv.ParseUint(u.Port(), 10, 16); err != nil {
			return false
		}
		rd.addr = net.JoinHostPort("127.0.0.1", u.Port())
	case l.Msg == "metrics listening" && l.Worker == nil:
		rd.metrics = u.Host
	default:
		return false
	}
	return true
}

// logLevel returns a JSON log line's level as slog orders them (DEBUG -4,
// INFO 0, WARN 4, ERROR 8); a line that is not one reads as ERROR, so
// that it is shown.
func logLevel(line []byte) int {
	var l struct {
		Level string `json:"level"`
	}
	if json.Unmarshal(line, &l) != nil {
		return 8
	}
	switch l.Level {
	case "DEBUG":
		return -4
	case "INFO":
		return 0
	case "WARN":
		return 4
	}
	return 8
}

func (s *server) readyz() error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.metrics + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("/readyz: %s %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// workers are the processes that hold the connections: the supervisor's
// children, or, with no child, the process itself (-procs 1).
func (s *server) workers() []int {
	if kids := procstat.Children(s.pid()); len(kids) > 0 {
		return kids
	}
	return []int{s.pid()}
}

// workersRSS is the workers' VmRSS summed: what top shows for them.
func (s *server) workersRSS() int64 {
	var n int64
	for _, p := range s.workers() {
		n += procRSS(p)
	}
	return n
}

// clusterFigures reads the binary's /metrics (the supervisor's merges its
// workers').
func (s *server) clusterFigures() (ClusterFigures, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		return ClusterFigures{}, err
	}
	defer resp.Body.Close()
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return ClusterFigures{}, err
	}
	return m.figures(), nil
}

// workerMetrics are the values of a wssd /metrics page: by series name,
// then by the worker label the supervisor adds ("" for a single
// process's), summed over the series' other labels; and for each of those
// labels' values, under labeled(name, label, value), summed over the rest.
type workerMetrics map[string]map[string]float64

// labeled is the key of a series' values with label set to value.
func labeled(name, label, value string) string {
	return name + "{" + label + "=" + strconv.Quote(value) + "}"
}

// byLabel is the series summed over the workers for each value of label,
// the values without series left out.
func (m workerMetrics) byLabel(name, label string) map[string]int64 {
	prefix := labeled(name, label, "")
	prefix = prefix[:len(prefix)-len(`""}`)]
	out := map[string]int64{}
	for k := range m {
		if v, ok := strings.CutPrefix(k, prefix); ok {
			if value, err := strconv.Unquote(strings.TrimSuffix(v, "}")); err == nil {
				out[value] = int64(m.total(k))
			}
		}
	}
	return out
}

// parseMetrics reads a Prometheus text exposition.
func parseMetrics(r io.Reader) (workerMetrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := workerMetrics{}
	for name, mf := range mfs {
		byWorker := map[string]float64{}
		for _, m := range mf.GetMetric() {
			w := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "worker" {
					w = l.GetValue()
				}
			}
			byWorker[w] += value(m)
			for _, l := range m.GetLabel() {
				if l.GetName() != "worker" {
					k := labeled(name, l.GetName(), l.GetValue())
					if out[k] == nil {
						out[k] = map[string]float64{}
					}
					out[k][w] += value(m)
				}
			}
		}
		out[name] = byWorker
	}
	return out, nil
}

// value is a gauge's, counter's or untyped series' value; 0 for others.
func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// total is the series summed over the workers.
func (m workerMetrics) total(name string) float64 {
	var t float64
	for _, v := range m[name] {
		t += v
	}
	return t
}

// perWorker is the series of each worker, ordered by worker index.
func (m workerMetrics) perWorker(name string) []float64 {
	ws := make([]string, 0, len(m[name]))
	for w := range m[name] {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	out := make([]float64, len(ws))
	for i, w := range ws {
		out[i] = m[name][w]
	}
	return out
}

func (m workerMetrics) figures() ClusterFigures {
	f := ClusterFigures{
		Conns:         int(m.total("wssd_connections_open")),
		Published:     int64(m.total("wssd_cluster_published_total")),
		Received:      int64(m.total("wssd_cluster_received_total")),
		Dropped:       int64(m.total("wssd_cluster_publish_dropped_total") + m.total("wssd_cluster_receive_dropped_total")),
		Subscriptions: int64(m.total("wssd_cluster_subscriptions")),
		Closed:        m.byLabel("wssd_connections_closed_total", "cause"),
		SendsRefused:  int64(m.total("wssd_send_buffer_full_total")),
	}
	if per := m.perWorker("wssd_connections_open"); len(per) > 1 {
		for _, v := range per {
			f.PerWorker = append(f.PerWorker, int(v))
		}
	}
	return f
}
