package engine

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/wssd/wssd/wsproto"
)

// Config configures a Server. The zero value serves any path with the
// defaults documented on each field. A Config must not be modified after it
// is passed to New.
type Config struct {
	// Logger receives the server's logs: one Info line per opened and per
	// closed connection; refused upgrades, failed TLS handshakes and bad
	// PROXY headers at most once a second per kind, with a count; warnings
	// and errors. Nil discards them.
	Logger *slog.Logger

	// Path is the only request path that is upgraded; others get 404.
	// Empty serves every path.
	Path string

	// TrustedProxies lists the proxies whose word on the client's address
	// is believed: their PROXY protocol header and the header RealIPHeader
	// names. Empty trusts nobody: the client IP is the TCP peer.
	TrustedProxies []netip.Prefix
	// RealIPHeader names the one source of the client's address that the
	// trusted proxies set, as nginx's real_ip_header does; no other header
	// is ever read. SourceXRealIP (the default) for nginx and Apache as
	// deploy/ configures them; SourceXForwardedFor behind proxies that only
	// append to X-Forwarded-For (AWS ALB, Google and Cloudflare load
	// balancers, Envoy); SourceForwarded for RFC 7239 proxies;
	// SourceProxyProtocol, with ProxyProtocol, when the PROXY header alone
	// names the client (HAProxy's send-proxy-v2, network load balancers).
	// A value that does not parse leaves the TCP peer (or the PROXY
	// header's address) as the client.
	RealIPHeader IPSource

	// AllowedOrigins, when not empty, refuses with 403 a handshake whose
	// Origin header is none of these: exact origins ("https://app.example.com",
	// scheme, host and any non-default port) or every subdomain of a domain
	// ("https://*.example.com", not example.com itself). Browsers always
	// send Origin, so this stops other sites' pages from opening WebSockets
	// with your users' cookies (cross-site WebSocket hijacking). A request
	// without Origin is allowed: it does not come from a browser page, and
	// its cookies, if any, were not sent on a user's behalf. Empty checks
	// nothing.
	AllowedOrigins []string

	// MaxMessageSize bounds a received message, fragments together; a larger
	// one closes the connection with 1009. Default 1 MiB.
	MaxMessageSize int64
	// MaxHeaderBytes bounds the upgrade request head; a larger one gets 431.
	// Default 8 KiB.
	MaxHeaderBytes int
	// MaxQueuedBytes bounds the bytes waiting to be written to one
	// connection; past it Send and Ping return ErrBufferFull, and the
	// answers to the peer's pings wait (only the latest ping is answered
	// once there is room again), so a peer that sends without reading
	// holds at most this much. Default 4 MiB: room
	// for a few messages of the default MaxMessageSize, so that echoing or
	// relaying the largest messages to a peer that reads a little late does
	// not fail.
	MaxQueuedBytes int

	// Compression, when set, accepts permessage-deflate (RFC 7692) from
	// clients that offer it: messages they send compressed are inflated
	// on the event loop, MaxMessageSize bounding their inflated size (a
	// compressed message may take an eighth more on the wire, as data
	// that does not compress does), and messages sent to them are
	// compressed (see Compression for the policy and what it costs per
	// connection). Nil declines the extension.
	Compression *Compression

	// HandshakeTimeout bounds the time from accept to a complete upgrade
	// request, TLS handshake included. Default 10 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often the server pings a connection that has been
	// quiet in either direction, on average: after between three quarters
	// of it and a quarter more, a fraction fixed per connection, so that
	// connections whose traffic stopped together are not pinged together.
	// Default 25 s; negative disables pings.
	PingInterval time.Duration
	// PongTimeout is how long after a ping the server waits for any bytes
	// from the peer (a frame still arriving counts, and so do bytes that
	// reached the socket while the event loop was too busy to read them)
	// before it drops the connection. Default 10 s.
	PongTimeout time.Duration
	// IdleTimeout closes (1001) a connection that received no frame for that
	// long. Zero disables it: pings find dead peers.
	IdleTimeout time.Duration
	// PongTimeoutCode, when set, is the close code sent, best effort, to a
	// peer whose pong did not come, before its connection is dropped (a
	// protocol on top may assign one: Pusher's 4201). Zero drops it without
	// a close frame: most such peers are gone.
	PongTimeoutCode wsproto.CloseCode
	// IdleTimeoutCode is the close code of an idle timeout. Default 1001
	// (going away).
	IdleTimeoutCode wsproto.CloseCode
	// CloseTimeout bounds the wait for the peer's half of a closing
	// handshake the server started, and the time given to write what is
	// still queued when the peer began it. Default 5 s.
	CloseTimeout time.Duration

	// ProxyProtocol requires every connection to start with a PROXY
	// protocol header, v1 or v2, as HAProxy's send-proxy, nginx's stream
	// proxy_protocol and cloud load balancers send it (before TLS, if any).
	// The announced source becomes the client's address, and the first hop
	// whose headers may be believed, only when the TCP peer is in
	// TrustedProxies; a header from any other peer, and a missing or
	// malformed one, closes the connection with a log line.
	ProxyProtocol bool

	// TLS, when set, makes the server speak wss: the standard crypto/tls
	// under the upgrade parser, its handshakes on short-lived goroutines.
	// The server uses it as given and changes none of its fields: versions,
	// cipher suites, session tickets are the caller's choice
	// (tlsconn.HardenedConfig returns wssd's). Like any tls.Config it must
	// not be modified afterwards; rotate certificates through
	// GetCertificate or GetConfigForClient.
	TLS *tls.Config
	// TLSAutodetect, with TLS, also serves plain ws on the same port,
	// telling the two apart by the first byte a client sends. New refuses it
	// when TLS.ClientAuth requires a client certificate
	// (RequireAnyClientCert, RequireAndVerifyClientCert), which a plain ws
	// client would bypass; a requirement set only in a config returned by
	// GetConfigForClient cannot be seen, so do not combine the two.
	TLSAutodetect bool
	// MaxConcurrentHandshakes bounds the TLS handshakes in progress (each
	// holds a goroutine); up to four times as many more wait in a queue, and
	// beyond that connections are refused. Default: 256 per CPU.
	MaxConcurrentHandshakes int
	// MaxHandshakesPerIP bounds the TLS handshakes, in progress and queued,
	// of one client address (an IPv6 /64), so that one address cannot take
	// every slot; more are refused. The address is the PROXY protocol
	// header's source, else the TCP peer; a peer in TrustedProxies that
	// names no client is not counted. Default: a sixteenth of the slots,
	// running and queued (80 per CPU), at least 8 but at most half the
	// running ones, so that one address never holds them all; negative: no
	// bound.
	MaxHandshakesPerIP int

	// EventLoops is the number of event loops. Default: one per CPU.
	EventLoops int
	// ReusePort lets several servers, in this process or others, listen on
	// the same address (SO_REUSEPORT, which every one of them must set):
	// the kernel spreads new connections among them, for a restart without
	// downtime or one process per core. Without it, Start fails with
	// "address already in use" on a port another socket listens on.
	ReusePort bool
	// MaxConns bounds the connections open at once, in the upgrade or
	// after it; the acceptor closes those beyond it at once, before they
	// reach an event loop. Default, computed by Start: the process's
	// open-file limit less the descriptors open at that moment, two per
	// event loop, and a reserve of 128 for the program around the server
	// (its log files, certificate reloads) and for connections being handed
	// to a loop (two descriptors each, for a moment). A program that opens
	// more files after Start should set MaxConns itself; when the process
	// runs out of descriptors anyway, the server refuses connections until
	// it has some again, and keeps serving those it has.
	MaxConns int
	// MaxConnsPerIP bounds the connections open at once from one client
	// address: an IPv4 address, or the /64 of an IPv6 one. It counts TCP
	// peers, before any PROXY header or forwarding header is read, and
	// does not count peers in TrustedProxies, which carry many clients.
	// Zero means no bound.
	MaxConnsPerIP int
	// AcceptRate bounds the connections handed to the event loops per
	// second, in bursts of up to AcceptBurst, so that a storm of clients
	// reconnecting at once (after a restart) costs TLS handshakes at a
	// steady pace instead of all together. Connections beyond it are not
	// refused: they wait in the kernel's accept queue, and once it is full
	// their SYNs are dropped and retried by the clients' TCP with growing
	// delays. Zero means no bound.
	AcceptRate float64
	// AcceptBurst is how many connections AcceptRate lets through at once.
	// Default: AcceptRate's connections of one second, at least 1.
	AcceptBurst int

	// HTTPHandler, when set, serves the requests on the server's port that
	// are not WebSocket upgrades (no "Upgrade: websocket"), any method and
	// path, over the same TLS: an HTTP API beside the WebSocket endpoint.
	// Nil answers them as today (400 or 426). A request is read on the event
	// loop: its head bounded by MaxHeaderBytes (431) and HandshakeTimeout,
	// its body by MaxHTTPBodyBytes (413) and another HandshakeTimeout; a
	// body needs Content-Length (chunked bodies get 411), "Expect:
	// 100-continue" is answered. The handler then runs on its own goroutine,
	// at most MaxHTTPConcurrency at once (beyond: 503), with a context
	// cancelled when the client leaves or Shutdown gives up waiting; its
	// response is buffered, up to MaxQueuedBytes of body (ErrResponseTooLarge,
	// then 500), and written by the event loop. Connections are kept alive
	// (HTTP/1.1; "Connection: close" honoured), pipelined requests answered
	// one at a time in order. r.RemoteAddr is the client IP resolved as for
	// upgrades (HTTPClientOf says more), r.TLS the connection's TLS state. A
	// panic is recovered, logged and answered with 500 (http.ErrAbortHandler
	// drops the connection). Flusher and Hijacker are not offered. Path,
	// AllowedOrigins and OnHandshake concern upgrades only: the handler
	// routes, authenticates and answers CORS itself.
	HTTPHandler http.Handler
	// MaxHTTPBodyBytes bounds a request body; larger ones get 413. Default 1 MiB.
	MaxHTTPBodyBytes int64
	// MaxHTTPConcurrency bounds the HTTPHandler calls running at once;
	// requests beyond it get 503 with Retry-After. Default: 64 per CPU.
	MaxHTTPConcurrency int
	// HTTPIdleTimeout closes a kept-alive HTTP connection that has not begun
	// its next request for that long. Default 30 s.
	HTTPIdleTimeout time.Duration

	// faults, set by the tests only, fails chosen socket operations from
	// the start (see faults).
	faults *faults
}

// Defaults used for zero Config fields.
const (
	DefaultMaxQueuedBytes   = 4 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultPingInterval     = 25 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	// fdReserve is kept free below the open-file limit for the program
	// around the server and hand-overs: see Config.MaxConns.
	fdReserve = 128
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RealIPHeader == SourcePeer {
		c.RealIPHeader = SourceXRealIP
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = wsproto.DefaultMaxMessageSize
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = wsproto.DefaultMaxHeadSize
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = DefaultPongTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.IdleTimeoutCode == 0 {
		c.IdleTimeoutCode = wsproto.CloseGoingAway
	}
	if c.EventLoops <= 0 {
		c.EventLoops = runtime.GOMAXPROCS(0)
	}
	if c.MaxConnsPerIP < 0 {
		c.MaxConnsPerIP = 0
	}
	if c.AcceptRate > 0 && c.AcceptBurst <= 0 {
		c.AcceptBurst = max(int(c.AcceptRate), 1)
	}
	return c.withHTTPDefaults()
}

// tick returns how often the event loops check timers: a quarter of the
// shortest timeout, between 10 ms and 1 s.
func (c Config) tick() time.Duration {
	d := min(c.HandshakeTimeout, c.PongTimeout, c.CloseTimeout)
	if c.PingInterval > 0 {
		d = min(d, c.PingInterval)
	}
	if c.IdleTimeout > 0 {
		d = min(d, c.IdleTimeout)
	}
	return min(max(d/4, 10*time.Millisecond), time.Second)
}

// sweepParts returns into how many parts the timer sweep splits each tick,
// one part every tick/sweepParts and none shorter than 10 ms: ten at the
// usual one-second tick.
func (c Config) sweepParts() int {
	return int(min(max(c.tick()/(10*time.Millisecond), 1), 10))
}
