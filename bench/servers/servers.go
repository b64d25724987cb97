package servers

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// BroadcastPrefix starts a text message whose remainder the server sends to
// every connection.
const BroadcastPrefix = "broadcast:"

// Options configure a benchmark server.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free one.
	Addr string
	// CertPEM and KeyPEM, when set, make the server speak wss (TLS 1.2+,
	// ALPN http/1.1). They are PEM so that servers with their own TLS
	// stack (nbio) can load them too.
	CertPEM, KeyPEM []byte
	// ReusePort sets SO_REUSEPORT on the listener, for several processes
	// on one port.
	ReusePort bool
	// PingInterval is how often each connection is pinged; zero or
	// negative disables pings.
	PingInterval time.Duration
	// Logger receives warnings and errors; nil discards them.
	Logger *slog.Logger
	// Compression accepts permessage-deflate (RFC 7692) from clients that
	// offer it, as the server's library configures it by default (only
	// servers whose Info.Compression is set).
	Compression bool
}

// TLS reports whether the options ask for wss.
func (o Options) TLS() bool { return len(o.CertPEM) > 0 }

// tlsConfig returns the standard library configuration for the options'
// certificate: TLS 1.2 and 1.3, ALPN http/1.1, like wssd's own.
func (o Options) tlsConfig() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(o.CertPEM, o.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("servers: certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// wrapTLS returns ln, or ln speaking TLS when o asks for it; on error it
// closes ln.
func (o Options) wrapTLS(ln net.Listener) (net.Listener, error) {
	if !o.TLS() {
		return ln, nil
	}
	tc, err := o.tlsConfig()
	if err != nil {
		ln.Close()
		return nil, err
	}
	return tls.NewListener(ln, tc), nil
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Server is a running benchmark server.
type Server interface {
	// Addr is the address the server listens on.
	Addr() netip.AddrPort
	// Conns is the number of connections it holds now (for tls-loop: the
	// handshakes it completed).
	Conns() int
	// Close stops the server. Open connections may be dropped.
	Close() error
}

// Info describes a server.
type Info struct {
	Name string
	// TLS: the server can speak wss.
	TLS bool
	// WebSocket: the server speaks WebSocket (false for the ceilings).
	WebSocket bool
	// Ceiling: not a WebSocket server but a bound on what one could do.
	Ceiling bool
	// Front: not a server of its own but a proxy terminating TLS in front
	// of wssd's ws, which the runner starts (benchd cannot): wss only.
	Front bool
	// Compression: the server can accept permessage-deflate.
	Compression bool
	// Push: a push server, not an echo server: it speaks the Pusher
	// Channels protocol at /app/PushAppKey?protocol=7 (push), or its own
	// (centrifugo); it takes part in the push scenarios only.
	Push bool
	// External: a program of its own, which the runner builds and starts
	// (benchd cannot).
	External bool
	// Model says how the server serves a connection, for the report.
	Model string
	start func(Options) (Server, error)
}

var all = []Info{
	{Name: "wssd", TLS: true, WebSocket: true, Compression: true, Model: "gnet event loops, crypto/tls off-loop handshakes", start: startWSSD},
	{Name: "gorilla", TLS: true, WebSocket: true, Compression: true, Model: "net/http, goroutine per connection", start: startGorilla},
	{Name: "gobwas", TLS: true, WebSocket: true, Model: "goroutine per connection", start: startGobwas},
	{Name: "gws", TLS: true, WebSocket: true, Compression: true, Model: "goroutine per connection", start: startGWS},
	{Name: "nbio", TLS: true, WebSocket: true, Model: "nbio event loops, forked crypto/tls (llib)", start: startNbio},
	{Name: "coder", TLS: true, WebSocket: true, Model: "net/http, goroutine per connection (+1 pinging)", start: startCoder},
	{Name: "push", TLS: true, WebSocket: true, Push: true, Model: "package push (Pusher protocol 7) on the engine, fan-out by Prepare+Broadcast", start: startPush},
	{Name: "centrifugo", TLS: true, WebSocket: true, Push: true, External: true, Model: "Centrifugo v6 (its own binary, from the bench module), JSON protocol over WebSocket, goroutine per connection", start: startExternal},
	{Name: "nginx", TLS: true, WebSocket: true, Front: true, Model: "nginx terminating TLS (2 workers, deploy/nginx/wssd.conf) in front of wssd's ws", start: startFront},
	{Name: "gnet-echo", Ceiling: true, Model: "raw TCP echo on gnet", start: startGnetEcho},
	{Name: "tls-loop", TLS: true, Ceiling: true, Model: "accept, crypto/tls handshake, close", start: startTLSLoop},
}

func startExternal(Options) (Server, error) {
	return nil, errors.New("servers: centrifugo is built and started by the bench runner")
}

func startFront(Options) (Server, error) {
	return nil, errors.New("servers: nginx is started by the bench runner, in front of wssd")
}

// All returns every server, the WebSocket servers first.
func All() []Info { return slices.Clone(all) }

// Lookup returns the server called name.
func Lookup(name string) (Info, bool) {
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return Info{}, false
}

// Start starts the server called name.
func Start(name string, o Options) (Server, error) {
	info, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("servers: unknown server %q", name)
	}
	if o.TLS() && !info.TLS {
		return nil, fmt.Errorf("servers: %s does not speak TLS", name)
	}
	if o.Compression && !info.Compression {
		return nil, fmt.Errorf("servers: %s does not compress", name)
	}
	return info.start(o)
}

// registry is the set of connections a server broadcasts to.
type registry[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
}

func newRegistry[T comparable]() *registry[T] { return &registry[T]{m: make(map[T]struct{})} }

func (r *registry[T]) add(c T) {
	r.mu.Lock()
	r.m[c] = struct{}{}
	r.mu.Unlock()
}

func (r *registry[T]) remove(c T) {
	r.mu.Lock()
	delete(r.m, c)
	r.mu.Unlock()
}

func (r *registry[T]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// snapshot returns the connections now held, so that sending to them
// happens outside the lock.
func (r *registry[T]) snapshot() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, 0, len(r.m))
	for c := range r.m {
		out = append(out, c)
	}
	return out
}

// heartbeat calls ping for every connection every interval until stop is
// closed: one goroutine for the whole server.
func heartbeat[T comparable](r *registry[T], interval time.Duration, stop <-chan struct{}, ping func(T)) {
	if interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, c := range r.snapshot() {
					ping(c)
				}
			}
		}
	}()
}

// broadcastPayload returns the payload of a broadcast command.
func broadcastPayload(text bool, msg []byte) ([]byte, bool) {
	if !text || len(msg) < len(BroadcastPrefix) || string(msg[:len(BroadcastPrefix)]) != BroadcastPrefix {
		return nil, false
	}
	return msg[len(BroadcastPrefix):], true
}

func addrPort(a interface{ String() string }) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
