// Command wssd is a WebSocket server for hundreds of thousands of
// connections per machine, speaking ws, or wss with its own TLS. This version
// serves -mode echo: every message is sent back with its opcode.
//
// SIGINT and SIGTERM shut down gracefully; SIGHUP reloads the certificates.
// With -procs N it supervises N such processes on one port (package
// internal/supervisor); -nats-url, or an embedded NATS server, connects
// them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/certstore"
	"github.com/wssd/wssd/internal/memtrim"
	"github.com/wssd/wssd/internal/metrics"
	"github.com/wssd/wssd/internal/supervisor"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wssd:", err)
		os.Exit(1)
	}
}

// options are wssd's command-line settings.
type options struct {
	mode            string
	eventLoops      int // the engine's; 0: its default (set for a worker by its supervisor)
	listen          string
	path            string
	trustedProxies  []netip.Prefix
	maxMessage      int64
	pingInterval    time.Duration
	reusePort       bool
	maxConns        int
	maxConnsPerIP   int
	acceptRate      float64
	acceptBurst     int
	proxyProtocol   bool
	logFormat       string
	logLevel        slog.Level
	shutdownTimeout time.Duration
	trimMemory      bool
	statsInterval   time.Duration
	metricsListen   string // empty: no metrics endpoint

	tlsCerts, tlsKeys []string // paired in order
	tlsClientCA       string
	tlsDev            string // directory of the development certificate
	tlsAutodetect     bool
	tlsWatch          time.Duration
	tlsTickets        bool

	// The edge: where the client IP comes from, which pages may connect.
	realIPHeader   engine.IPSource
	allowedOrigins []string

	// permessage-deflate; nil: declined.
	compression *engine.Compression

	// The push server's apps: one from -app-*, several from -apps, or the
	// development app.
	appID, appKey, appSecret string
	clientEvents             bool
	webhookURL               string
	appsFile                 string
	devAppFile               string
	devApp                   *push.App // a worker's: the supervisor's development app

	// Processes and NATS.
	procs      int
	node       uint16 // the machine's number; see pushNode
	nats       natsOptions
	natsListen string        // the embedded server's address; "": a free port on 127.0.0.1
	natsStore  string        // the embedded server's JetStream directory; "": defaultNATSStore
	deadAfter  time.Duration // a node silent this long is probed (cluster.Config.DeadAfter)
	hungAfter  time.Duration // a node silent this long is dead, probes or not (cluster.Config.HungAfter)
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wssd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "push", "what to serve: push (the Pusher Channels protocol 7 and HTTP API) or echo (every message back)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8282", "address to listen on, host:port (port 0 picks a free one)")
	fs.StringVar(&o.path, "path", "", "the only path upgraded to WebSocket; empty serves every path")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs or addresses whose PROXY header, X-Real-IP, Forwarded and X-Forwarded-For are believed")
	fs.Int64Var(&o.maxMessage, "max-message", 1<<20, "largest message accepted, in bytes (larger ones close with 1009)")
	fs.DurationVar(&o.pingInterval, "ping-interval", engine.DefaultPingInterval, "ping quiet connections this often; 0 disables pings")
	fs.BoolVar(&o.reusePort, "reuseport", false, "share the port with other wssd processes started with -reuseport (SO_REUSEPORT); without it, a port in use is an error")
	fs.IntVar(&o.maxConns, "max-conns", 0, "most connections open at once; 0: what the open-file limit allows")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 0, "most connections open at once from one client address (IPv6: per /64; -trusted-proxies exempt); 0: no limit")
	fs.Float64Var(&o.acceptRate, "accept-rate", 0, "most new connections served per second, the rest waiting in the accept queue (reconnect storms); 0: no limit")
	fs.IntVar(&o.acceptBurst, "accept-burst", 0, "new connections -accept-rate lets through at once; 0: one second's worth")
	fs.BoolVar(&o.proxyProtocol, "proxy-protocol", false, "require a PROXY protocol v1/v2 header from a -trusted-proxies peer on every connection")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "least level logged: debug, info (connections, refusals), warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for closing handshakes")
	fs.BoolVar(&o.trimMemory, "trim-memory", true, "once a burst of connections is over, collect its garbage and return the free memory to the OS")
	fs.DurationVar(&o.statsInterval, "stats-interval", 0, "log a stats line (connections, Go heap, RSS, goroutines, GC cycles) this often; 0: never")
	fs.StringVar(&o.metricsListen, "metrics-listen", "127.0.0.1:9282", "host:port serving Prometheus /metrics, /healthz and /readyz, unauthenticated: keep it on loopback or a private network; empty: off")
	fs.Var((*stringList)(&o.tlsCerts), "tls-cert", "PEM certificate (chain) file; serves wss. Repeat with -tls-key for more pairs, chosen by SNI")
	fs.Var((*stringList)(&o.tlsKeys), "tls-key", "PEM private key file for the -tls-cert of the same position")
	fs.StringVar(&o.tlsClientCA, "tls-client-ca", "", "require client certificates signed by this PEM CA file")
	fs.StringVar(&o.tlsDev, "tls-dev", "", "serve wss with a development certificate kept in this directory (generated on first run)")
	fs.BoolVar(&o.tlsAutodetect, "tls-autodetect", false, "with TLS, also serve plain ws on the same port")
	fs.DurationVar(&o.tlsWatch, "tls-watch", 10*time.Second, "check the certificate files for changes this often (0: only on SIGHUP)")
	fs.BoolVar(&o.tlsTickets, "tls-tickets", true, "resume TLS sessions with session tickets, their keys in memory only, rotated every 12 h, each kept 24 h (false: no resumption, as deploy/nginx)")
	// The edge.
	fs.TextVar(&o.realIPHeader, "real-ip-header", engine.SourceXRealIP, "the one source of the client IP that the -trusted-proxies set: X-Real-IP, X-Forwarded-For, Forwarded or proxy-protocol")
	origins := fs.String("allowed-origins", "", "comma-separated origins whose pages may connect (https://app.example.com, https://*.example.com); others get 403, requests without Origin pass; empty: no check")
	// The push server's apps.
	fs.StringVar(&o.appID, "app-id", os.Getenv("WSSD_APP_ID"), "the app's id, as the HTTP API and server SDKs name it (env WSSD_APP_ID)")
	fs.StringVar(&o.appKey, "app-key", os.Getenv("WSSD_APP_KEY"), "the app's key, as pusher-js names it (env WSSD_APP_KEY)")
	fs.StringVar(&o.appSecret, "app-secret", os.Getenv("WSSD_APP_SECRET"), "the app's secret, which signs channel authorizations and API requests (env WSSD_APP_SECRET)")
	fs.BoolVar(&o.clientEvents, "client-events", false, "let clients send client-* events on private and presence channels (off, as at Pusher)")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "POST the app's webhooks (channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss) to this URL")
	fs.StringVar(&o.appsFile, "apps", "", `serve the apps of this JSON file instead: {"apps": [{"id", "key", "secret", "client_events", "webhook_url", "webhook_events", "limits": {...}}]}`)
	fs.StringVar(&o.devAppFile, "dev-app", "", "with no app configured, keep the generated development app in this file (created on first run)")
	// Compression.
	compress := fs.Bool("compression", true, "accept permessage-deflate from clients that offer it (every browser does)")
	var z engine.Compression
	fs.IntVar(&z.Threshold, "compression-threshold", engine.DefaultCompressionThreshold, "send messages shorter than this many bytes uncompressed")
	fs.IntVar(&z.Level, "compression-level", 0, "DEFLATE level 1-9, or 0 for the fastest (stateless) encoder")
	fs.BoolVar(&z.ServerContextTakeover, "compression-context", false, "compress each message with the ones sent before as dictionary: smaller repeated messages, up to 8 KiB (32 KiB at levels 1-9) more per connection")
	fs.IntVar(&z.ClientMaxWindowBits, "compression-client-window", 15, "window bits (8-15) asked of clients that offer client_max_window_bits: what a connection may keep of what its client sent (2^bits bytes)")
	fs.BoolVar(&z.RequireClientNoContextTakeover, "compression-no-client-context", false, "decline clients that keep their compression context (browsers do: they then get no compression); no connection keeps a window")
	// Processes and NATS.
	fs.IntVar(&o.procs, "procs", 1, "worker processes serving -listen together (SO_REUSEPORT), each restarted when it dies and given CPUs ÷ N event loops (at least 1) and GOMAXPROCS one more, unless the environment sets GOMAXPROCS; above 1 this process supervises them and serves their merged -metrics-listen (at most 256)")
	node := fs.Uint("node", 0, "this machine's number, 0-255, distinct on each machine sharing a NATS cluster (required with -nats-url); worker i's node in socket ids is node*256+i")
	natsURL := fs.String("nats-url", "", "comma-separated NATS servers (nats://host:4222, tls://...) to share the push state with other machines; without it, -procs starts an embedded server")
	fs.StringVar(&o.nats.creds, "nats-creds", "", "NATS user credentials file (JWT and nkey seed)")
	fs.StringVar(&o.nats.nkeySeed, "nats-nkey", "", "file holding the NATS nkey seed to sign in with")
	fs.StringVar(&o.nats.user, "nats-user", os.Getenv("WSSD_NATS_USER"), "NATS user name (env WSSD_NATS_USER)")
	fs.StringVar(&o.nats.password, "nats-password", os.Getenv("WSSD_NATS_PASSWORD"), "NATS password (env WSSD_NATS_PASSWORD)")
	fs.StringVar(&o.nats.tlsCA, "nats-tls-ca", "", "PEM CA file verifying the NATS servers' certificates")
	fs.StringVar(&o.nats.tlsCert, "nats-tls-cert", "", "PEM client certificate for NATS, with -nats-tls-key")
	fs.StringVar(&o.nats.tlsKey, "nats-tls-key", "", "PEM private key of -nats-tls-cert")
	fs.StringVar(&o.natsListen, "nats-listen", "", "with -procs and no -nats-url: the embedded NATS server's loopback host:port (default a free port on 127.0.0.1)")
	fs.DurationVar(&o.deadAfter, "cluster-dead-after", cluster.DefaultDeadAfter, "with NATS: a worker whose heartbeats (every second) stop this long is probed, and dead (its members leave) if NATS says its connection is gone (at least 2s)")
	fs.DurationVar(&o.hungAfter, "cluster-hung-after", cluster.DefaultHungAfter, "with NATS: a worker whose heartbeats stop this long is dead even though NATS still holds its connection (a hung process, or a partition NATS has not noticed); a worker stalled by load for less is not (more than -cluster-dead-after)")
	fs.StringVar(&o.natsStore, "nats-store", "", "with -procs and no -nats-url: the embedded NATS server's JetStream directory (default $STATE_DIRECTORY/nats under systemd, else $XDG_STATE_HOME/wssd/nats or ~/.local/state/wssd/nats)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *compress {
		if z.Threshold == 0 {
			z.Threshold = -1 // the flag's 0 means every message
		}
		if z.ClientMaxWindowBits < 8 || z.ClientMaxWindowBits > 15 {
			return o, fmt.Errorf("-compression-client-window must be between 8 and 15, not %d", z.ClientMaxWindowBits)
		}
		if z.Level < 0 || z.Level > 9 {
			return o, fmt.Errorf("-compression-level must be between 0 and 9, not %d", z.Level)
		}
		o.compression = &z
	}
	if o.realIPHeader == engine.SourceProxyProtocol && !o.proxyProtocol {
		return o, errors.New("-real-ip-header proxy-protocol needs -proxy-protocol")
	}
	for f := range strings.SplitSeq(*origins, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.allowedOrigins = append(o.allowedOrigins, f)
		}
	}
	if len(o.tlsCerts) != len(o.tlsKeys) {
		return o, fmt.Errorf("-tls-cert given %d times but -tls-key %d times: they pair up in order", len(o.tlsCerts), len(o.tlsKeys))
	}
	if o.tlsDev != "" && len(o.tlsCerts) > 0 {
		return o, errors.New("-tls-dev and -tls-cert exclude each other")
	}
	if o.proxyProtocol && *proxies == "" {
		return o, errors.New("-proxy-protocol needs -trusted-proxies: a PROXY header is believed only from them")
	}
	if (o.tlsClientCA != "" || o.tlsAutodetect) && o.tlsDev == "" && len(o.tlsCerts) == 0 {
		return o, errors.New("-tls-client-ca and -tls-autodetect need -tls-cert/-tls-key or -tls-dev")
	}
	if o.tlsClientCA != "" && o.tlsAutodetect {
		return o, errors.New("-tls-client-ca and -tls-autodetect exclude each other: a plain ws client on the same port would skip the required client certificate")
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.mode != "push" && o.mode != "echo" {
		return o, fmt.Errorf("unknown -mode %q (push or echo)", o.mode)
	}
	if o.mode == "push" && o.path != "" {
		return o, errors.New("-path is for -mode echo: the push server serves /app/{key} and /apps/{id}/")
	}
	single := o.appID != "" || o.appKey != "" || o.appSecret != ""
	switch {
	case single && (o.appID == "" || o.appKey == "" || o.appSecret == ""):
		return o, errors.New("-app-id, -app-key and -app-secret go together (or WSSD_APP_ID, WSSD_APP_KEY, WSSD_APP_SECRET)")
	case single && o.appsFile != "":
		return o, errors.New("-apps and -app-id/-app-key/-app-secret exclude each other")
	case o.appsFile != "" && (o.clientEvents || o.webhookURL != ""):
		return o, errors.New("-client-events and -webhook-url configure the one app of -app-*; in -apps files each app has client_events and webhook_url")
	case !single && o.appsFile == "" && o.webhookURL != "":
		return o, errors.New("-webhook-url needs -app-id/-app-key/-app-secret: the development app has no webhooks")
	}
	if o.webhookURL != "" {
		if _, err := push.ParseWebhookURL(o.webhookURL); err != nil {
			return o, fmt.Errorf("-webhook-url: %w", err)
		}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("-log-format must be text or json, not %q", o.logFormat)
	}
	if o.maxMessage <= 0 {
		return o, errors.New("-max-message must be positive")
	}
	if o.maxConns < 0 || o.maxConnsPerIP < 0 || o.acceptRate < 0 || o.acceptBurst < 0 {
		return o, errors.New("-max-conns, -max-conns-per-ip, -accept-rate and -accept-burst must not be negative")
	}
	if o.statsInterval < 0 {
		return o, errors.New("-stats-interval must not be negative")
	}
	nodeSet := false
	fs.Visit(func(f *flag.Flag) { nodeSet = nodeSet || f.Name == "node" })
	if err := o.checkProcs(*node, nodeSet, *natsURL); err != nil {
		return o, err
	}
	if o.pingInterval == 0 {
		o.pingInterval = -1 // engine: negative disables
	}
	var err error
	if o.trustedProxies, err = parsePrefixes(*proxies); err != nil {
		return o, err
	}
	return o, nil
}

// checkProcs validates and sets the flags of -procs and NATS.
func (o *options) checkProcs(node uint, nodeSet bool, natsURL string) error {
	if o.procs < 1 || o.procs > maxProcs {
		return fmt.Errorf("-procs must be between 1 and %d, not %d", maxProcs, o.procs)
	}
	if node > maxMachine {
		return fmt.Errorf("-node must be between 0 and %d, not %d", maxMachine, node)
	}
	o.node = uint16(node)
	var err error
	if o.nats.urls, err = parseNATSURLs(natsURL); err != nil {
		return err
	}
	if err := o.nats.check(); err != nil {
		return err
	}
	embedded := o.procs > 1 && o.mode == "push" && len(o.nats.urls) == 0
	switch {
	case len(o.nats.urls) > 0 && o.mode != "push":
		return errors.New("-nats-url carries the push server's state: -mode echo has none to share")
	case len(o.nats.urls) > 0 && !nodeSet:
		return errors.New("-nats-url needs -node: each machine sharing a NATS cluster needs its own number (0-255)")
	case (o.natsListen != "" || o.natsStore != "") && !embedded:
		return errors.New("-nats-listen and -nats-store configure the embedded NATS server, which runs only with -mode push, -procs above 1 and no -nats-url")
	}
	if o.deadAfter < 2*cluster.DefaultHeartbeatInterval {
		return fmt.Errorf("-cluster-dead-after %v: at least %v, two heartbeats", o.deadAfter, 2*cluster.DefaultHeartbeatInterval)
	}
	if o.hungAfter <= o.deadAfter {
		return fmt.Errorf("-cluster-hung-after %v: more than -cluster-dead-after %v", o.hungAfter, o.deadAfter)
	}
	if o.natsListen != "" && !loopbackListen(o.natsListen) {
		return fmt.Errorf("-nats-listen %s: the embedded NATS server has no authentication; it listens on loopback addresses only", o.natsListen)
	}
	return nil
}

// parsePrefixes reads "10.0.0.0/8,127.0.0.1": CIDRs or single addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("-trusted-proxies: %w", err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %w", err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if os.Getenv("GOGC") == "" {
		// Idle connections are most of wssd's heap, and each TLS handshake
		// leaves ~140 KB of garbage behind: the heap goal, and with it RSS
		// during a handshake storm, is the live heap plus GOGC percent.
		// 50 keeps the storm's peak closer to the live heap than Go's
		// default 100; once the storm is over memtrim returns the rest.
		debug.SetGCPercent(50)
	}
	lo := &slog.HandlerOptions{Level: o.logLevel}
	var lh slog.Handler = slog.NewTextHandler(stdout, lo)
	if o.logFormat == "json" {
		lh = slog.NewJSONHandler(stdout, lo)
	}
	log := slog.New(lh)

	worker, err := supervisor.CurrentWorker()
	if err != nil {
		return err
	}
	if worker == nil && o.procs > 1 {
		return supervise(o, args, stdout, stderr, log)
	}
	index := 0
	if worker != nil {
		if o, err = o.asWorker(worker); err != nil {
			return err
		}
		index = worker.Index
		log = log.With("worker", index)
	}
	node := pushNode(o.node, index)

	store, err := loadTLS(o, log)
	if err != nil {
		return err
	}
	// NATS: a worker's, or a single process's with -nats-url; kept open
	// until the server has shut down.
	// A second connection carries the cluster's heartbeats alone, so that
	// they never wait behind events (cluster.Config.Liveness).
	var nc, lc *nats.Conn
	if len(o.nats.urls) > 0 {
		if nc, err = connectNATS(o.nats, node, "", log); err != nil {
			return err
		}
		defer nc.Close()
		if lc, err = connectNATS(o.nats, node, "liveness", log); err != nil {
			return err
		}
		defer lc.Close()
	}
	cfg := engine.Config{
		EventLoops:     o.eventLoops,
		Logger:         log,
		Path:           o.path,
		TrustedProxies: o.trustedProxies,
		MaxMessageSize: o.maxMessage,
		PingInterval:   o.pingInterval,
		ReusePort:      o.reusePort,
		MaxConns:       o.maxConns,
		MaxConnsPerIP:  o.maxConnsPerIP,
		AcceptRate:     o.acceptRate,
		AcceptBurst:    o.acceptBurst,
		ProxyProtocol:  o.proxyProtocol,
		TLSAutodetect:  o.tlsAutodetect,
		RealIPHeader:   o.realIPHeader,
		AllowedOrigins: o.allowedOrigins,
		Compression:    o.compression,
	}
	scheme := "ws"
	if store != nil {
		cfg.TLS, scheme = store.TLSConfig(), "wss"
	}
	// Catch signals before listening: a SIGTERM or SIGHUP that arrives as
	// soon as the port is open must not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	var handler engine.Handler = echoHandler{log: log}
	var ps *pushServer
	if o.mode == "push" {
		if ps, err = newPushServer(o, nc, lc, node, log); err != nil {
			return err
		}
		handler = ps.srv
		cfg.HTTPHandler = ps.http
		cfg.MaxHTTPBodyBytes = ps.api.MaxBodyBytes()
		cfg.PongTimeoutCode = wsproto.CloseCode(push.CodePongTimeout)
	}
	h, stopStats := withStats(log, o.statsInterval, handler)
	defer stopStats()
	srv, err := engine.New(cfg, h)
	if err != nil {
		return err
	}
	if ps != nil {
		ps.srv.Bind(srv)
	}
	// wssd's own registry: whatever else the binary serves (the push
	// server) registers its series on it, through reg.Registerer().
	reg := metrics.New(srv)
	if ps != nil {
		if err := reg.RegisterPush(ps.srv, ps.api, ps.webhook); err != nil {
			return err
		}
	}
	if nc != nil {
		if err := registerNATS(reg.Registerer(), nc); err != nil {
			return err
		}
	}
	if ps != nil && ps.cluster != nil {
		if err := reg.RegisterCluster(ps.cluster); err != nil {
			return err
		}
	}
	if ps != nil && ps.hooks != nil {
		if err := reg.RegisterWebhooks(ps.hooks); err != nil {
			return err
		}
	}
	var metricsAddr net.Addr
	if o.metricsListen != "" {
		// Before Start, so that a port in use stops wssd before it takes
		// clients; /readyz says 503 until it does.
		addr, stopMetrics, err := serveMetrics(o.metricsListen, reg.Handler(), log)
		if err != nil {
			return fmt.Errorf("-metrics-listen: %w", err)
		}
		// It stops when run returns, after the server's shutdown: /readyz
		// says 503 throughout.
		defer stopMetrics(time.Second)
		metricsAddr = addr
		if worker != nil {
			log.Debug("worker metrics listening", "addr", addr.String()) // the supervisor serves them
		} else {
			log.Info("metrics listening", "url", "http://"+addr.String()+"/metrics")
		}
	}
	if err := srv.Start(o.listen); err != nil {
		return err
	}
	url := publicURL(scheme, srv.Addr(), o.path, o.tlsDev != "")
	log.Info("wssd listening", "mode", o.mode, "url", url, "pid", os.Getpid(), "node", node,
		"gomaxprocs", runtime.GOMAXPROCS(0), "event_loops", srv.EventLoops())
	if err := reportServing(worker, o.listen, srv.Addr().Port(), metricsAddr); err != nil {
		return err
	}
	if ps != nil && index == 0 { // the same apps in every worker
		ps.announce(url)
	}

	ctx, stopWatch := context.WithCancel(context.Background())
	watched, trimmed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		if store != nil && o.tlsWatch > 0 {
			store.Watch(ctx, o.tlsWatch)
		}
	}()
	go func() {
		defer close(trimmed)
		if o.trimMemory {
			memtrim.Run(ctx, log)
		}
	}()
	defer func() {
		stopWatch()
		<-watched
		<-trimmed
	}()

	stopped := waitChan(srv)
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				if store == nil {
					log.Info("SIGHUP: no certificates to reload")
				} else if err := store.Reload(); err != nil {
					log.Error("SIGHUP: certificates not reloaded; the old ones keep serving", "err", err)
				}
				continue
			}
			log.Info("shutting down", "signal", s.String(), "timeout", o.shutdownTimeout)
		case <-stopped:
			// Not asked to stop: exit non-zero, for a supervisor to
			// restart wssd.
			if err := srv.Wait(); err != nil {
				return err
			}
			return errors.New("server stopped unexpectedly")
		}
		break
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if ps != nil {
		ps.stop(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish every closing handshake", "err", err)
	}
	if ps != nil {
		ps.leave()
	}
	log.Info("stopped")
	return nil
}

// loadTLS loads the certificates the flags name, or the development
// certificate; it returns nil when wssd serves plain ws.
func loadTLS(o options, log *slog.Logger) (*certstore.Store, error) {
	pairs := make([]certstore.Pair, len(o.tlsCerts))
	for i := range o.tlsCerts {
		pairs[i] = certstore.Pair{CertFile: o.tlsCerts[i], KeyFile: o.tlsKeys[i]}
	}
	if o.tlsDev != "" {
		cert, key, ca, err := certstore.DevCertificate(o.tlsDev)
		if err != nil {
			return nil, fmt.Errorf("development certificate: %w", err)
		}
		pairs = []certstore.Pair{{CertFile: cert, KeyFile: key}}
		log.Info("development certificate for localhost, 127.0.0.1 and ::1",
			"ca", ca,
			"trust", "curl --cacert "+ca+"; browsers: import the CA, or start Chromium with --ignore-certificate-errors")
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	return certstore.Load(certstore.Config{
		Pairs:                 pairs,
		ClientCAFile:          o.tlsClientCA,
		DisableSessionTickets: !o.tlsTickets,
		Logger:                log,
	})
}

// publicURL is the URL to print for the listening address: localhost for a
// development certificate, which names it.
func publicURL(scheme string, addr netip.AddrPort, path string, dev bool) string {
	host := addr.String()
	if dev && (addr.Addr().IsLoopback() || addr.Addr().IsUnspecified()) {
		host = "localhost:" + strconv.Itoa(int(addr.Port()))
	}
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path
}

func waitChan(srv *engine.Server) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_ = srv.Wait()
		close(ch)
	}()
	return ch
}

// echoHandler sends every message back with its opcode.
type echoHandler struct {
	engine.NopHandler
	log *slog.Logger
}

func (h echoHandler) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if err := c.Send(typ, data); errors.Is(err, engine.ErrBufferFull) {
		h.log.Warn("peer does not read its echoes; closing", "client_ip", c.ClientIP())
		_ = c.Close(wsproto.ClosePolicyViolation, "send buffer full")
	}
}
