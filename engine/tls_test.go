package engine_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// wss is the transport of the tests that only make sense over TLS.
var wss = transport{Name: "wss", TLS: true}

// tlsStates hands the TLS state each opened connection reports, nil for
// plain ws, to the test.
type tlsStates struct {
	echo
	states chan *tls.ConnectionState
}

func (h tlsStates) OnOpen(c *engine.Conn) { h.states <- c.TLSState() }

// TestTLSVersions: what Go's crypto/tls clients of each TLS version and ALPN
// offer get from a server configured like wssd (TLS 1.2 and 1.3, ALPN
// http/1.1), and what Conn.TLSState reports for those accepted.
func TestTLSVersions(t *testing.T) {
	cases := []struct {
		name     string
		min, max uint16 // zero max: the newest, TLS 1.3
		alpn     []string
		wantErr  string // a refused handshake: the alert the client gets
		wantALPN string
	}{
		{name: "TLS 1.0 client refused", min: tls.VersionTLS10, max: tls.VersionTLS10, wantErr: "remote error: tls: protocol version not supported"},
		{name: "TLS 1.1 client refused", min: tls.VersionTLS11, max: tls.VersionTLS11, wantErr: "remote error: tls: protocol version not supported"},
		{name: "TLS 1.2-only client (WeChat)", min: tls.VersionTLS12, max: tls.VersionTLS12},
		{name: "TLS 1.2-only client offering http/1.1", min: tls.VersionTLS12, max: tls.VersionTLS12,
			alpn: []string{"http/1.1"}, wantALPN: "http/1.1"},
		{name: "TLS 1.3 client", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "TLS 1.3 client offering http/1.1", min: tls.VersionTLS13, max: tls.VersionTLS13,
			alpn: []string{"http/1.1"}, wantALPN: "http/1.1"},
		{name: "client offering h2 and http/1.1 gets http/1.1", min: tls.VersionTLS12,
			alpn: []string{"h2", "http/1.1"}, wantALPN: "http/1.1"},
		// crypto/tls refuses a client whose ALPN list has nothing in common
		// with the server's (no_application_protocol).
		{name: "client offering only h2 refused", min: tls.VersionTLS12, alpn: []string{"h2"},
			wantErr: "remote error: tls: no application protocol"},
	}
	// Room for every connection's state: a failed case must not leave the
	// loop blocked in OnOpen.
	h := tlsStates{states: make(chan *tls.ConnectionState, len(cases)+1)}
	srv := startServer(t, wss, engine.Config{}, h)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testpki.Get().ClientConfig()
			cfg.MinVersion, cfg.MaxVersion, cfg.NextProtos = tc.min, tc.max, tc.alpn
			c, err := srv.tryDial(t, wstest.DialOptions{TLS: cfg})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("dial: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expectEchoOf(t, c, wsproto.OpText, tc.name)
			var st *tls.ConnectionState
			select {
			case st = <-h.states:
			case <-time.After(time.Second):
				t.Fatal("OnOpen not called")
			}
			want := tc.max
			if want == 0 {
				want = tls.VersionTLS13
			}
			if st == nil || st.Version != want || st.NegotiatedProtocol != tc.wantALPN || !st.HandshakeComplete {
				t.Fatalf("TLSState %+v, want version %s, ALPN %q", st, tls.VersionName(want), tc.wantALPN)
			}
			client := c.Conn.(*tls.Conn).ConnectionState()
			if client.CipherSuite != st.CipherSuite {
				t.Fatalf("server reports %s, client negotiated %s",
					tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(client.CipherSuite))
			}
		})
	}
	// The refusals left the server serving.
	expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "still serving")
}

// TestTLSStateNilOverWS: Conn.TLSState is nil for a plain ws connection.
func TestTLSStateNilOverWS(t *testing.T) {
	h := tlsStates{states: make(chan *tls.ConnectionState, 1)}
	srv := startServer(t, transport{Name: "ws"}, engine.Config{}, h)
	srv.dial(t, wstest.DialOptions{})
	if st := <-h.states; st != nil {
		t.Fatalf("TLSState over plain ws = %+v, want nil", st)
	}
}

// holdConn passes its first pass writes to the network and holds back the
// later ones until release, so that a test decides how the bytes a tls.Conn
// writes are cut into TCP segments.
type holdConn struct {
	net.Conn
	pass int
	held []byte
}

func (c *holdConn) Write(p []byte) (int, error) {
	if c.pass > 0 {
		c.pass--
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	return len(p), nil
}

// release sends the first n held bytes (all of them if n is larger) in one
// write and keeps the rest.
func (c *holdConn) release(n int) error {
	n = min(n, len(c.held))
	_, err := c.Conn.Write(c.held[:n])
	c.held = c.held[n:]
	return err
}

// TestTLSRequestWithClientFinished: a TLS 1.3 client may send its upgrade
// request right behind its Finished, in the same TCP segment. The server
// finds it buffered when the handshake completes and answers without
// waiting for more input.
func TestTLSRequestWithClientFinished(t *testing.T) {
	head := wstest.RequestHead("localhost", "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)
	cases := []struct {
		name  string
		send  []byte
		after string // what must follow the 101, in bytes
	}{
		{"request", head, ""},
		{"request and first frame", append(bytes.Clone(head), wstest.Message(wsproto.OpText, []byte("early")).Bytes()...),
			"\x81\x05early"},
	}
	srv := startServer(t, wss, engine.Config{}, echo{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tcpDial(srv.addr)(t)
			_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
			// The ClientHello goes out at once; the client's second flight
			// (Finished) and the application data written after it are held.
			hc := &holdConn{Conn: raw, pass: 1}
			cfg := testpki.Get().ClientConfig()
			cfg.MinVersion, cfg.ServerName = tls.VersionTLS13, "localhost"
			tc1 := tls.Client(hc, cfg)
			// Write runs the handshake, then encrypts the request.
			if _, err := tc1.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			// Finished and the request leave in one segment, and then the
			// client falls silent.
			t.Logf("one segment of records %v", recordTypes(hc.held))
			if err := hc.release(len(hc.held)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(tc1)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a request sent with the client Finished: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %s, want 101", resp.Status)
			}
			got := make([]byte, len(tc.after))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != tc.after {
				t.Fatalf("after the 101: %q %v, want %q", got, err, tc.after)
			}
		})
	}
}

// TestTLSSendFromOutsideCallbacks: Send and Close called from a goroutine of
// the application's, not from a callback, reach a wss client: the loop does
// the encryption. The large message spans several TLS records.
func TestTLSSendFromOutsideCallbacks(t *testing.T) {
	g := connGrabber{conns: make(chan *engine.Conn, 1)}
	srv := startServer(t, wss, engine.Config{}, g)
	c := srv.dial(t, wstest.DialOptions{})
	sc := <-g.conns
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		errs <- sc.Send(engine.Binary, big)
		errs <- sc.Send(engine.Text, []byte("after the big one"))
		errs <- sc.Close(wsproto.CloseNormal, "bye")
	})
	wg.Wait()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	expectMessage(t, c, wsproto.OpBinary, big)
	expectMessage(t, c, wsproto.OpText, []byte("after the big one"))
	if code, reason := expectClose(t, c); code != wsproto.CloseNormal || reason != "bye" {
		t.Fatalf("close %v %q, want 1000 bye", code, reason)
	}
}

// recordTypes lists the content types of the TLS records in b.
func recordTypes(b []byte) []byte {
	var types []byte
	for len(b) >= 5 {
		types = append(types, b[0])
		b = b[min(len(b), 5+(int(b[3])<<8|int(b[4]))):]
	}
	return types
}
