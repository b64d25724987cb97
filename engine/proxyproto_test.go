package engine_test

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// proxyV2 returns a PROXY v2 header announcing src.
func proxyV2(t testing.TB, src string) []byte {
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443})
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var proxyV2Local = []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")

// seenHandshake records what the handshake hook saw.
type seenHandshake struct {
	echo
	seen chan engine.Handshake
}

func (h seenHandshake) OnHandshake(_ *engine.Conn, hs *engine.Handshake) error {
	h.seen <- *hs
	return nil
}

// dialBehindProxy connects from the given source address, writes header and
// then speaks ws or wss as the transport says.
func dialBehindProxy(t *testing.T, srv *testServer, from string, header []byte, extra http.Header) (*wstest.Client, error) {
	o := wstest.DialOptions{LocalIP: from, Header: extra, PreHandshake: header}
	if srv.tr.TLS {
		o.TLS = testpki.Get().ClientConfig()
	}
	c, err := wstest.Dial(srv.addr, o)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestProxyProtocol(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		from    string
		header  []byte
		extra   http.Header
		want    string
		src     engine.IPSource
	}{
		{name: "v1 from trusted proxy", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"), want: "203.0.113.7", src: engine.SourceProxyProtocol},
		{name: "v1 IPv6", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: []byte("PROXY TCP6 2001:db8::7 ::1 51234 443\r\n"), want: "2001:db8::7", src: engine.SourceProxyProtocol},
		{name: "v2 from trusted proxy", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: proxyV2(t, "203.0.113.8:40000"), want: "203.0.113.8", src: engine.SourceProxyProtocol},
		{name: "v2 LOCAL keeps the peer", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: proxyV2Local, want: "127.0.0.1", src: engine.SourcePeer},
		{name: "v1 UNKNOWN keeps the peer", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: []byte("PROXY UNKNOWN\r\n"), want: "127.0.0.1", src: engine.SourcePeer},
		// Finding: LOCAL and UNKNOWN left the trusted balancer as the hop,
		// so the client's own X-Real-IP was believed.
		{name: "v2 LOCAL: the client's X-Real-IP ignored", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: proxyV2Local, extra: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
		{name: "v1 UNKNOWN: the client's X-Real-IP ignored", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: []byte("PROXY UNKNOWN\r\n"), extra: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "127.0.0.1", src: engine.SourcePeer},
		{name: "announced source is a trusted proxy: its X-Real-IP counts", trusted: []string{"127.0.0.1/32", "10.0.0.0/8"}, from: "127.0.0.1",
			header: []byte("PROXY TCP4 10.1.1.1 127.0.0.1 51234 443\r\n"), extra: http.Header{"X-Real-Ip": {"198.51.100.9"}}, want: "198.51.100.9", src: engine.SourceXRealIP},
		{name: "announced source is a client: its X-Real-IP is ignored", trusted: []string{"127.0.0.1/32"}, from: "127.0.0.1",
			header: []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"), extra: http.Header{"X-Real-Ip": {"6.6.6.6"}}, want: "203.0.113.7", src: engine.SourceProxyProtocol},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var trusted []netip.Prefix
				for _, p := range tc.trusted {
					trusted = append(trusted, netip.MustParsePrefix(p))
				}
				h := seenHandshake{seen: make(chan engine.Handshake, 1)}
				srv := startServer(t, tr, engine.Config{ProxyProtocol: true, TrustedProxies: trusted}, h)
				c, err := dialBehindProxy(t, srv, tc.from, tc.header, tc.extra)
				if err != nil {
					t.Fatal(err)
				}
				hs := <-h.seen
				if hs.ClientIP.String() != tc.want || hs.ClientIPSource != tc.src {
					t.Fatalf("hook saw %v from %v, want %s from %v", hs.ClientIP, hs.ClientIPSource, tc.want, tc.src)
				}
				if hs.Peer.Addr().String() != tc.from {
					t.Fatalf("Peer %v, want the proxy %s", hs.Peer, tc.from)
				}
				line := srv.waitLog("ws open")
				if !strings.Contains(line, "client_ip="+tc.want+" ") || !strings.Contains(line, "client_ip_source="+tc.src.String()) {
					t.Fatalf("access log: %s", line)
				}
				expectEchoOf(t, c, wsproto.OpText, "through the proxy")
			})
		}
	})
}

func TestProxyProtocolRefusals(t *testing.T) {
	cases := []struct {
		name   string
		from   string
		header []byte
	}{
		{"header from an untrusted peer", "127.0.0.2", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n")},
		{"v2 header from an untrusted peer", "127.0.0.2", proxyV2(t, "203.0.113.7:1")},
		{"no header", "127.0.0.1", nil},
		{"malformed v1", "127.0.0.1", []byte("PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n")},
		{"v1 without CRLF", "127.0.0.1", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443" + strings.Repeat(" ", 80))},
		{"v2 bad version", "127.0.0.1", []byte("\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02")},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}, Timeout: 5 * time.Second}
				conn, err := d.Dial("tcp", srv.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				payload := append(append([]byte{}, tc.header...), wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)...)
				if tr.TLS && len(tc.header) > 0 {
					payload = append(append([]byte{}, tc.header...), 0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5)
				}
				_, _ = conn.Write(payload)
				if !wstest.NewClient(conn).WaitEOF(3 * time.Second) {
					t.Fatal("connection not closed")
				}
			})
		}
		if !strings.Contains(srv.logs.String(), "bad PROXY protocol header") {
			t.Fatalf("refusals not logged:\n%s", srv.logs.String())
		}
		// Others are still served.
		c, err := dialBehindProxy(t, srv, "127.0.0.1", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		expectEchoOf(t, c, wsproto.OpBinary, "ok")
	})
}

// TestProxyHeaderSplit: the header may arrive a byte at a time.
func TestProxyHeaderSplit(t *testing.T) {
	for _, header := range [][]byte{[]byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"), proxyV2(t, "203.0.113.7:4000")} {
		h := seenHandshake{seen: make(chan engine.Handshake, 1)}
		srv := startServer(t, transport{Name: "ws"}, engine.Config{ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, h)
		conn := srv.rawDial(t)
		c := wstest.NewClient(conn)
		all := append(append([]byte{}, header...), wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)...)
		all = append(all, wstest.Message(wsproto.OpText, []byte("hi")).Bytes()...)
		if err := c.WriteSplit(all, 1, 0); err != nil {
			t.Fatal(err)
		}
		if hs := <-h.seen; hs.ClientIP.String() != "203.0.113.7" {
			t.Fatalf("client IP %v", hs.ClientIP)
		}
	}
}

// FuzzProxyHeader: whatever the bytes, the PROXY stage measures and parses
// without panicking, and a header it measures fits the input.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(f, "203.0.113.7:1"))
	f.Add(proxyV2Local)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := engine.ProxyHeaderLength(b)
		if err != nil || n < 0 || n > len(b) {
			return
		}
		src, err := engine.ParseProxyHeader(b[:n])
		if err == nil && src.IsValid() && !src.Addr().Is4() && !src.Addr().Is6() {
			t.Fatalf("source %v", src)
		}
	})
}
