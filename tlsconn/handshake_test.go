package tlsconn_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// payload returns n reproducible pseudo-random bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'t', 'l', 's'}).Read(b)
	return b
}

func TestEcho(t *testing.T) {
	t.Parallel()
	// The TLS 1.3 client sends its 1 MiB right after its Finished: over a
	// pipe, all of it may arrive before the handshake goroutine is done.
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxInput: 2 << 20})
	t.Cleanup(h.Close)
	sizes := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"1B", 1},
		{"16KiB+1", 16<<10 + 1},
		{"1MiB", 1 << 20},
	}
	for _, tr := range transports {
		for _, v := range versions {
			for _, size := range sizes {
				t.Run(tr.name+"/"+v.name+"/"+size.name, func(t *testing.T) {
					t.Parallel()
					client, side := tr.new(t)
					s := newTestServer(serverConfig(), h, side)
					runEcho(t, client, s, clientConfig(v.version), payload(size.n))
					if s.state.Version != v.version || !s.state.HandshakeComplete {
						t.Errorf("ConnectionState: version %x, complete %v; want %x, true",
							s.state.Version, s.state.HandshakeComplete, v.version)
					}
				})
			}
		}
	}
}

// TestHelloRetryRequest makes the handshake goroutine wait for a second
// ClientHello: the client's key share is for a group the server does not
// accept.
func TestHelloRetryRequest(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	scfg := serverConfig()
	scfg.CurvePreferences = []tls.CurveID{tls.CurveP256}
	ccfg := clientConfig(tls.VersionTLS13)
	ccfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	client, side := newBufPipe()
	s := newTestServer(scfg, h, side)
	runEcho(t, client, s, ccfg, payload(100))
	if !s.state.HelloRetryRequest || s.state.CurveID != tls.CurveP256 {
		t.Errorf("HelloRetryRequest %v, CurveID %v; want true, P-256", s.state.HelloRetryRequest, s.state.CurveID)
	}
}

// holdConn passes the client's writes through until it first reads, then
// holds them until release, so that its Finished message and whatever follows
// reach the server in one piece.
type holdConn struct {
	net.Conn
	mu      sync.Mutex
	reading bool
	held    []byte
}

func (c *holdConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	c.reading = true
	c.mu.Unlock()
	return c.Conn.Read(b)
}

func (c *holdConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading {
		c.held = append(c.held, b...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *holdConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Conn.Write(c.held)
	return err
}

// TestCoalescedFinished checks that application data that arrives in the
// same read as the client's Finished is decrypted as soon as the handshake's
// success is collected, without another Feed. Only TLS 1.3 allows this in a
// full handshake: a TLS 1.2 client waits for the server's Finished first.
func TestCoalescedFinished(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	msg := payload(3000)
	for _, tc := range []struct {
		name        string
		closeNotify bool
	}{
		{"data", false},
		{"data and close_notify", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, side := newBufPipe()
			defer client.Close()
			hc := &holdConn{Conn: client}
			s := newTestServer(serverConfig(), h, side)
			defer s.conn.Close()
			clientDone := make(chan error, 1)
			go func() {
				tc0 := tls.Client(hc, clientConfig(tls.VersionTLS13))
				err := tc0.Handshake()
				if err == nil {
					_, err = tc0.Write(msg)
				}
				if err == nil && tc.closeNotify {
					err = tc0.CloseWrite()
				}
				if err == nil {
					err = hc.release()
				}
				clientDone <- err
			}()

			timeout := time.After(10 * time.Second)
			for {
				over := s.step()
				if s.hsDone {
					break
				}
				if over {
					t.Fatalf("connection ended during the handshake: %v, %v", s.hsErr, s.err)
				}
				select {
				case err := <-clientDone:
					if err != nil {
						t.Fatal("client:", err)
					}
				case <-side.ready():
				case <-s.wake:
				case <-timeout:
					t.Fatal("timed out")
				}
			}
			// One Feed for the ClientHello, one for everything else.
			if s.feeds != 2 {
				t.Fatalf("%d Feed calls, want 2: the test did not coalesce", s.feeds)
			}
			if !bytes.Equal(s.got, msg) {
				t.Errorf("got %d bytes of plaintext with the handshake's completion, want %d", len(s.got), len(msg))
			}
			if s.eof != tc.closeNotify {
				t.Errorf("io.EOF seen: %v, want %v", s.eof, tc.closeNotify)
			}
		})
	}
}

// TestCloseNotify checks both directions of close_notify: the server's
// CloseWrite ends the client's reading while the client can still write, and
// the client's close_notify ends the server's.
func TestCloseNotify(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			client, side := newBufPipe()
			s := newTestServer(serverConfig(), h, side)
			s.onHandshake = func(c *tlsconn.Conn) {
				if err := c.CloseWrite(); err != nil {
					t.Error("CloseWrite:", err)
				}
				if _, err := c.Write([]byte("late")); err == nil {
					t.Error("Write after CloseWrite succeeded")
				}
			}
			clientErr := make(chan error, 1)
			go func() {
				defer client.Close()
				tc := tls.Client(client, clientConfig(v.version))
				got, err := io.ReadAll(tc)
				if err == nil && len(got) > 0 {
					err = fmt.Errorf("read %q before close_notify", got)
				}
				if err == nil {
					_, err = tc.Write([]byte("after"))
				}
				if err == nil {
					err = tc.CloseWrite()
				}
				clientErr <- err
			}()
			if err := s.run(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := <-clientErr; err != nil {
				t.Fatal("client:", err)
			}
			if string(s.got) != "after" || !s.eof || s.err != nil {
				t.Errorf("server got %q, EOF %v, error %v; want \"after\", true, nil", s.got, s.eof, s.err)
			}
		})
	}
}

func TestMinVersion(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	for _, tc := range []struct {
		name    string
		version uint16
	}{
		{"TLS1.0", tls.VersionTLS10},
		{"TLS1.1", tls.VersionTLS11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, side := newBufPipe()
			s := newTestServer(serverConfig(), h, side)
			clientErr := make(chan error, 1)
			go func() {
				defer client.Close()
				clientErr <- tls.Client(client, clientConfig(tc.version)).Handshake()
			}()
			if err := s.run(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if s.hsErr == nil {
				t.Fatal("server accepted the handshake")
			}
			const want = "remote error: tls: protocol version not supported"
			if err := <-clientErr; err == nil || err.Error() != want {
				t.Errorf("client error %v, want %q", err, want)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	random := payload(1000)
	random[0] = 0x42
	randomRecord := append([]byte{0x16, 0x03, 0x01, 0x01, 0x00}, payload(256)...)
	for _, tc := range []struct {
		name    string
		input   []byte
		notTLS  bool // Feed returns ErrNotTLS; otherwise the handshake fails
		http    bool // LooksLikeHTTP
		chunked bool // feed a byte at a time
	}{
		{name: "random bytes", input: random, notTLS: true},
		{name: "SSLv2 hello", input: []byte{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15}, notTLS: true},
		{name: "HTTP request", input: []byte("GET / HTTP/1.1\r\nHost: wssd.test\r\n\r\n"), notTLS: true, http: true},
		{name: "HTTP request byte by byte", input: []byte("POST /x HTTP/1.1\r\n"), notTLS: true, http: true, chunked: true},
		{name: "handshake type, bad version", input: []byte{0x16, 0x09, 0x01, 0x00, 0x10}, notTLS: true},
		{name: "oversized first record", input: []byte{0x16, 0x03, 0x01, 0xff, 0xff}, notTLS: true},
		{name: "random record body", input: randomRecord},
		{name: "ServerHello instead of ClientHello", input: []byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tlsconn.LooksLikeHTTP(tc.input); got != tc.http {
				t.Errorf("LooksLikeHTTP = %v, want %v", got, tc.http)
			}
			wake := make(chan struct{}, 1)
			c := tlsconn.Server(serverConfig(), h, netip.Addr{}, func() {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			defer c.Close()
			var err error
			if tc.chunked {
				for i := range tc.input {
					if err = c.Feed(tc.input[i : i+1]); err != nil {
						break
					}
				}
			} else {
				err = c.Feed(tc.input)
			}
			if tc.notTLS {
				if err != tlsconn.ErrNotTLS {
					t.Fatalf("Feed: %v, want ErrNotTLS", err)
				}
				if done, err := c.HandshakeComplete(); !done || err != tlsconn.ErrNotTLS {
					t.Fatalf("HandshakeComplete: %v, %v; want true, ErrNotTLS", done, err)
				}
				return
			}
			if err != nil {
				t.Fatal("Feed:", err)
			}
			select {
			case <-wake:
			case <-time.After(10 * time.Second):
				t.Fatal("no wake")
			}
			for {
				done, err := c.HandshakeComplete()
				if done {
					if err == nil || errors.Is(err, tlsconn.ErrNotTLS) {
						t.Fatalf("handshake error %v, want one from crypto/tls", err)
					}
					break
				}
				<-wake
			}
			if out := c.Outbound(); len(out) == 0 || out[0] != 0x15 {
				t.Errorf("Outbound = % x, want an alert record", out)
			}
		})
	}
}

func TestLooksLikeHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"HEAD /", true},
		{"OPTIONS * HTTP/1.1", true},
		{"CONNECT wssd.test:443 HTTP/1.1", true},
		{"PATCH ", true},
		{"GET", false},
		{"get / HTTP/1.1", false},
		{"PRI * HTTP/2.0", false},
		{"\x16\x03\x01\x02\x00", false},
		{"", false},
	} {
		if got := tlsconn.LooksLikeHTTP([]byte(tc.in)); got != tc.want {
			t.Errorf("LooksLikeHTTP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMayBecomeHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"nothing yet", "", true},
		{"G", "G", true},
		{"GET without space", "GET", true},
		{"OPTIONS without space", "OPTIONS", true},
		{"whole method", "GET ", false},
		{"TLS record", "\x16\x03", false},
		{"lowercase", "ge", false},
		{"not a method", "GX", false},
	} {
		if got := tlsconn.MayBecomeHTTP([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: MayBecomeHTTP(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}
