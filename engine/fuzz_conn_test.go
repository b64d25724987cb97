package engine_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// Flags of a FuzzConn input.
const (
	fuzzWSS     = 1 << iota // over wss
	fuzzUpgrade             // a valid upgrade request goes first
	fuzzReset               // end with a reset (SO_LINGER 0), not FIN
	fuzzHTTP                // the server has an HTTPHandler
)

// FuzzConn feeds an arbitrary byte stream, cut at arbitrary points, to one
// connection of a real server, over ws or wss, ends the connection with FIN
// or a reset, and checks the lifecycle's invariants once the server has let
// go of it: OnOpen followed by exactly one OnClose, no callback after it,
// no move out of the closed state and no socket call on a closed
// connection. Released buffers are poisoned (TestMain), so a payload read
// after its buffer went back to the pool shows up as a wrong echo or a
// protocol error, not silently.
func FuzzConn(f *testing.F) {
	masked := func(frames ...wstest.Frame) []byte {
		var b []byte
		for _, fr := range frames {
			b = fr.AppendTo(b)
		}
		return b
	}
	text := wstest.Message(wsproto.OpText, []byte("hello"))
	for _, flags := range []byte{fuzzUpgrade, fuzzUpgrade | fuzzWSS, fuzzUpgrade | fuzzReset, fuzzUpgrade | fuzzWSS | fuzzReset} {
		f.Add(flags, masked(text), []byte{3, 1, 7})
		f.Add(flags, masked(
			wstest.Frame{Op: wsproto.OpText, Payload: []byte("frag")},
			wstest.Message(wsproto.OpPing, []byte("in between")),
			wstest.Frame{Fin: true, Op: wsproto.OpContinuation, Payload: []byte("ment")},
			wstest.Message(wsproto.OpClose, wsproto.AppendClosePayload(nil, wsproto.CloseNormal, "bye")),
		), []byte{1})
		f.Add(flags, masked(wstest.Message(wsproto.OpText, []byte{0xff, 0xfe})), []byte{})
		f.Add(flags, masked(wstest.Frame{Fin: true, Op: wsproto.OpBinary, Payload: []byte("unmasked"), Unmasked: true}), []byte{2, 2})
		f.Add(flags, []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0}, []byte{}) // announces 1 MiB, sends nothing
	}
	f.Add(byte(0), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte{5})
	f.Add(byte(fuzzWSS), []byte("GET / HTTP/1.1\r\n"), []byte{})
	f.Add(byte(0), []byte("\x16\x03\x01\x00\x05hello"), []byte{1})
	for _, flags := range []byte{fuzzHTTP, fuzzHTTP | fuzzWSS, fuzzHTTP | fuzzReset} {
		pipelined := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
		f.Add(flags, []byte(pipelined), []byte{7, 40})
		f.Add(flags, append([]byte(pipelined), wstest.RequestHead("x", "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)...), []byte{})
		f.Add(flags, []byte("PUT /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"), []byte{})
		f.Add(flags, []byte("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /e HTTP/1.1\r\n"), []byte{3})
	}

	h := newLifecycle()
	cfg := engine.Config{
		Logger:           slog.New(slog.DiscardHandler),
		PingInterval:     -1,
		HandshakeTimeout: time.Second,
		CloseTimeout:     200 * time.Millisecond,
		MaxMessageSize:   64 << 10,
	}
	type kind struct{ tls, http bool }
	servers := map[kind]*testServer{}
	for _, tr := range transports {
		servers[kind{tls: tr.TLS}] = startServer(f, tr, cfg, h)
		withHTTP := cfg
		withHTTP.HTTPHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
		withHTTP.MaxHTTPBodyBytes = 1024
		servers[kind{tls: tr.TLS, http: true}] = startServer(f, tr, withHTTP, h)
	}

	f.Fuzz(func(t *testing.T, flags byte, data, cuts []byte) {
		srv := servers[kind{tls: flags&fuzzWSS != 0, http: flags&fuzzHTTP != 0}]
		if flags&fuzzUpgrade != 0 {
			data = append(wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil), data...)
		}
		raw, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tcp := raw.(*net.TCPConn)
		var conn net.Conn = tcp
		if srv.tr.TLS {
			tc := tls.Client(tcp, loopbackTLS())
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			conn = tc
		}
		drained := make(chan struct{})
		go func() { // read what the server says, so that it never waits on us
			defer close(drained)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, conn)
		}()
		for i := 0; len(data) > 0; i++ {
			n := len(data)
			if i < len(cuts) {
				n = min(n, int(cuts[i])+1)
			}
			if _, err := conn.Write(data[:n]); err != nil {
				break // the server closed: the rest is not read
			}
			data = data[n:]
		}
		if flags&fuzzReset != 0 {
			_ = tcp.SetLinger(0)
		}
		_ = tcp.Close()
		<-drained

		waitIdle(t, srv)
		h.check(t)
		if n := srv.Resurrections(); n != 0 {
			t.Fatalf("%d lifecycle violations; the first at:\n%s", n, srv.FirstViolation())
		}
	})
}
