package interop

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// Behind a proxy: real nginx, Apache and HAProxy from Debian in front of
// wssd, each run from its configuration file in deploy/ (see
// proxy_servers_test.go), and wssd's refusal to believe anyone else. The
// tests of this file put an echo engine behind the proxy, at the push
// server's WebSocket path (/app/...), to see what the proxy does to a
// tunnel frame by frame: pings, idle timeouts, TLS, the client's address.
// proxy_push_test.go puts the push server itself there, with its API.

// Timing of the tests through the proxies.
const (
	// proxyIdle replaces the proxies' shipped 60 s idle timeout of
	// upgraded connections.
	proxyIdle = 2 * time.Second
	// proxyPing is wssd's ping interval behind them, in place of 25 s.
	proxyPing = 500 * time.Millisecond
	// quietFor is how long a client stays silent through a proxy: more
	// than twice proxyIdle.
	quietFor = 5 * time.Second
)

// Addresses: the proxies and the tests' trusted peer are 127.0.0.1, wssd's
// only trusted proxy; the client is another loopback address.
var (
	proxyIP        = netip.MustParseAddr("127.0.0.1")
	clientIP       = netip.MustParseAddr("127.0.0.2")
	trustedProxies = []netip.Prefix{netip.PrefixFrom(proxyIP, 32)}
)

// echoPath is where the tests of this file open WebSockets through a
// proxy: a path the proxies route to wssd's push server, here served by an
// echo engine that upgrades every path.
const echoPath = "/app/echo-key"

// spoofedHeader is what a client sends to pass for someone else: every
// header from which wssd takes a client address, each naming another one.
func spoofedHeader() http.Header {
	h := http.Header{}
	h.Set("X-Real-IP", "203.0.113.7")
	h.Set("X-Forwarded-For", "198.51.100.1")
	h.Set("Forwarded", "for=192.0.2.1")
	return h
}

// TestProxy runs each real proxy in front of an echo engine standing in for
// wssd (-trusted-proxies 127.0.0.1, and -proxy-protocol behind HAProxy)
// and a client from 127.0.0.2 through it, over wss.
func TestProxy(t *testing.T) {
	t.Parallel()
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			bin := findProxy(t, p)
			t.Log(proxyVersion(t, bin))
			up := startUpstream(t, p.edge, proxyPing)
			addr := startProxy(t, p, bin, proxyOptions{upstream: up.Addr(), idle: proxyIdle})

			// The client's real address reaches wssd, through the header
			// or PROXY header the proxy sets, whatever the client claims.
			t.Run("client-ip", func(t *testing.T) {
				t.Parallel()
				c := dialProxy(t, addr, echoPath+"?id=client-ip", clientTLS(), spoofedHeader())
				for _, m := range []struct {
					op  wsproto.Opcode
					msg string
				}{{wsproto.OpText, "hello"}, {wsproto.OpBinary, "\x00\x01\xfe\xff"}} {
					if err := echo(c, m.op, []byte(m.msg)); err != nil {
						t.Fatal(err)
					}
				}
				closeNormally(t, c, up, "client-ip")
				want := seenClient{ip: clientIP, source: p.edge.header, peer: proxyIP}
				if got := up.h.seenAs(t, "client-ip"); got != want {
					t.Errorf("OnHandshake saw %v, want %v", got, want)
				}
				wantLogged(t, up.log, fmt.Sprintf(`msg="ws open" client_ip=%v client_ip_source=%v peer=%v:`, clientIP, p.edge.header, proxyIP))
			})

			// Behind the same proxy configured to append the client to
			// X-Forwarded-For only, as AWS ALB, Google's and Cloudflare's
			// load balancers and Envoy do, passing the client's own
			// X-Real-IP on: wssd with -real-ip-header X-Forwarded-For never
			// sees the forged X-Real-IP, nor the forged XFF entries.
			t.Run("client-ip-xff-only", func(t *testing.T) {
				t.Parallel()
				up := startUpstream(t, xffOnly, proxyPing)
				addr := startProxy(t, p, bin, proxyOptions{upstream: up.Addr(), idle: proxyIdle, xffOnly: true})
				c := dialProxy(t, addr, echoPath+"?id=client-ip-xff", clientTLS(), spoofedHeader())
				if err := echo(c, wsproto.OpText, []byte("hello")); err != nil {
					t.Fatal(err)
				}
				closeNormally(t, c, up, "client-ip-xff")
				// The attack reached wssd: the proxy passed the forged
				// X-Real-IP on.
				got := up.h.headerOf("client-ip-xff")
				t.Logf("wssd got X-Real-IP %q, X-Forwarded-For %q", got.Values("X-Real-Ip"), got.Values("X-Forwarded-For"))
				if got.Get("X-Real-Ip") != spoofedHeader().Get("X-Real-Ip") {
					t.Errorf("the proxy did not pass the client's X-Real-IP on: %q", got.Values("X-Real-Ip"))
				}
				want := seenClient{ip: clientIP, source: engine.SourceXForwardedFor, peer: proxyIP}
				if got := up.h.seenAs(t, "client-ip-xff"); got != want {
					t.Errorf("OnHandshake saw %v, want %v", got, want)
				}
				wantLogged(t, up.log, fmt.Sprintf(`msg="ws open" client_ip=%v client_ip_source=x-forwarded-for peer=%v:`, clientIP, proxyIP))
				for _, forged := range []string{"203.0.113.7", "198.51.100.1", "192.0.2.1"} {
					if strings.Contains(up.log.String(), forged) {
						t.Errorf("the access log has the forged address %s:\n%s", forged, up.log.String())
					}
				}
			})

			// Only /app/ and /apps/ reach wssd: other paths, the health
			// checks among them, get 404 from the proxy (the echo engine
			// behind it would upgrade any path).
			t.Run("path", func(t *testing.T) {
				t.Parallel()
				for _, path := range []string{"/", "/other", "/wss", "/healthz", "/readyz"} {
					id := "path" + strings.ReplaceAll(path, "/", "-")
					c, err := wstest.Dial(proxyHost(addr), wstest.DialOptions{
						Path: path + "?id=" + id, LocalIP: clientIP.String(), TLS: clientTLS(),
					})
					if err == nil {
						c.Close()
						t.Errorf("%s: upgraded, want 404", path)
						continue
					}
					if c == nil {
						t.Errorf("%s: %v, want a 404 response", path, err)
						continue
					}
					c.Close()
					if c.Response.StatusCode != http.StatusNotFound {
						t.Errorf("%s: %s, want 404", path, c.Response.Status)
					}
					if up.h.saw(id) {
						t.Errorf("%s: OnHandshake was called", path)
					}
				}
			})

			// TLS 1.2 and 1.3 with AEAD suites only.
			t.Run("tls", func(t *testing.T) {
				t.Parallel()
				checkProxyTLS(t, addr, up)
			})

			// wssd's pings keep a connection that carries no message open
			// well past the proxy's idle timeout.
			t.Run("pings-keep-open", func(t *testing.T) {
				t.Parallel()
				c := dialProxy(t, addr, echoPath+"?id=pings", clientTLS(), nil)
				if err := echo(c, wsproto.OpText, []byte("before")); err != nil {
					t.Fatal(err)
				}
				pings, err := keepQuiet(c, quietFor)
				if err != nil {
					t.Fatalf("the connection ended after %d pings in %v of silence (idle timeout %v): %v", pings, quietFor, proxyIdle, err)
				}
				t.Logf("%d pings in %v of silence", pings, quietFor)
				if minPings := int(quietFor / proxyPing / 2); pings < minPings {
					t.Errorf("%d pings in %v, want at least %d", pings, quietFor, minPings)
				}
				if err := echo(c, wsproto.OpText, []byte("after")); err != nil {
					t.Fatalf("after %v of silence: %v", quietFor, err)
				}
				closeNormally(t, c, up, "pings")
			})

			// The control: without wssd's pings the proxy cuts the same
			// quiet connection at its idle timeout.
			t.Run("no-pings-cut", func(t *testing.T) {
				t.Parallel()
				up := startUpstream(t, p.edge, -1)
				addr := startProxy(t, p, bin, proxyOptions{upstream: up.Addr(), idle: proxyIdle})
				c := dialProxy(t, addr, echoPath+"?id=no-pings", clientTLS(), nil)
				if err := echo(c, wsproto.OpText, []byte("before")); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				pings, err := keepQuiet(c, quietFor)
				cut := time.Since(start)
				c.Close()
				switch {
				case pings > 0:
					t.Errorf("got %d pings with pings disabled", pings)
				case err == nil:
					t.Fatalf("the connection survived %v of silence with an idle timeout of %v and no pings", quietFor, proxyIdle)
				case cut < proxyIdle/2:
					t.Errorf("cut after %v, before the idle timeout of %v: %v", cut, proxyIdle, err)
				}
				t.Logf("cut after %v: %v", cut.Round(10*time.Millisecond), err)
				var ce *wsproto.CloseError
				if err := up.h.closeErr(t, "no-pings"); errors.As(err, &ce) {
					t.Errorf("server OnClose: %v, want the transport's end, not a closing handshake", err)
				}
			})
		})
	}
}

// TestProxyDirect checks that a client that reaches wssd directly cannot
// choose its address: wssd believes forwarding headers and PROXY headers
// only from -trusted-proxies (here 127.0.0.1), and the client is 127.0.0.2.
// The trusted cases show that the same bytes from 127.0.0.1 are believed.
func TestProxyDirect(t *testing.T) {
	t.Parallel()

	t.Run("x-real-ip", func(t *testing.T) {
		t.Parallel()
		up := startUpstream(t, realIPSetup{header: engine.SourceXRealIP}, -1)
		for _, tc := range []struct {
			name string
			from netip.Addr
			want seenClient
		}{
			{"from-client", clientIP, seenClient{ip: clientIP, source: engine.SourcePeer, peer: clientIP}},
			{"from-trusted", proxyIP, seenClient{ip: netip.MustParseAddr("203.0.113.7"), source: engine.SourceXRealIP, peer: proxyIP}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := wstest.Dial(up.Addr().String(), wstest.DialOptions{
					Path: echoPath + "?id=" + tc.name, LocalIP: tc.from.String(), Header: spoofedHeader(),
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := echo(c, wsproto.OpText, []byte("hello")); err != nil {
					t.Fatal(err)
				}
				closeNormally(t, c, up, tc.name)
				if got := up.h.seenAs(t, tc.name); got != tc.want {
					t.Errorf("OnHandshake saw %v, want %v", got, tc.want)
				}
				wantLogged(t, up.log, fmt.Sprintf(`msg="ws open" client_ip=%v client_ip_source=%v peer=%v:`, tc.want.ip, tc.want.source, tc.from))
			})
		}
	})

	t.Run("proxy-protocol", func(t *testing.T) {
		t.Parallel()
		up := startUpstream(t, realIPSetup{header: engine.SourceProxyProtocol, proxyProtocol: true}, -1)
		claimed := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), 40000)
		for _, v := range []struct {
			name   string
			header []byte
		}{
			{"v1", proxyHeaderV1(claimed, up.Addr())},
			{"v2", proxyHeaderV2(claimed, up.Addr())},
		} {
			t.Run(v.name+"/from-client", func(t *testing.T) {
				id := v.name + "-from-client"
				c, err := wstest.Dial(up.Addr().String(), wstest.DialOptions{
					Path: echoPath + "?id=" + id, LocalIP: clientIP.String(), PreHandshake: v.header,
				})
				if err == nil {
					c.Close()
					t.Fatal("upgraded, want the connection closed")
				}
				if c != nil {
					c.Close()
					t.Fatalf("answered %s, want the connection closed without an answer", c.Response.Status)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the connection stayed open: %v", err)
				}
				if up.h.saw(id) {
					t.Error("OnHandshake was called")
				}
			})
			t.Run(v.name+"/from-trusted", func(t *testing.T) {
				id := v.name + "-from-trusted"
				c, err := wstest.Dial(up.Addr().String(), wstest.DialOptions{
					Path: echoPath + "?id=" + id, LocalIP: proxyIP.String(), PreHandshake: v.header,
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := echo(c, wsproto.OpText, []byte("hello")); err != nil {
					t.Fatal(err)
				}
				closeNormally(t, c, up, id)
				want := seenClient{ip: claimed.Addr(), source: engine.SourceProxyProtocol, peer: proxyIP}
				if got := up.h.seenAs(t, id); got != want {
					t.Errorf("OnHandshake saw %v, want %v", got, want)
				}
			})
		}
	})
}

// checkProxyTLS checks the TLS a proxy at addr offers: TLS 1.3 by default,
// TLS 1.2 with an ECDHE AEAD suite, and neither TLS 1.1 nor TLS 1.2 with
// CBC suites only.
func checkProxyTLS(t *testing.T, addr netip.AddrPort, up *upstream) {
	t.Helper()
	tls12 := clientTLS()
	tls12.MaxVersion = tls.VersionTLS12
	for _, tc := range []struct {
		name    string
		cfg     *tls.Config
		version uint16
	}{
		{"default", clientTLS(), tls.VersionTLS13},
		{"tls1.2", tls12, tls.VersionTLS12},
	} {
		id := "tls-" + tc.name
		c := dialProxy(t, addr, echoPath+"?id="+id, tc.cfg, nil)
		st := c.Conn.(*tls.Conn).ConnectionState()
		suite := tls.CipherSuiteName(st.CipherSuite)
		t.Logf("%s: %s %s", tc.name, tls.VersionName(st.Version), suite)
		if st.Version != tc.version {
			t.Errorf("%s: negotiated %s, want %s", tc.name, tls.VersionName(st.Version), tls.VersionName(tc.version))
		}
		if st.Version == tls.VersionTLS12 && (!strings.HasPrefix(suite, "TLS_ECDHE_") || !(strings.Contains(suite, "_GCM_") || strings.Contains(suite, "CHACHA20"))) {
			t.Errorf("%s: negotiated %s, want ECDHE with an AEAD", tc.name, suite)
		}
		if err := echo(c, wsproto.OpText, []byte(tc.name)); err != nil {
			t.Fatal(err)
		}
		closeNormally(t, c, up, id)
	}

	tls11 := clientTLS()
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	cbc := clientTLS()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"tls1.1", tls11},
		{"tls1.2-cbc", cbc},
	} {
		c, err := wstest.Dial(proxyHost(addr), wstest.DialOptions{Path: echoPath + "?id=tls-" + tc.name, LocalIP: clientIP.String(), TLS: tc.cfg})
		if err == nil {
			st := c.Conn.(*tls.Conn).ConnectionState()
			c.Close()
			t.Errorf("%s: connected with %s %s, want a refused handshake", tc.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			continue
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
}

// upstream is wssd behind a proxy, in process: its handler and its access
// log (Info and above; warnings also go to the test log).
type upstream struct {
	*engine.Server
	h   *ipRecorder
	log *logtest.Buffer
}

// startUpstream starts an echo engine as the deployments run wssd behind
// a proxy (-trusted-proxies 127.0.0.1, and -real-ip-header and
// -proxy-protocol as edge says), pinging quiet connections every ping
// (negative: never).
func startUpstream(t *testing.T, edge realIPSetup, ping time.Duration) *upstream {
	t.Helper()
	u := &upstream{h: newIPRecorder(), log: &logtest.Buffer{}}
	logger := accessLogger(t, u.log)
	u.Server = startEngine(t, transport{Name: "ws"}, engine.Config{
		Logger:         logger,
		TrustedProxies: trustedProxies,
		RealIPHeader:   edge.header,
		ProxyProtocol:  edge.proxyProtocol,
		PingInterval:   ping,
		EventLoops:     2,
		HTTPHandler:    readyOnly,
	}, u.h)
	return u
}

// accessLogger is the logger of wssd behind a proxy: Info and above into
// accessLog, warnings also to the test log.
func accessLogger(t *testing.T, accessLog *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(accessLog, nil),
		slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}),
	))
}

// readyOnly answers GET /readyz with 200, as the push server does while it
// takes clients: HAProxy's health check asks it (deploy/haproxy).
var readyOnly = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/readyz" {
		http.NotFound(w, r)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
})

// wantLogged checks that the access log has a line containing want.
func wantLogged(t *testing.T, accessLog *logtest.Buffer, want string) {
	t.Helper()
	if log := accessLog.String(); !strings.Contains(log, want) {
		t.Errorf("no access log line contains %s; the log:\n%s", want, log)
	}
}

// seenClient is how OnHandshake saw a connection.
type seenClient struct {
	ip     netip.Addr
	source engine.IPSource
	peer   netip.Addr // the TCP peer: the proxy, behind one
}

func (s seenClient) String() string {
	return fmt.Sprintf("client %v (from %v), TCP peer %v", s.ip, s.source, s.peer)
}

// ipRecorder is wssd's handler in these tests: it sends every message back
// with its opcode and records, by the request's "id" query parameter, how
// OnHandshake saw the client and how OnClose saw the end.
type ipRecorder struct {
	engine.NopHandler

	mu      sync.Mutex
	seen    map[string]seenClient
	headers map[string]http.Header // the request's other header fields
	closed  map[string]error
	change  chan struct{} // closed and replaced whenever closed changes
}

func newIPRecorder() *ipRecorder {
	return &ipRecorder{seen: map[string]seenClient{}, headers: map[string]http.Header{}, closed: map[string]error{}, change: make(chan struct{})}
}

func (h *ipRecorder) OnHandshake(c *engine.Conn, r *engine.Handshake) error {
	id := r.Query().Get("id")
	c.SetValue(id)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[id] = seenClient{ip: r.ClientIP, source: r.ClientIPSource, peer: r.Peer.Addr()}
	h.headers[id] = r.Header.Clone()
	return nil
}

func (h *ipRecorder) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	_ = c.Send(typ, data)
}

func (h *ipRecorder) OnClose(c *engine.Conn, err error) {
	id, _ := c.Value().(string)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed[id] = err
	close(h.change)
	h.change = make(chan struct{})
}

// saw reports whether OnHandshake was called for id.
func (h *ipRecorder) saw(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.seen[id]
	return ok
}

// seenAs returns how OnHandshake saw the connection id.
func (h *ipRecorder) seenAs(t *testing.T, id string) seenClient {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.seen[id]
	if !ok {
		t.Fatalf("OnHandshake was not called for %s", id)
	}
	return s
}

// headerOf returns the header fields the connection id arrived with.
func (h *ipRecorder) headerOf(id string) http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.headers[id]
}

// closeErr waits until the connection id is gone on the server and returns
// the error OnClose was given.
func (h *ipRecorder) closeErr(t *testing.T, id string) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		err, ok := h.closed[id]
		change := h.change
		h.mu.Unlock()
		if ok {
			return err
		}
		select {
		case <-change:
		case <-timeout:
			t.Fatalf("server: connection %s not closed after 10 s", id)
		}
	}
}

// proxyHost is the host:port a client dials to reach a proxy at addr: by
// name, which the test certificate covers and which resolves to 127.0.0.1
// for a client bound to an IPv4 address.
func proxyHost(addr netip.AddrPort) string {
	return fmt.Sprintf("localhost:%d", addr.Port())
}

// dialProxy opens a WebSocket from 127.0.0.2 to path at the proxy at addr,
// over TLS with cfg, sending the extra header h.
func dialProxy(t *testing.T, addr netip.AddrPort, path string, cfg *tls.Config, h http.Header) *wstest.Client {
	t.Helper()
	c, err := wstest.Dial(proxyHost(addr), wstest.DialOptions{Path: path, LocalIP: clientIP.String(), TLS: cfg, Header: h})
	if err != nil {
		t.Fatalf("wss://%s%s from %v: %v", proxyHost(addr), path, clientIP, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends msg as one frame of type op and reads its echo, answering the
// server's pings on the way as every client does.
func echo(c *wstest.Client, op wsproto.Opcode, msg []byte) error {
	if err := c.Write(wstest.Message(op, msg)); err != nil {
		return err
	}
	for {
		h, p, err := c.ReadFrame(5 * time.Second)
		switch {
		case err != nil:
			return fmt.Errorf("waiting for the echo of %q: %w", msg, err)
		case h.Op == wsproto.OpPing:
			if err := c.Write(wstest.Message(wsproto.OpPong, p)); err != nil {
				return err
			}
		case h.Op != op || !h.Fin || !bytes.Equal(p, msg):
			return fmt.Errorf("sent %v %q, got %v (fin %v) %q", op, msg, h.Op, h.Fin, p)
		default:
			return nil
		}
	}
}

// keepQuiet sends nothing for d but pongs to the server's pings, and
// returns how many pings came. An error means the connection ended.
func keepQuiet(c *wstest.Client, d time.Duration) (pings int, err error) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return pings, nil
		}
		h, p, err := c.ReadFrame(left)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return pings, nil
		case err != nil:
			return pings, err
		case h.Op != wsproto.OpPing:
			return pings, fmt.Errorf("got a %v frame while quiet", h.Op)
		}
		pings++
		if err := c.Write(wstest.Message(wsproto.OpPong, p)); err != nil {
			return pings, err
		}
	}
}

// closeNormally closes c with 1000, waits for the server's answer, and
// checks that OnClose saw that closing handshake for id.
func closeNormally(t *testing.T, c *wstest.Client, up *upstream, id string) {
	t.Helper()
	if err := c.Write(wstest.Message(wsproto.OpClose, wsproto.AppendClosePayload(nil, wsproto.CloseNormal, ""))); err != nil {
		t.Fatal(err)
	}
	code, _, err := c.ReadClose(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting for the server's close: %v", err)
	}
	if code != wsproto.CloseNormal {
		t.Errorf("server answered close with %v, want %v", code, wsproto.CloseNormal)
	}
	c.Close()
	if err := checkCloseErr(up.h.closeErr(t, id), wsproto.CloseNormal, ""); err != nil {
		t.Errorf("server OnClose for %s: %v", id, err)
	}
}

// proxyHeaderV1 is a PROXY protocol v1 header announcing a TCP connection
// from src to dst (IPv4).
func proxyHeaderV1(src, dst netip.AddrPort) []byte {
	return fmt.Appendf(nil, "PROXY TCP4 %v %v %d %d\r\n", src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// proxyHeaderV2 is a PROXY protocol v2 header announcing a TCP connection
// from src to dst (IPv4), as HAProxy's send-proxy-v2 writes it.
func proxyHeaderV2(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11) // version 2, PROXY; TCP over IPv4
	b = binary.BigEndian.AppendUint16(b, 12)
	s, d := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
