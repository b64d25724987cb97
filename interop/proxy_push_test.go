package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// The push server behind each real proxy, as wssd -mode push runs there:
// a Pusher protocol connection at /app/{key}, a signed trigger through the
// HTTP API at /apps/{id}/events, and the client's address the proxy
// vouches for on both.

// proxyApp is the app of the push server behind the proxies.
var proxyApp = push.App{ID: "4242", Key: "proxy-key", Secret: "proxy-secret"}

// testIDHeader names the API request for the push upstream's records.
const testIDHeader = "X-Test-Id"

// TestProxyPush runs each real proxy from its shipped file, and again
// rewritten to send X-Forwarded-For only, in front of a push server
// (push.Server with its API on the engine's port, -trusted-proxies
// 127.0.0.1), and has a client from 127.0.0.2 that forges every forwarding
// header subscribe through the proxy and trigger a signed event through it.
func TestProxyPush(t *testing.T) {
	t.Parallel()
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			bin := findProxy(t, p)
			for _, v := range []struct {
				name    string
				edge    realIPSetup
				xffOnly bool
			}{
				{"shipped", p.edge, false},
				{"xff-only", xffOnly, true},
			} {
				t.Run(v.name, func(t *testing.T) {
					t.Parallel()
					up := startPushUpstream(t, v.edge)
					addr := startProxy(t, p, bin, proxyOptions{upstream: up.Addr(), idle: proxyIdle, xffOnly: v.xffOnly})
					api := proxyAPIClient(t, addr)
					want := engine.HTTPClient{
						Peer:     netip.AddrPortFrom(proxyIP, 0),
						IP:       clientIP,
						IPSource: v.edge.header,
					}

					// A subscriber through the proxy gets an event
					// triggered through the proxy; wssd saw both
					// requests come from the client.
					t.Run("trigger", func(t *testing.T) {
						t.Parallel()
						c := dialProxy(t, addr, pusherPath(proxyApp.Key), clientTLS(), spoofedHeader())
						triggerRoundTrip(t, c, api, "trigger", spoofedHeader())
						wantLogged(t, up.log, fmt.Sprintf(`msg="ws open" client_ip=%v client_ip_source=%v peer=%v:`, clientIP, v.edge.header, proxyIP))
						if got := up.client(t, "trigger"); got.IP != want.IP || got.IPSource != want.IPSource || got.Peer.Addr() != want.Peer.Addr() {
							t.Errorf("the API request came from %+v, want %+v", got, want)
						}
						for _, forged := range []string{"203.0.113.7", "198.51.100.1", "192.0.2.1"} {
							if strings.Contains(up.log.String(), forged) {
								t.Errorf("the access log has the forged address %s:\n%s", forged, up.log.String())
							}
						}
					})

					// A signed channel query whose path has characters
					// a proxy might re-encode, some percent-encoded as
					// encodeURIComponent would: the signature (over the
					// decoded path) still holds behind the proxy.
					t.Run("channel-query", func(t *testing.T) {
						t.Parallel()
						const channel = "proxy-a=b@c,d.e;f"
						c := dialProxy(t, addr, pusherPath(proxyApp.Key), clientTLS(), nil)
						var m pusherMessage
						readPusher(t, c, &m)
						sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
						if err := c.Write(wstest.Message(wsproto.OpText, sub)); err != nil {
							t.Fatal(err)
						}
						readPusher(t, c, &m)
						path := "/apps/" + proxyApp.ID + "/channels/" + url.PathEscape(channel)
						path = strings.NewReplacer("@", "%40", ",", "%2C").Replace(path)
						status, got := api.signedGet(t, path, url.Values{"info": {"subscription_count"}})
						if status != http.StatusOK || !strings.Contains(got, `"occupied":true`) || !strings.Contains(got, `"subscription_count":1`) {
							t.Errorf("GET %s: %d %q, want 200, occupied, one subscription", path, status, got)
						}
					})

					// The proxy passes a body as large as the API
					// accepts; one byte more is refused by wssd, not by
					// the proxy.
					t.Run("body-limit", func(t *testing.T) {
						t.Parallel()
						limit := up.api.MaxBodyBytes()
						ev := []byte(`{"name":"big","channels":["big"],"data":"{}"}`)
						for _, tc := range []struct {
							name   string
							size   int64
							status int
							body   string
						}{
							{"at-limit", limit, http.StatusOK, "{}"},
							{"above-limit", limit + 1, http.StatusRequestEntityTooLarge, "request body larger than"},
						} {
							// JSON allows whitespace after the value.
							body := append(bytes.Clone(ev), bytes.Repeat([]byte(" "), int(tc.size)-len(ev))...)
							status, got := api.post(t, "/apps/"+proxyApp.ID+"/events", body, false, http.Header{testIDHeader: {tc.name}})
							if status != tc.status || !strings.Contains(got, tc.body) {
								t.Errorf("%s: a body of %d bytes got %d %q, want %d %q", tc.name, tc.size, status, got, tc.status, tc.body)
							}
						}
					})

					// A body the client sends chunked: p.chunkedStatus
					// (see proxyKind). 64 KiB, more than Apache reads
					// ahead before it decides how to send a body on.
					t.Run("chunked", func(t *testing.T) {
						t.Parallel()
						body := []byte(`{"name":"chunked","channels":["chunked"],"data":"{}"}`)
						body = append(body, bytes.Repeat([]byte(" "), 64<<10)...)
						status, got := api.post(t, "/apps/"+proxyApp.ID+"/events", body, true, nil)
						t.Logf("chunked body: %d %q", status, got)
						if status != p.chunkedStatus {
							t.Errorf("got %d, want %d", status, p.chunkedStatus)
						}
					})

					// The health checks stay on the machine: the proxy
					// answers 404 for them, not wssd's "ok".
					t.Run("health", func(t *testing.T) {
						t.Parallel()
						for _, path := range []string{"/healthz", "/readyz"} {
							status, body := api.get(t, path)
							if status != http.StatusNotFound || strings.Contains(body, "ok") {
								t.Errorf("%s: %d %q through the proxy, want the proxy's 404", path, status, body)
							}
						}
					})
				})
			}

			// A wssd that is shutting down answers /readyz with 503: a
			// proxy that checks it sends no new client there, while the
			// clients it has keep their connections.
			if !p.checksReady {
				return
			}
			t.Run("draining", func(t *testing.T) {
				t.Parallel()
				up := startPushUpstream(t, p.edge)
				addr := startProxy(t, p, bin, proxyOptions{upstream: up.Addr(), idle: proxyIdle})
				c := dialProxy(t, addr, pusherPath(proxyApp.Key), clientTLS(), nil)
				var m pusherMessage
				readPusher(t, c, &m)
				up.api.SetReady(false)
				start := time.Now()
				for {
					nc, err := wstest.Dial(proxyHost(addr), wstest.DialOptions{Path: pusherPath(proxyApp.Key), LocalIP: clientIP.String(), TLS: clientTLS()})
					if err == nil {
						nc.Close()
					} else if nc != nil && nc.Response.StatusCode == http.StatusServiceUnavailable {
						t.Logf("new clients refused by the proxy %v after /readyz turned 503", time.Since(start).Round(100*time.Millisecond))
						break
					}
					if time.Since(start) > 15*time.Second {
						t.Fatalf("new clients still reach wssd 15 s after /readyz turned 503 (last: %v)", err)
					}
					// Meanwhile the client connected before answers
					// wssd's pings, as every client does.
					if _, err := keepQuiet(c, 200*time.Millisecond); err != nil {
						t.Fatalf("the client connected before lost its connection: %v", err)
					}
				}
				// The open connection still gets pings through the proxy.
				if pings, err := keepQuiet(c, 2*proxyPing); err != nil || pings == 0 {
					t.Errorf("the client connected before: %d pings, %v; want its connection kept", pings, err)
				}
			})
		})
	}
}

// pusherPath is the path a Pusher client opens for key.
func pusherPath(key string) string {
	return "/app/" + key + "?protocol=7&client=wssd-interop&version=1.0"
}

// pusherMessage is a message of the Pusher protocol, data still encoded.
type pusherMessage struct {
	Event   string `json:"event"`
	Channel string `json:"channel,omitempty"`
	Data    string `json:"data"`
}

// triggerRoundTrip runs a Pusher client's life on c, a connection to the
// app's /app/{key}: the connection is established, it subscribes to a
// channel named after id, an event is triggered on that channel through
// api, the same app's (a signed POST /apps/{id}/events carrying h and
// testIDHeader id), and it arrives on c.
func triggerRoundTrip(t *testing.T, c *wstest.Client, api *apiClient, id string, h http.Header) {
	t.Helper()
	var m pusherMessage
	readPusher(t, c, &m)
	if m.Event != "pusher:connection_established" {
		t.Fatalf("first message %+v, want pusher:connection_established", m)
	}
	channel := "proxy-" + id
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	if err := c.Write(wstest.Message(wsproto.OpText, sub)); err != nil {
		t.Fatal(err)
	}
	readPusher(t, c, &m)
	if m.Event != "pusher_internal:subscription_succeeded" || m.Channel != channel {
		t.Fatalf("after subscribing: %+v", m)
	}
	body, _ := json.Marshal(map[string]any{"name": "greeting", "channels": []string{channel}, "data": `{"text":"through the proxy"}`})
	if h == nil {
		h = http.Header{}
	}
	h = h.Clone()
	h.Set(testIDHeader, id)
	status, got := api.post(t, "/apps/"+api.creds.ID+"/events", body, false, h)
	if status != http.StatusOK {
		t.Fatalf("trigger: %d %q", status, got)
	}
	readPusher(t, c, &m)
	if m.Event != "greeting" || m.Channel != channel || m.Data != `{"text":"through the proxy"}` {
		t.Errorf("the subscriber got %+v, want greeting on %s", m, channel)
	}
}

// apiClient posts signed requests to the Pusher HTTP API at base (over TLS
// when base is https).
type apiClient struct {
	base  string
	creds push.Credentials
	http  *http.Client
}

// proxyAPIClient is an apiClient of proxyApp through the proxy at addr,
// from 127.0.0.2.
func proxyAPIClient(t *testing.T, addr netip.AddrPort) *apiClient {
	return newAPIClient(t, "https://"+proxyHost(addr), proxyApp, clientIP, nil)
}

// newAPIClient returns an apiClient of app at base, connecting from local
// and sending pre (a PROXY header) first on every connection; its
// connections close when the test ends.
func newAPIClient(t *testing.T, base string, app push.App, local netip.Addr, pre []byte) *apiClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil && len(pre) > 0 {
			if _, err = c.Write(pre); err != nil {
				c.Close()
			}
		}
		return c, err
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: clientTLS()}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{
		base:  base,
		creds: push.Credentials{ID: app.ID, Key: app.Key, Secret: app.Secret},
		http:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

// post sends body to path, signed, with the header h; chunked sends the
// body without a Content-Length. It returns the status and the body.
func (a *apiClient) post(t *testing.T, path string, body []byte, chunked bool, h http.Header) (int, string) {
	t.Helper()
	q := a.creds.SignQuery(http.MethodPost, path, url.Values{}, body, time.Now())
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, a.base+path+"?"+q, r)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	return a.do(t, req)
}

// signedGet sends a GET of path (escaped) with params, signed over the
// decoded path.
func (a *apiClient) signedGet(t *testing.T, path string, params url.Values) (int, string) {
	t.Helper()
	decoded, err := url.PathUnescape(path)
	if err != nil {
		t.Fatal(err)
	}
	q := a.creds.SignQuery(http.MethodGet, decoded, params, nil, time.Now())
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+path+"?"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.do(t, req)
}

// get sends an unsigned GET of path.
func (a *apiClient) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.do(t, req)
}

func (a *apiClient) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// pushUpstream is wssd's push server behind a proxy, in process: the
// engine, the API, the access log, and how the engine saw the client of
// each API request (by its testIDHeader).
type pushUpstream struct {
	*engine.Server
	api *push.API
	log *logtest.Buffer

	mu      sync.Mutex
	clients map[string]engine.HTTPClient
}

// startPushUpstream starts the push server with proxyApp as wssd -mode
// push runs it behind a proxy: its API on the WebSocket's port with the
// API's body limit, -trusted-proxies 127.0.0.1, and -real-ip-header and
// -proxy-protocol as edge says.
func startPushUpstream(t *testing.T, edge realIPSetup) *pushUpstream {
	t.Helper()
	u := &pushUpstream{log: &logtest.Buffer{}, clients: map[string]engine.HTTPClient{}}
	logger := accessLogger(t, u.log)
	ps := newPush(t, proxyApp)
	u.api = ps.API(push.APIConfig{Logger: logger})
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(testIDHeader); id != "" {
			c, _ := engine.HTTPClientOf(r)
			u.mu.Lock()
			u.clients[id] = c
			u.mu.Unlock()
		}
		u.api.ServeHTTP(w, r)
	})
	cfg := engine.Config{
		Logger:           logger,
		TrustedProxies:   trustedProxies,
		RealIPHeader:     edge.header,
		ProxyProtocol:    edge.proxyProtocol,
		PingInterval:     proxyPing,
		EventLoops:       2,
		HTTPHandler:      record,
		MaxHTTPBodyBytes: u.api.MaxBodyBytes(),
	}
	u.Server = wstest.StartServerWith(t, transport{Name: "ws"}, "127.0.0.1:0", cfg, ps, 10*time.Second, ps.Bind)
	return u
}

// client returns how the engine saw the client of the API request id.
func (u *pushUpstream) client(t *testing.T, id string) engine.HTTPClient {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.clients[id]
	if !ok {
		t.Fatalf("the API got no request %s", id)
	}
	return c
}
