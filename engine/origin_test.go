package engine_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

var testOrigins = []string{"https://app.example.com", "http://localhost:3000", "https://*.example.org"}

// originCases are the requests of TestCheckOrigin and TestOriginOverTheWire
// against testOrigins; ok says the handshake goes through.
var originCases = []struct {
	name   string
	origin []string // Origin header lines; none: no Origin
	ok     bool
}{
	{name: "no Origin: not a browser", ok: true},
	{name: "exact", origin: []string{"https://app.example.com"}, ok: true},
	{name: "exact, other case", origin: []string{"HTTPS://App.Example.COM"}, ok: true},
	{name: "exact with default port", origin: []string{"https://app.example.com:443"}, ok: true},
	{name: "exact with port", origin: []string{"http://localhost:3000"}, ok: true},
	{name: "wildcard subdomain", origin: []string{"https://chat.example.org"}, ok: true},
	{name: "wildcard deeper subdomain", origin: []string{"https://a.b.example.org"}, ok: true},
	{name: "cross-site page", origin: []string{"https://evil.example"}},
	{name: "other scheme", origin: []string{"http://app.example.com"}},
	{name: "other port", origin: []string{"https://app.example.com:8443"}},
	{name: "localhost other port", origin: []string{"http://localhost:3001"}},
	{name: "wildcard does not cover the domain itself", origin: []string{"https://example.org"}},
	{name: "suffix that is not a subdomain", origin: []string{"https://evilexample.org"}},
	{name: "allowed host as a subdomain of another", origin: []string{"https://app.example.com.evil.example"}},
	{name: "opaque origin null", origin: []string{"null"}},
	{name: "garbage", origin: []string{"%%%"}},
	{name: "two Origin headers", origin: []string{"https://app.example.com", "https://evil.example"}},
}

func TestCheckOrigin(t *testing.T) {
	for _, tc := range originCases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != nil {
				h["Origin"] = tc.origin
			}
			newErr, err := engine.CheckOrigin(testOrigins, h)
			if newErr != nil {
				t.Fatal(newErr)
			}
			var rej *wsproto.RejectError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &rej) || rej.Status != http.StatusForbidden || rej.Reason == ""):
				t.Fatalf("got %v, want a 403 that says why", err)
			}
		})
	}
	t.Run("no policy allows all", func(t *testing.T) {
		if _, err := engine.CheckOrigin(nil, http.Header{"Origin": {"https://evil.example"}}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAllowedOriginsConfig(t *testing.T) {
	for _, bad := range []string{"app.example.com", "https://app.example.com/path", "https://*", "https://a.*.example.com", "https://user@app.example.com", "https://app.example.com?q"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := engine.New(engine.Config{AllowedOrigins: []string{bad}}, echo{}); err == nil {
				t.Fatalf("New accepted allowed origin %q", bad)
			}
		})
	}
}

// TestOriginOverTheWire: cross-site WebSocket hijacking. A page of another
// origin cannot open a WebSocket to a server with AllowedOrigins: the
// handshake gets 403 with the reason and the handler never sees it.
func TestOriginOverTheWire(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := seenIP{ips: make(chan netip.Addr, len(originCases))}
		srv := startServer(t, tr, engine.Config{AllowedOrigins: testOrigins}, h)
		for _, tc := range originCases {
			t.Run(tc.name, func(t *testing.T) {
				head := http.Header{}
				if tc.origin != nil {
					head["Origin"] = tc.origin
				}
				c, err := srv.tryDial(t, wstest.DialOptions{Header: head})
				if tc.ok {
					if err != nil {
						t.Fatal(err)
					}
					<-h.ips
					expectEchoOf(t, c, wsproto.OpText, "same origin")
					return
				}
				if err == nil || c == nil || c.Response.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "Origin") {
					t.Fatalf("got %v, want 403 saying the Origin is not allowed", err)
				}
				select {
				case ip := <-h.ips:
					t.Fatalf("OnHandshake ran for a refused origin (client %v)", ip)
				default:
				}
			})
		}
	})
}
