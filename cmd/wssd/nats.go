package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// natsOptions is how a process connects to NATS: -nats-url and the
// credentials and TLS flags beside it.
type natsOptions struct {
	urls           []string // nats://host:port, ...; empty: no NATS
	creds          string   // a .creds file (JWT and seed)
	nkeySeed       string   // a file holding an nkey seed
	user, password string
	tlsCA          string
	tlsCert        string
	tlsKey         string
}

// Reconnecting: forever, a second apart plus up to half a second of
// jitter (two for TLS), so that the workers of every machine do not come
// back at the same instant after an outage.
const (
	natsReconnectWait      = time.Second
	natsReconnectJitter    = 500 * time.Millisecond
	natsReconnectJitterTLS = 2 * time.Second
	natsConnectTimeout     = 5 * time.Second
)

// parseNATSURLs reads -nats-url: comma-separated nats://, tls://, ws:// or
// wss:// URLs (a bare host:port means nats://).
func parseNATSURLs(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "://") {
			f = "nats://" + f
		}
		u, err := url.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("-nats-url: %w", err)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, fmt.Errorf("-nats-url %s: scheme %q is not nats, tls, ws or wss", u.Redacted(), u.Scheme)
		}
		if u.Hostname() == "" {
			return nil, fmt.Errorf("-nats-url %s: no host", u.Redacted())
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("-nats-url %s: bad port %q", u.Redacted(), p)
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 && strings.TrimSpace(s) != "" {
		return nil, errors.New("-nats-url: no URL")
	}
	return out, nil
}

// check validates the options once the URLs are parsed.
func (o natsOptions) check() error {
	auth := 0
	for _, set := range []bool{o.creds != "", o.nkeySeed != "", o.user != "" || o.password != ""} {
		if set {
			auth++
		}
	}
	switch {
	case len(o.urls) == 0 && (auth > 0 || o.tlsCA != "" || o.tlsCert != "" || o.tlsKey != ""):
		return errors.New("-nats-creds, -nats-nkey, -nats-user, -nats-password and -nats-tls-* configure the connection to -nats-url, which is not given")
	case auth > 1:
		return errors.New("-nats-creds, -nats-nkey and -nats-user/-nats-password exclude each other")
	case (o.user == "") != (o.password == ""):
		return errors.New("-nats-user and -nats-password go together (or WSSD_NATS_USER, WSSD_NATS_PASSWORD)")
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return errors.New("-nats-tls-cert and -nats-tls-key go together")
	}
	return nil
}

// redactedURLs is the URL list for logs, without passwords.
func (o natsOptions) redactedURLs() string {
	out := make([]string, len(o.urls))
	for i, s := range o.urls {
		out[i] = s
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		}
	}
	return strings.Join(out, ",")
}

// connectNATS connects to o's servers as node (the push node number, in
// the connection's name, with role after it if not empty) and logs its
// disconnects and reconnects on log.
// Once connected it reconnects forever; the first connection must succeed,
// so that wrong credentials or addresses stop wssd at start. The caller
// closes the connection.
func connectNATS(o natsOptions, node uint16, role string, log *slog.Logger) (*nats.Conn, error) {
	name := "wssd node " + strconv.Itoa(int(node))
	if role != "" {
		name += " " + role
		log = log.With("nats_conn", role)
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.NoEcho(), // what this node publishes it has delivered itself (cluster.New)
		nats.Timeout(natsConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.ReconnectJitter(natsReconnectJitter, natsReconnectJitterTLS),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed by us
				log.Warn("nats disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats error", "err", err, "subject", subject)
		}),
	}
	switch {
	case o.creds != "":
		opts = append(opts, nats.UserCredentials(o.creds))
	case o.nkeySeed != "":
		opt, err := nats.NkeyOptionFromSeed(o.nkeySeed)
		if err != nil {
			return nil, fmt.Errorf("-nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	case o.user != "":
		opts = append(opts, nats.UserInfo(o.user, o.password))
	}
	if o.tlsCA != "" {
		opts = append(opts, nats.RootCAs(o.tlsCA))
	}
	if o.tlsCert != "" {
		opts = append(opts, nats.ClientCert(o.tlsCert, o.tlsKey))
	}
	nc, err := nats.Connect(strings.Join(o.urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", o.redactedURLs(), err)
	}
	log.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName(), "node", node)
	return nc, nil
}

// registerNATS exports nc's state: wssd_nats_connected and
// wssd_nats_reconnects_total.
func registerNATS(r prometheus.Registerer, nc *nats.Conn) error {
	return errors.Join(
		r.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nats_connected",
			Help: "1 while the connection to NATS is up, 0 while it is down and reconnecting.",
		}, func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		})),
		r.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "nats_reconnects_total",
			Help: "Times the connection to NATS was re-established after a disconnect.",
		}, func() float64 { return float64(nc.Stats().Reconnects) })),
	)
}

// defaultNATSStore is where the embedded NATS server keeps its JetStream
// data when -nats-store is not given: under systemd's StateDirectory=
// ($STATE_DIRECTORY/nats), else $XDG_STATE_HOME/wssd/nats, else
// ~/.local/state/wssd/nats. One directory, reused by every run.
func defaultNATSStore() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return filepath.Join(first, "nats"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "wssd", "nats"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("-nats-store: no default (%w); give one", err)
	}
	return filepath.Join(home, ".local", "state", "wssd", "nats"), nil
}

// embeddedNATS is the NATS server a supervisor runs for its workers.
type embeddedNATS struct {
	ns   *server.Server
	lock *os.File // held on the store directory
	log  *slog.Logger
}

// URL is where the workers connect.
func (e *embeddedNATS) URL() string { return e.ns.ClientURL() }

// stop shuts the server down, waits for it and releases the store.
func (e *embeddedNATS) stop() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
	e.lock.Close()
	e.log.Info("embedded nats stopped")
}

// startEmbeddedNATS starts the NATS server the workers of -procs share
// when there is no -nats-url: on listen (a loopback host:port, "": a free
// port on 127.0.0.1), without authentication, with JetStream storing in
// store, which no other wssd may use meanwhile. It logs through log.
func startEmbeddedNATS(listen, store string, log *slog.Logger) (*embeddedNATS, error) {
	host, port := "127.0.0.1", server.RANDOM_PORT
	if listen != "" {
		h, p, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("-nats-listen: %w", err)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("-nats-listen: bad port %q", p)
		}
		host = h
		if n != 0 {
			port = n
		}
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("-nats-store: %w", err)
	}
	lock, err := lockDir(store)
	if err != nil {
		return nil, fmt.Errorf("-nats-store %s: %w", store, err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "wssd-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
	})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(natsServerLog{log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		lock.Close()
		return nil, fmt.Errorf("embedded nats on %s:%d: not ready (see its log lines)", host, port)
	}
	log.Info("embedded nats started", "url", ns.ClientURL(), "store", store)
	return &embeddedNATS{ns: ns, lock: lock, log: log}, nil
}

// natsServerLog is the embedded server's logger: its notices are Debug
// lines of wssd's, its warnings and errors Warn and Error ones.
type natsServerLog struct{ log *slog.Logger }

func (l natsServerLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsServerLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsServerLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsServerLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsServerLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsServerLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
