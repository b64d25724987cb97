package engine_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
)

var testTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}

// resolveCases are the table of TestResolveClientIP and the seeds of
// FuzzResolveClientIP. The hop is 127.0.0.1 (trusted) unless peer says
// otherwise; header is Config.RealIPHeader (zero: the default, X-Real-IP).
var resolveCases = []struct {
	name   string
	header engine.IPSource
	peer   string          // the nearest hop; 127.0.0.1 when empty
	hopSrc engine.IPSource // how the hop is known
	h      http.Header
	want   string
	src    engine.IPSource
}{
	{name: "untrusted peer, no headers", peer: "198.51.100.1", want: "198.51.100.1", src: engine.SourcePeer},
	{name: "untrusted peer spoofs X-Real-IP", peer: "198.51.100.1", h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "198.51.100.1", src: engine.SourcePeer},
	{name: "untrusted peer spoofs X-Forwarded-For", header: engine.SourceXForwardedFor, peer: "198.51.100.1", h: http.Header{"X-Forwarded-For": {"203.0.113.7"}}, want: "198.51.100.1", src: engine.SourcePeer},
	{name: "untrusted peer spoofs Forwarded", header: engine.SourceForwarded, peer: "198.51.100.1", h: http.Header{"Forwarded": {"for=203.0.113.7"}}, want: "198.51.100.1", src: engine.SourcePeer},
	{name: "trusted proxy, X-Real-IP", h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXRealIP},
	{name: "trusted IPv6 proxy, X-Real-IP", peer: "2001:db8:ffff::1", h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXRealIP},
	{name: "trusted proxy without headers", peer: "10.9.9.9", want: "10.9.9.9", src: engine.SourcePeer},

	// Finding: behind a proxy that only appends X-Forwarded-For, a forged
	// X-Real-IP won over the real client.
	{name: "XFF proxy: forged X-Real-IP ignored", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF proxy: forged Forwarded ignored", header: engine.SourceXForwardedFor,
		h: http.Header{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "X-Real-IP proxy: XFF ignored", h: http.Header{"X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "Forwarded proxy: X-Real-IP and XFF ignored", header: engine.SourceForwarded,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"6.6.6.7"}, "Forwarded": {"for=203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceForwarded},

	// Finding: an unparseable value fell through to a header the client
	// wrote. It now means the hop.
	{name: "Forwarded unknown means the peer", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {"for=unknown"}, "X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "Forwarded obfuscated means the peer", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {"for=_hidden"}, "X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "Forwarded unknown behind a trusted hop means the peer", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {"for=203.0.113.7, for=unknown, for=10.0.0.3"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "Forwarded without for means the peer", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {"proto=https;by=10.0.0.1"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "malformed X-Real-IP means the peer", h: http.Header{"X-Real-Ip": {"nope"}, "X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "two X-Real-IP lines mean the peer", h: http.Header{"X-Real-Ip": {"6.6.6.6", "203.0.113.7"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "X-Real-IP list means the peer", h: http.Header{"X-Real-Ip": {"6.6.6.6, 203.0.113.7"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "XFF malformed entry means the peer", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"203.0.113.7, junk, 10.0.0.3"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "XFF malformed last entry means the peer", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"203.0.113.7, junk"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "XFF malformed entry left of the client is not read", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"junk, 203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF empty means the peer", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {""}}, want: "127.0.0.1", src: engine.SourcePeer},

	// Lists, read from the right past trusted hops.
	{name: "XFF rightmost untrusted", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7, 10.1.2.3"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF over several lines", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"6.6.6.6", "203.0.113.7,10.0.0.9"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF all trusted: the leftmost", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"10.0.0.2, 10.0.0.3"}}, want: "10.0.0.2", src: engine.SourceXForwardedFor},
	{name: "XFF IPv6", header: engine.SourceXForwardedFor, h: http.Header{"X-Forwarded-For": {"2001:db8::1"}}, want: "2001:db8::1", src: engine.SourceXForwardedFor},
	{name: "XFF with ports", header: engine.SourceXForwardedFor,
		h: http.Header{"X-Forwarded-For": {"203.0.113.7:41000, [2001:db8:ffff::2]:443"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF v4-mapped unmapped", header: engine.SourceXForwardedFor, h: http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, want: "203.0.113.7", src: engine.SourceXForwardedFor},
	{name: "XFF zone refused", header: engine.SourceXForwardedFor, h: http.Header{"X-Forwarded-For": {"fe80::1%eth0"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "Forwarded rightmost untrusted", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {"for=6.6.6.6, for=203.0.113.7;proto=https, for=10.1.2.3;by=10.0.0.1"}}, want: "203.0.113.7", src: engine.SourceForwarded},
	{name: "Forwarded quoted IPv6 with port", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, want: "2001:db8:cafe::17", src: engine.SourceForwarded},
	{name: "Forwarded quoted IPv6", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {`for="[2001:db8:cafe::17]"`}}, want: "2001:db8:cafe::17", src: engine.SourceForwarded},
	{name: "Forwarded quoted IPv4 with port", header: engine.SourceForwarded,
		h: http.Header{"Forwarded": {`For="198.51.100.7:80";proto=http`}}, want: "198.51.100.7", src: engine.SourceForwarded},

	// The PROXY protocol.
	{name: "proxy-protocol: headers never read", header: engine.SourceProxyProtocol, peer: "203.0.113.7", hopSrc: engine.SourceProxyProtocol,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"6.6.6.6"}, "Forwarded": {"for=6.6.6.6"}}, want: "203.0.113.7", src: engine.SourceProxyProtocol},
	{name: "proxy-protocol: headers never read from a trusted source", header: engine.SourceProxyProtocol, peer: "10.1.1.1", hopSrc: engine.SourceProxyProtocol,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "10.1.1.1", src: engine.SourceProxyProtocol},
	{name: "PROXY source trusted: its X-Real-IP counts", peer: "10.1.1.1", hopSrc: engine.SourceProxyProtocol,
		h: http.Header{"X-Real-Ip": {"198.51.100.9"}}, want: "198.51.100.9", src: engine.SourceXRealIP},
	{name: "PROXY source untrusted: its X-Real-IP ignored", peer: "203.0.113.7", hopSrc: engine.SourceProxyProtocol,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "203.0.113.7", src: engine.SourceProxyProtocol},
	// Finding: PROXY LOCAL and UNKNOWN left the trusted balancer as the
	// hop, so the client's own X-Real-IP was believed.
	{name: "PROXY UNKNOWN: the client's X-Real-IP ignored", hopSrc: engine.SourceProxyUnknown,
		h: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
	{name: "PROXY LOCAL: the client's XFF ignored", header: engine.SourceXForwardedFor, hopSrc: engine.SourceProxyUnknown,
		h: http.Header{"X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
}

func TestResolveClientIP(t *testing.T) {
	for _, tc := range resolveCases {
		t.Run(tc.name, func(t *testing.T) {
			peer := cmpOr(tc.peer, "127.0.0.1")
			cfg := engine.Config{TrustedProxies: testTrusted, RealIPHeader: tc.header, ProxyProtocol: true}
			got, src, err := engine.ResolveClientIP(cfg, netip.MustParseAddr(peer), tc.hopSrc, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want || src != tc.src {
				t.Fatalf("got %v from %v, want %s from %v", got, src, tc.want, tc.src)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestRealIPHeaderConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  engine.Config
		ok   bool
	}{
		{"default", engine.Config{}, true},
		{"X-Forwarded-For", engine.Config{RealIPHeader: engine.SourceXForwardedFor}, true},
		{"proxy-protocol with ProxyProtocol", engine.Config{RealIPHeader: engine.SourceProxyProtocol, ProxyProtocol: true}, true},
		{"proxy-protocol without ProxyProtocol", engine.Config{RealIPHeader: engine.SourceProxyProtocol}, false},
		{"not a source", engine.Config{RealIPHeader: 42}, false},
		{"invalid prefix", engine.Config{TrustedProxies: []netip.Prefix{{}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := engine.New(tc.cfg, echo{})
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestIPSourceText(t *testing.T) {
	cases := []struct {
		in   string
		want engine.IPSource
		err  error
	}{
		{"X-Real-IP", engine.SourceXRealIP, nil},
		{"x-forwarded-for", engine.SourceXForwardedFor, nil},
		{"Forwarded", engine.SourceForwarded, nil},
		{"proxy-protocol", engine.SourceProxyProtocol, nil},
		{"X-Client-IP", 0, engine.ErrUnknownIPSource},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var s engine.IPSource
			err := s.UnmarshalText([]byte(tc.in))
			if !errors.Is(err, tc.err) || s != tc.want {
				t.Fatalf("got %v, %v; want %v, %v", s, err, tc.want, tc.err)
			}
			if b, _ := s.MarshalText(); err == nil && !strings.EqualFold(string(b), tc.in) {
				t.Fatalf("MarshalText %q, want %q", b, tc.in)
			}
		})
	}
}

// FuzzResolveClientIP: whatever the headers, the client IP is valid, it is
// the hop unless it comes from the one header configured, and the headers
// not configured never change it. Seeds: resolveCases and
// testdata/fuzz/FuzzResolveClientIP.
func FuzzResolveClientIP(f *testing.F) {
	for _, tc := range resolveCases {
		if tc.peer == "" {
			f.Add(uint8(tc.header), uint8(tc.hopSrc), strings.Join(tc.h.Values("X-Real-Ip"), "\n"),
				strings.Join(tc.h.Values("Forwarded"), "\n"), strings.Join(tc.h.Values("X-Forwarded-For"), "\n"))
		}
	}
	hop := netip.MustParseAddr("127.0.0.1")
	headers := map[engine.IPSource]string{engine.SourceXRealIP: "X-Real-Ip", engine.SourceForwarded: "Forwarded", engine.SourceXForwardedFor: "X-Forwarded-For"}
	f.Fuzz(func(t *testing.T, header, hopSrc uint8, realIP, forwarded, xff string) {
		cfg := engine.Config{TrustedProxies: testTrusted, RealIPHeader: engine.IPSource(header % 5), ProxyProtocol: true}
		src := []engine.IPSource{engine.SourcePeer, engine.SourceProxyProtocol, engine.SourceProxyUnknown}[hopSrc%3]
		h := http.Header{}
		for k, v := range map[string]string{"X-Real-Ip": realIP, "Forwarded": forwarded, "X-Forwarded-For": xff} {
			if v != "" {
				h[k] = strings.Split(v, "\n")
			}
		}
		got, gotSrc, err := engine.ResolveClientIP(cfg, hop, src, h)
		if err != nil {
			return
		}
		if !got.IsValid() || got.Zone() != "" {
			t.Fatalf("address %v", got)
		}
		want := cfg.RealIPHeader
		if want == engine.SourcePeer {
			want = engine.SourceXRealIP
		}
		switch {
		case gotSrc == want && want != engine.SourceProxyProtocol:
		case got != hop:
			t.Fatalf("%v from %v, neither the hop nor the configured %v", got, gotSrc, want)
		}
		// Only the configured header counts.
		only := http.Header{}
		if name, ok := headers[want]; ok && h[name] != nil {
			only[name] = h[name]
		}
		if a, s, _ := engine.ResolveClientIP(cfg, hop, src, only); a != got || s != gotSrc {
			t.Fatalf("other headers changed the result: %v from %v, with %v only %v from %v", got, gotSrc, want, a, s)
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
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		header  engine.IPSource
		h       http.Header
		want    string
	}{
		{name: "no proxy trusted: spoofed X-Real-IP ignored", h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "127.0.0.2"},
		{name: "other proxy trusted: spoofed header ignored", trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "127.0.0.2"},
		{name: "peer trusted: X-Real-IP believed", trusted: trusted, h: http.Header{"X-Real-Ip": {"203.0.113.7"}}, want: "203.0.113.7"},
		{name: "peer trusted: X-Forwarded-For believed", trusted: trusted, header: engine.SourceXForwardedFor,
			h: http.Header{"X-Forwarded-For": {"198.51.100.9, 203.0.113.7"}}, want: "203.0.113.7"},
		// The finding: a client behind an XFF-only proxy forges X-Real-IP.
		{name: "XFF proxy: forged X-Real-IP never seen", trusted: trusted, header: engine.SourceXForwardedFor,
			h: http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"6.6.6.7, 203.0.113.7"}}, want: "203.0.113.7"},
		{name: "Forwarded unknown: forged XFF never seen", trusted: trusted, header: engine.SourceForwarded,
			h: http.Header{"Forwarded": {"for=unknown"}, "X-Forwarded-For": {"6.6.6.6"}}, want: "127.0.0.2"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := seenIP{ips: make(chan netip.Addr, 1)}
				srv := startServer(t, tr, engine.Config{TrustedProxies: tc.trusted, RealIPHeader: tc.header}, h)
				c := srv.dial(t, wstest.DialOptions{LocalIP: "127.0.0.2", Header: tc.h, Path: "/ip"})
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
