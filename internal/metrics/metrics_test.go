package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/metrics"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestEndpoints: /healthz always answers 200; /readyz 503 before Start, 200
// while serving, 503 once Shutdown has begun; unknown paths 404.
func TestEndpoints(t *testing.T) {
	srv, err := engine.New(engine.Config{PingInterval: -1}, engine.NopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(metrics.New(srv).Handler())
	defer ts.Close()
	check := func(stage string, want map[string]int) {
		t.Helper()
		for path, status := range want {
			if got := wstest.HTTPStatus(t, ts.URL+path); got != status {
				t.Errorf("%s: GET %s = %d, want %d", stage, path, got, status)
			}
		}
	}
	check("before Start", map[string]int{"/healthz": 200, "/readyz": 503, "/metrics": 200, "/": 404})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	check("serving", map[string]int{"/healthz": 200, "/readyz": 200})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	check("after Shutdown", map[string]int{"/healthz": 200, "/readyz": 503, "/metrics": 200})
}

// TestEngineSeries: the engine's series follow what a client does, over ws
// and wss, and their names pass Prometheus's own lint.
func TestEngineSeries(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		srv := wstest.StartServer(t, tr, engine.Config{Path: "/wss", PingInterval: -1}, echo{}, 5*time.Second)
		reg := metrics.New(srv)
		opts := wstest.DialOptions{Path: "/wss"}
		if tr.TLS {
			opts.TLS = testpki.Get().ClientConfig()
		}
		c, err := wstest.Dial(srv.Addr().String(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 2 {
			if err := c.Write(wstest.Message(wsproto.OpBinary, []byte("hello"))); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(2 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		opts.Path = "/nope"
		refused, err := wstest.Dial(srv.Addr().String(), opts)
		if err == nil {
			t.Fatal("upgraded a path not served")
		}
		refused.Close()
		for end := time.Now().Add(5 * time.Second); srv.Stats().UpgradeRefused[404] == 0 && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		want := `
# HELP wssd_connections_open WebSocket connections open: upgraded and not yet closed.
# TYPE wssd_connections_open gauge
wssd_connections_open 1
# HELP wssd_messages_received_total Data messages received (delivered to the application).
# TYPE wssd_messages_received_total counter
wssd_messages_received_total 2
# HELP wssd_messages_sent_total Data messages queued for sending.
# TYPE wssd_messages_sent_total counter
wssd_messages_sent_total 2
# HELP wssd_upgrades_refused_total Upgrade requests answered with an HTTP error, by status.
# TYPE wssd_upgrades_refused_total counter
wssd_upgrades_refused_total{class="4xx",status="404"} 1
`
		if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want),
			"wssd_connections_open", "wssd_messages_received_total", "wssd_messages_sent_total", "wssd_upgrades_refused_total"); err != nil {
			t.Fatal(err)
		}
		n, err := testutil.GatherAndCount(reg.Gatherer(), "wssd_connections_closed_total", "wssd_connections_refused_total")
		if err != nil || n != 8+8 {
			t.Fatalf("%d series of closes and refusals (%v), want one per cause and per reason", n, err)
		}
		problems, err := testutil.GatherAndLint(reg.Gatherer())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if strings.HasPrefix(p.Metric, metrics.Prefix) {
				t.Errorf("lint: %s: %s", p.Metric, p.Text)
			}
		}
	})
}

// TestRegisterer: what another component registers is served under the
// wssd_ prefix beside the engine's, and a name taken twice is refused.
func TestRegisterer(t *testing.T) {
	srv, err := engine.New(engine.Config{}, engine.NopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New(srv)
	webhooks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "webhook_deliveries_total", Help: "Webhook deliveries, by outcome."}, []string{"outcome"})
	if err := reg.Registerer().Register(webhooks); err != nil {
		t.Fatal(err)
	}
	webhooks.WithLabelValues("ok").Add(3)
	if err := reg.Registerer().Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "webhook_deliveries_total", Help: "again"})); err == nil {
		t.Fatal("a name registered twice was accepted")
	}
	if err := reg.Registerer().Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "connections_open", Help: "the engine's"})); err == nil {
		t.Fatal("the engine's name was taken again")
	}
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, line := range []string{`wssd_webhook_deliveries_total{outcome="ok"} 3`, "wssd_connections_open 0", "go_goroutines "} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

type echo struct{ engine.NopHandler }

func (echo) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) { _ = c.Send(typ, data) }
