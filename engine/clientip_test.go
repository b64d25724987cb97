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
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	cases := []struct {
		name   string
		peer   string
		header http.Header
		want   string
		src    engine.IPSource
	}{
		{"untrusted peer, no headers", "198.51.100.1", nil, "198.51.100.1", engine.SourcePeer},
		{"untrusted peer spoofs X-Real-IP", "198.51.100.1", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "198.51.100.1", engine.SourcePeer},
		{"untrusted peer spoofs X-Forwarded-For", "198.51.100.1", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, "198.51.100.1", engine.SourcePeer},
		{"untrusted peer spoofs Forwarded", "198.51.100.1", http.Header{"Forwarded": {"for=203.0.113.7"}}, "198.51.100.1", engine.SourcePeer},
		{"trusted proxy, X-Real-IP", "127.0.0.1", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "203.0.113.7", engine.SourceXRealIP},
		{"X-Real-IP wins over the lists", "127.0.0.1", http.Header{"X-Real-Ip": {"203.0.113.7"}, "X-Forwarded-For": {"192.0.2.1"}, "Forwarded": {"for=192.0.2.2"}}, "203.0.113.7", engine.SourceXRealIP},
		{"malformed X-Real-IP falls to XFF", "127.0.0.1", http.Header{"X-Real-Ip": {"nope"}, "X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1", engine.SourceXForwardedFor},
		{"Forwarded wins over XFF", "127.0.0.1", http.Header{"Forwarded": {"for=192.0.2.2"}, "X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.2", engine.SourceForwarded},
		{"Forwarded rightmost untrusted", "127.0.0.1", http.Header{"Forwarded": {"for=6.6.6.6, for=203.0.113.7;proto=https, for=10.1.2.3;by=10.0.0.1"}}, "203.0.113.7", engine.SourceForwarded},
		{"Forwarded quoted IPv6 with port", "127.0.0.1", http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17", engine.SourceForwarded},
		{"Forwarded quoted IPv4 with port", "127.0.0.1", http.Header{"Forwarded": {`For="198.51.100.7:80";proto=http`}}, "198.51.100.7", engine.SourceForwarded},
		{"Forwarded obfuscated node falls to XFF", "127.0.0.1", http.Header{"Forwarded": {"for=_hidden"}, "X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1", engine.SourceXForwardedFor},
		{"Forwarded unknown stops the walk", "127.0.0.1", http.Header{"Forwarded": {"for=203.0.113.7, for=unknown, for=10.0.0.3"}}, "10.0.0.3", engine.SourceForwarded},
		{"Forwarded without for", "127.0.0.1", http.Header{"Forwarded": {"proto=https;by=10.0.0.1"}}, "127.0.0.1", engine.SourcePeer},
		{"XFF rightmost untrusted", "127.0.0.1", http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7, 10.1.2.3"}}, "203.0.113.7", engine.SourceXForwardedFor},
		{"XFF over several lines", "127.0.0.1", http.Header{"X-Forwarded-For": {"6.6.6.6", "203.0.113.7,10.0.0.9"}}, "203.0.113.7", engine.SourceXForwardedFor},
		{"XFF all trusted", "127.0.0.1", http.Header{"X-Forwarded-For": {"10.0.0.2, 10.0.0.3"}}, "10.0.0.2", engine.SourceXForwardedFor},
		{"XFF malformed entry stops the walk", "127.0.0.1", http.Header{"X-Forwarded-For": {"203.0.113.7, junk, 10.0.0.3"}}, "10.0.0.3", engine.SourceXForwardedFor},
		{"XFF malformed last entry", "127.0.0.1", http.Header{"X-Forwarded-For": {"203.0.113.7, junk"}}, "127.0.0.1", engine.SourcePeer},
		{"XFF IPv6", "127.0.0.1", http.Header{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::1", engine.SourceXForwardedFor},
		{"XFF v4-mapped unmapped", "127.0.0.1", http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7", engine.SourceXForwardedFor},
		{"trusted IPv6 proxy", "2001:db8:ffff::1", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "203.0.113.7", engine.SourceXRealIP},
		{"trusted proxy without headers", "10.9.9.9", nil, "10.9.9.9", engine.SourcePeer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, src := engine.ResolveClientIP(trusted, netip.MustParseAddr(tc.peer), tc.header)
			if got.String() != tc.want || src != tc.src {
				t.Fatalf("got %v from %v, want %s from %v", got, src, tc.want, tc.src)
			}
		})
	}
}

// FuzzResolveClientIP: any header values resolve without panicking, to an
// address that is the peer or one the headers name.
func FuzzResolveClientIP(f *testing.F) {
	f.Add("203.0.113.7", "for=192.0.2.2, for=10.0.0.1", "6.6.6.6, 10.0.0.3")
	f.Add("", `for="[2001:db8::1]:80";proto=https`, "")
	f.Add("junk", "for=\"", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, realIP, forwarded, xff string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Real-Ip": realIP, "Forwarded": forwarded, "X-Forwarded-For": xff} {
			if v != "" {
				h.Set(k, v)
			}
		}
		got, src := engine.ResolveClientIP(trusted, netip.MustParseAddr("127.0.0.1"), h)
		if !got.IsValid() {
			t.Fatalf("invalid address from %q %q %q", realIP, forwarded, xff)
		}
		if src == engine.SourcePeer && got != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("source peer but address %v", got)
		}
	})
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
				if !strings.Contains(line, "client_ip="+tc.want+" ") || !strings.Contains(line, "client_ip_source=") {
					t.Fatalf("access log line lacks client_ip=%s: %s", tc.want, line)
				}
				c.Close()
			})
		}
	})
}
