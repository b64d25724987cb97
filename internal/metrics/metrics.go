// Package metrics is wssd's operations endpoint: Prometheus metrics of an
// engine.Server, and of whatever else registers beside it, with a liveness
// and a readiness check, on one http.Handler.
//
// # Metrics
//
// [New] makes a registry of wssd's own (never Prometheus's global default
// one) holding the Go runtime and process collectors and a collector that
// reads [engine.Server.Stats] at scrape time: nothing is counted twice, and
// the engine's hot path knows nothing of Prometheus. Its series are named
// wssd_*, with the unit in the name (_bytes_total, _seconds) and only
// bounded labels: cause, reason, status and status class, never anything
// per client.
//
// # Other collectors
//
// Other parts of wssd (the push server's channels, subscriptions, API calls
// and webhooks) add theirs through [Registry.Registerer], which prefixes
// every name with wssd_: they register once, when they are built, and the
// same /metrics serves them. A collector that reads its component's own
// counters at scrape time, as the engine's does, keeps its hot path free of
// Prometheus; counters and histograms of client_golang updated where events
// happen are fine off the event loop. Labels must stay bounded there too:
// an app id from the configuration is, a channel name or a user id is not.
//
// # Endpoints
//
// [Registry.Handler] serves /metrics, /healthz (200 while the process
// runs) and /readyz (200 while the server accepts connections, 503 before
// Start and once Shutdown has begun, so that a load balancer stops sending
// new clients while the old ones are closed). It is meant for a listener of
// its own, on loopback or a private network: nothing on it is
// authenticated.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wssd/wssd/engine"
)

// Prefix begins the name of every series wssd exports, but the Go
// runtime's (go_*) and the process's (process_*).
const Prefix = "wssd_"

// Registry is a Prometheus registry of wssd's own and the operations
// endpoint that serves it. Its methods are safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry
	srv *engine.Server
}

// New returns a registry that collects srv's Stats at every scrape, beside
// the Go runtime and process collectors. srv may not have started yet:
// until it has, its counters are zero and /readyz answers 503.
func New(srv *engine.Server) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), srv: srv}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r.Registerer().MustRegister(newEngineCollector(srv))
	return r
}

// Registerer returns where other parts of wssd register their collectors.
// Every name registered through it is prefixed with [Prefix]: register
// "channels", export wssd_channels. Registering a name twice fails, as
// prometheus.Registerer says.
func (r *Registry) Registerer() prometheus.Registerer {
	return prometheus.WrapRegistererWithPrefix(Prefix, r.reg)
}

// Gatherer returns the registry for reading, as a scrape of /metrics does
// (client_golang's testutil takes it).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler returns the operations endpoint: /metrics, /healthz and /readyz.
// Any other path gets 404.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		// A scrape in flight when another arrives is shared, not run twice.
		CoalesceGather: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if r.srv.Stats().Serving {
			writeStatus(w, http.StatusOK, "ready")
			return
		}
		writeStatus(w, http.StatusServiceUnavailable, "not serving: starting, shutting down or stopped")
	})
	return mux
}

func writeStatus(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// engineCollector exports an engine.Server's Stats, read at each scrape.
type engineCollector struct {
	srv *engine.Server

	serving, open, admitted               *prometheus.Desc
	accepted, upgraded, closed, refused   *prometheus.Desc
	upgradeRefused, delayed, acceptErrors *prometheus.Desc
	msgsIn, msgsInZ, msgsOut, msgsOutZ    *prometheus.Desc
	bufferFull, bytesIn, bytesOut         *prometheus.Desc
}

// The names are without Prefix: the collector is registered through
// Registry.Registerer.
func newEngineCollector(srv *engine.Server) *engineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &engineCollector{
		srv:            srv,
		serving:        d("serving", "1 while the server accepts connections, 0 before Start and once Shutdown has begun."),
		open:           d("connections_open", "WebSocket connections open: upgraded and not yet closed."),
		admitted:       d("connections_admitted", "Connections admitted and not yet closed, upgraded or not: what -max-conns bounds."),
		accepted:       d("connections_accepted_total", "TCP connections accepted, those then refused included."),
		upgraded:       d("connections_upgraded_total", "Connections upgraded to WebSocket."),
		closed:         d("connections_closed_total", "Upgraded connections closed, by cause: peer and app began the closing handshake, buffer_full is the app dropping a peer that does not read, transport is a connection that ended without one.", "cause"),
		refused:        d("connections_refused_total", "Connections refused before or during the upgrade, by reason.", "reason"),
		upgradeRefused: d("upgrades_refused_total", "Upgrade requests answered with an HTTP error, by status.", "class", "status"),
		delayed:        d("accept_delayed_total", "Connections held back by -accept-rate, served later."),
		acceptErrors:   d("accept_errors_total", "Failures of accept(2) (other than running out of file descriptors) and of hand-overs to an event loop."),
		msgsIn:         d("messages_received_total", "Data messages received (delivered to the application)."),
		msgsInZ:        d("messages_received_compressed_total", "Data messages received compressed (permessage-deflate); also counted in messages_received_total."),
		msgsOut:        d("messages_sent_total", "Data messages queued for sending."),
		msgsOutZ:       d("messages_sent_compressed_total", "Data messages queued compressed (permessage-deflate); also counted in messages_sent_total."),
		bufferFull:     d("send_buffer_full_total", "Data messages refused because the connection's send queue was full."),
		bytesIn:        d("received_bytes_total", "Bytes read from upgraded connections after the upgrade request: TLS records for wss."),
		bytesOut:       d("sent_bytes_total", "Bytes written to upgraded connections after the 101 response: TLS records for wss."),
	}
}

func (e *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		e.serving, e.open, e.admitted, e.accepted, e.upgraded, e.closed, e.refused,
		e.upgradeRefused, e.delayed, e.acceptErrors, e.msgsIn, e.msgsInZ, e.msgsOut,
		e.msgsOutZ, e.bufferFull, e.bytesIn, e.bytesOut,
	} {
		ch <- d
	}
}

func (e *engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := e.srv.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	serving := 0.0
	if st.Serving {
		serving = 1
	}
	gauge(e.serving, serving)
	gauge(e.open, float64(st.Open))
	gauge(e.admitted, float64(st.Admitted))
	counter(e.accepted, st.Accepted)
	counter(e.upgraded, st.Upgraded)
	for cause, n := range st.Closes {
		counter(e.closed, n, engine.CloseCause(cause).String())
	}
	for reason, n := range st.Refused {
		counter(e.refused, n, engine.RefusalReason(reason).String())
	}
	for status, n := range st.UpgradeRefused {
		class := "other"
		if status >= 100 {
			class = strconv.Itoa(status/100) + "xx"
		}
		counter(e.upgradeRefused, n, class, strconv.Itoa(status))
	}
	counter(e.delayed, st.AcceptDelayed)
	counter(e.acceptErrors, st.AcceptErrors)
	counter(e.msgsIn, st.MessagesIn)
	counter(e.msgsInZ, st.CompressedIn)
	counter(e.msgsOut, st.MessagesOut)
	counter(e.msgsOutZ, st.CompressedOut)
	counter(e.bufferFull, st.BufferFull)
	counter(e.bytesIn, st.BytesIn)
	counter(e.bytesOut, st.BytesOut)
}
