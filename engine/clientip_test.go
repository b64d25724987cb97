package engine_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
)

func TestResolveClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name   string
		peer   string
		header http.Header
		want   string
	}{
		{"untrusted peer, no headers", "198.51.100.1", nil, "198.51.100.1"},
		{"untrusted peer spoofs X-Real-IP", "198.51.100.1", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "198.51.100.1"},
		{"untrusted peer spoofs X-Forwarded-For", "198.51.100.1", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, "198.51.100.1"},
		{"trusted proxy, X-Real-IP", "127.0.0.1", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "203.0.113.7"},
		{"trusted proxy, X-Real-IP wins over XFF", "127.0.0.1", http.Header{"X-Real-Ip": {"203.0.113.7"}, "X-Forwarded-For": {"192.0.2.1"}}, "203.0.113.7"},
		{"trusted proxy, malformed X-Real-IP falls to XFF", "127.0.0.1", http.Header{"X-Real-Ip": {"nope"}, "X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1"},
		{"XFF rightmost untrusted", "127.0.0.1", http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7, 10.1.2.3"}}, "203.0.113.7"},
		{"XFF over several lines", "127.0.0.1", http.Header{"X-Forwarded-For": {"6.6.6.6", "203.0.113.7,10.0.0.9"}}, "203.0.113.7"},
		{"XFF all trusted", "127.0.0.1", http.Header{"X-Forwarded-For": {"10.0.0.2, 10.0.0.3"}}, "10.0.0.2"},
		{"XFF malformed entry stops the walk", "127.0.0.1", http.Header{"X-Forwarded-For": {"203.0.113.7, junk, 10.0.0.3"}}, "10.0.0.3"},
		{"XFF IPv6", "127.0.0.1", http.Header{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::1"},
		{"XFF v4-mapped unmapped", "127.0.0.1", http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7"},
		{"trusted proxy without headers", "10.9.9.9", nil, "10.9.9.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := engine.ResolveClientIP(trusted, netip.MustParseAddr(tc.peer), tc.header)
			if got.String() != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// seenIP records the client IP the handshake hook saw.
type seenIP struct {
	echo
	ips chan netip.Addr
}

func (h seenIP) OnHandshake(_ *engine.Conn, hs *engine.Handshake) error {
	h.ips <- hs.ClientIP
	return nil
}

func TestClientIPOverTheWire(t *testing.T) {
	cases := []struct {
		name    string
		trusted []netip.Prefix
		from    string
		header  http.Header
		want    string
	}{
		{"no proxy trusted: spoofed X-Real-IP ignored", nil, "127.0.0.2", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "127.0.0.2"},
		{"other proxy trusted: spoofed header ignored", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "127.0.0.2", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "127.0.0.2"},
		{"peer trusted: X-Real-IP believed", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")}, "127.0.0.2", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "203.0.113.7"},
		{"peer trusted: X-Forwarded-For believed", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, "127.0.0.2", http.Header{"X-Forwarded-For": {"198.51.100.9, 203.0.113.7"}}, "203.0.113.7"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := seenIP{ips: make(chan netip.Addr, 1)}
				srv := startServer(t, tr, engine.Config{TrustedProxies: tc.trusted}, h)
				c := srv.dial(t, wstest.DialOptions{LocalIP: tc.from, Header: tc.header, Path: "/ip"})
				if got := <-h.ips; got.String() != tc.want {
					t.Fatalf("hook saw %v, want %s", got, tc.want)
				}
				line := srv.waitLog("ws open", "path=/ip")
				if !strings.Contains(line, "client_ip="+tc.want+" ") {
					t.Fatalf("access log line lacks client_ip=%s: %s", tc.want, line)
				}
				c.Close()
			})
		}
	})
}
