package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestBinaryMetrics scrapes the binary's /metrics as Prometheus would,
// around an upgrade, echoes and a refused path, and checks /healthz and
// /readyz, which says 503 as soon as SIGTERM begins the shutdown.
func TestBinaryMetrics(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		args := []string{"-mode", "echo", "-path", "/wss"}
		opts := wstest.DialOptions{Path: "/wss"}
		if tr.TLS {
			args = append(args, "-tls-dev", t.TempDir())
			opts.TLS = &tls.Config{InsecureSkipVerify: true}
		}
		p := startWSSD(t, args...)
		base := strings.TrimSuffix(p.metrics, "/metrics")
		if !strings.HasPrefix(p.metrics, "http://127.0.0.1:") {
			t.Fatalf("metrics URL %q", p.metrics)
		}
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/other": 404} {
			if got := wstest.HTTPStatus(t, base+path); got != want {
				t.Fatalf("GET %s: %d, want %d", path, got, want)
			}
		}
		before := scrape(t, p.metrics)
		for name, want := range map[string]float64{
			`wssd_serving`:                                1,
			`wssd_connections_open`:                       0,
			`wssd_connections_accepted_total`:             0,
			`wssd_connections_closed_total{cause="peer"}`: 0,
		} {
			if got, ok := before[name]; !ok || got != want {
				t.Fatalf("before any connection: %s = %v (present %v), want %v", name, got, ok, want)
			}
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
			if before[name] <= 0 {
				t.Fatalf("%s = %v: the Go and process collectors are missing", name, before[name])
			}
		}

		c, err := wstest.Dial(p.addr, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 3 {
			echoOnce(t, c, "tom")
		}
		refusedOpts := opts
		refusedOpts.Path = "/other"
		refused, err := wstest.Dial(p.addr, refusedOpts)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("path not served: %v", err)
		}
		refused.Close()
		var after map[string]float64
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			// The refused connection is counted once the server read its request.
			if after = scrape(t, p.metrics); after[`wssd_upgrades_refused_total{class="4xx",status="404"}`] == 1 {
				break
			}
		}
		for name, want := range map[string]float64{
			`wssd_connections_open`:                                      1,
			`wssd_connections_accepted_total`:                            2,
			`wssd_connections_upgraded_total`:                            1,
			`wssd_messages_received_total`:                               3,
			`wssd_messages_sent_total`:                                   3,
			`wssd_connections_refused_total{reason="upgrade"}`:           1,
			`wssd_upgrades_refused_total{class="4xx",status="404"}`:      1,
			`wssd_connections_refused_total{reason="handshake_timeout"}`: 0,
		} {
			if got := after[name]; got != want {
				t.Fatalf("after 3 echoes and a 404: %s = %v, want %v", name, got, want)
			}
		}
		if min(after["wssd_received_bytes_total"], after["wssd_sent_bytes_total"]) < 3*float64(len("tom")) {
			t.Fatalf("bytes: %v in, %v out", after["wssd_received_bytes_total"], after["wssd_sent_bytes_total"])
		}

		// SIGTERM: the server sends 1001 and waits for the closing
		// handshake, which this client delays; meanwhile it is not ready.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, _, err := c.ReadClose(5 * time.Second); err != nil || code != wsproto.CloseGoingAway {
			t.Fatalf("on SIGTERM: close %v %v, want 1001", code, err)
		}
		if got := wstest.HTTPStatus(t, base+"/readyz"); got != http.StatusServiceUnavailable {
			t.Fatalf("GET /readyz during shutdown: %d, want 503", got)
		}
		if got := wstest.HTTPStatus(t, base+"/healthz"); got != http.StatusOK {
			t.Fatalf("GET /healthz during shutdown: %d, want 200", got)
		}
		if m := scrape(t, p.metrics); m["wssd_serving"] != 0 || m["wssd_connections_open"] != 1 {
			t.Fatalf("during shutdown: serving %v, open %v", m["wssd_serving"], m["wssd_connections_open"])
		}
		_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
		p.next("stopped")
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("wssd exited with %v after SIGTERM", err)
		}
	})
}

// TestBinaryMetricsOff: -metrics-listen "" serves no endpoint, and a
// metrics address in use stops wssd before it takes clients.
func TestBinaryMetricsOff(t *testing.T) {
	p := startWSSD(t, "-metrics-listen", "")
	if p.metrics != "" {
		t.Fatalf("-metrics-listen '' still serves %s", p.metrics)
	}
	busy := startWSSD(t)
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-listen", "127.0.0.1:0", "-metrics-listen", strings.TrimPrefix(strings.TrimSuffix(busy.metrics, "/metrics"), "http://")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-metrics-listen") {
		t.Fatalf("metrics address in use: exit %v, output %s", err, out)
	}
}

// scrape reads url as Prometheus does and returns each sample by its
// series, labels sorted by name: `name{a="x",b="y"}`.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := make(map[string]float64)
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("parsing %s: %v", url, err)
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+strconv.Quote(lp.GetValue()))
			}
			name := mf.GetName()
			if len(labels) > 0 {
				slices.Sort(labels)
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[name] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[name] = m.GetUntyped().GetValue()
			}
		}
	}
}
