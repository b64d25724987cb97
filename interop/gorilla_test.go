package interop

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

// gorillaTimeout bounds each gorilla connection's whole life.
const gorillaTimeout = 20 * time.Second

func TestGorilla(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr)

		t.Run("echo", func(t *testing.T) {
			for _, typ := range []engine.MessageType{engine.Text, engine.Binary} {
				for _, n := range echoSizes {
					t.Run(fmt.Sprintf("%v/%d", typ, n), func(t *testing.T) {
						c, path := gorillaDial(t, srv, websocket.Dialer{})
						want := payload(typ, n)
						if err := c.WriteMessage(int(typ), want); err != nil { // gorilla's message types are the opcodes
							t.Fatal(err)
						}
						gorillaExpectEcho(t, c, typ, want)
						gorillaClose(t, c, wsproto.CloseNormal, "done")
						srv.wantClosed(t, path, wsproto.CloseNormal, "done")
					})
				}
			}
		})

		t.Run("fragmented", func(t *testing.T) {
			for _, typ := range []engine.MessageType{engine.Text, engine.Binary} {
				t.Run(typ.String(), func(t *testing.T) {
					// No gorilla call flushes a frame: a small write buffer
					// makes NextWriter send one frame per 256 bytes.
					tap := &wireTap{}
					c, path := gorillaDial(t, srv, websocket.Dialer{WriteBufferSize: 256, NetDialContext: tap.dial, NetDialTLSContext: tap.dialTLS})
					w, err := c.NextWriter(int(typ))
					if err != nil {
						t.Fatal(err)
					}
					var want []byte
					for _, f := range fragments {
						if _, err := io.WriteString(w, f); err != nil {
							t.Fatal(err)
						}
						want = append(want, f...)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					gorillaExpectEcho(t, c, typ, want)
					hs, err := tap.frames()
					if err != nil {
						t.Fatal(err)
					}
					if n, err := dataFrames(hs, wsproto.Opcode(typ)); err != nil || n < 2 {
						t.Errorf("client sent the message in %d frames (%v); want several", n, err)
					}
					gorillaClose(t, c, wsproto.CloseNormal, "done")
					srv.wantClosed(t, path, wsproto.CloseNormal, "done")
				})
			}
		})

		t.Run("ping-inside-fragmented", func(t *testing.T) {
			// RFC 6455 section 5.4: control frames may come between the
			// fragments of a message; the pong must not wait for its end.
			tap := &wireTap{}
			c, path := gorillaDial(t, srv, websocket.Dialer{WriteBufferSize: 256, NetDialContext: tap.dial, NetDialTLSContext: tap.dialTLS})
			pongs := gorillaPongs(c)
			w, err := c.NextWriter(websocket.TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			first, last := strings.Repeat("x", 600), "y"
			if _, err := io.WriteString(w, first); err != nil { // flushes two frames
				t.Fatal(err)
			}
			if err := c.WriteControl(websocket.PingMessage, []byte("mid"), time.Now().Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, last); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if err := equalEcho(engine.MessageType(typ), engine.Text, got, []byte(first+last)); err != nil {
				t.Fatal(err)
			}
			wantPong(t, pongs, "mid")
			hs, err := tap.frames()
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) < 3 || hs[0].Op != wsproto.OpText || hs[0].Fin || !hasPingBeforeFin(hs) {
				t.Errorf("client frames %+v: want a ping between a message's first and last frame", hs)
			}
			gorillaClose(t, c, wsproto.CloseNormal, "done")
			srv.wantClosed(t, path, wsproto.CloseNormal, "done")
		})

		t.Run("ping", func(t *testing.T) {
			c, path := gorillaDial(t, srv, websocket.Dialer{})
			pongs := gorillaPongs(c)
			if err := c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			// gorilla runs the pong handler while it reads: read the echo
			// of a message sent after the ping.
			if err := c.WriteMessage(websocket.TextMessage, []byte("after-ping")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.ReadMessage(); err != nil || string(got) != "after-ping" {
				t.Fatalf("read %q, %v; want the echo of after-ping", got, err)
			}
			wantPong(t, pongs, "hello")
			gorillaClose(t, c, wsproto.CloseNormal, "done")
			srv.wantClosed(t, path, wsproto.CloseNormal, "done")
		})

		t.Run("client-close", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				code   wsproto.CloseCode
				reason string
			}{
				{name: "1000", code: wsproto.CloseNormal, reason: "done"},
				{name: "1001", code: wsproto.CloseGoingAway, reason: "going"},
				{name: "4000", code: 4000, reason: "application code"},
				{name: "no-status", code: wsproto.CloseNoStatus},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c, path := gorillaDial(t, srv, websocket.Dialer{})
					gorillaClose(t, c, tc.code, tc.reason)
					srv.wantClosed(t, path, tc.code, tc.reason)
				})
			}
		})

		t.Run("server-close", func(t *testing.T) {
			c, path := gorillaDial(t, srv, websocket.Dialer{})
			if err := c.WriteMessage(websocket.TextMessage, []byte(closeMe)); err != nil {
				t.Fatal(err)
			}
			// gorilla's default close handler answers with the same code.
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != int(closeByeCode) || ce.Text != closeByeReason {
				t.Fatalf("read: %v; want close %d %q", err, closeByeCode, closeByeReason)
			}
			wantEOF(t, c)
			srv.wantServerClosed(t, path)
		})
	})
}

// gorillaDial opens a gorilla connection to the server at a path named
// after the test, and closes it when the test ends.
func gorillaDial(t *testing.T, srv *testServer, d websocket.Dialer) (*websocket.Conn, string) {
	t.Helper()
	c, _, path := gorillaDialHeader(t, srv, d)
	return c, path
}

// gorillaDialHeader is gorillaDial that also returns the header of the
// server's upgrade response.
func gorillaDialHeader(t *testing.T, srv *testServer, d websocket.Dialer) (*websocket.Conn, http.Header, string) {
	t.Helper()
	path := "/" + t.Name()
	d.HandshakeTimeout = 5 * time.Second
	d.TLSClientConfig = clientTLS() // for wss, unless NetDialTLSContext does TLS
	c, resp, err := d.DialContext(t.Context(), srv.url(path), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", srv.url(path), err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	_ = c.NetConn().SetDeadline(time.Now().Add(gorillaTimeout))
	return c, resp.Header, path
}

// gorillaPongs returns the payloads of the pongs c receives.
func gorillaPongs(c *websocket.Conn) <-chan string {
	pongs := make(chan string, 4)
	c.SetPongHandler(func(s string) error {
		select {
		case pongs <- s:
		default:
		}
		return nil
	})
	return pongs
}

// wantPong checks that a pong with payload has already arrived.
func wantPong(t *testing.T, pongs <-chan string, payload string) {
	t.Helper()
	select {
	case got := <-pongs:
		if got != payload {
			t.Errorf("pong %q, want %q", got, payload)
		}
	default:
		t.Errorf("no pong for ping %q before the next message", payload)
	}
}

// gorillaClose starts the closing handshake from the client with code and
// reason (CloseNoStatus sends an empty close frame), and checks that the
// server echoes the code and then closes the TCP connection.
func gorillaClose(t *testing.T, c *websocket.Conn, code wsproto.CloseCode, reason string) {
	t.Helper()
	msg := websocket.FormatCloseMessage(int(code), reason) // empty for 1005
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != int(code) {
		t.Fatalf("after the client's close %d: read %v; want the server's close with %d", code, err, code)
	}
	wantEOF(t, c)
}

// wantEOF checks that the server closes the TCP connection after the
// closing handshake (RFC 6455 section 7.1.1: the server closes first).
func wantEOF(t *testing.T, c *websocket.Conn) {
	t.Helper()
	var b [1]byte
	if n, err := c.NetConn().Read(b[:]); err != io.EOF {
		t.Errorf("after the closing handshake: read %d bytes, %v; want EOF", n, err)
	}
}

// hasPingBeforeFin reports whether a ping frame comes before the first data
// frame with FIN in hs.
func hasPingBeforeFin(hs []wsproto.Header) bool {
	for _, h := range hs {
		switch {
		case h.Op == wsproto.OpPing:
			return true
		case !h.Op.IsControl() && h.Fin:
			return false
		}
	}
	return false
}

// gorillaExpectEcho reads the next message and checks that it is the echo
// of want, sent as typ.
func gorillaExpectEcho(t *testing.T, c *websocket.Conn, typ engine.MessageType, want []byte) {
	t.Helper()
	gotTyp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := equalEcho(engine.MessageType(gotTyp), typ, got, want); err != nil {
		t.Fatal(err)
	}
}
