package interop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

// coderTimeout bounds each coder/websocket connection's whole life.
const coderTimeout = 20 * time.Second

func TestCoder(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr)

		t.Run("echo", func(t *testing.T) {
			for _, typ := range []engine.MessageType{engine.Text, engine.Binary} {
				for _, n := range echoSizes {
					t.Run(fmt.Sprintf("%v/%d", typ, n), func(t *testing.T) {
						ctx, c, path := coderDial(t, srv, nil)
						want := payload(typ, n)
						if err := c.Write(ctx, coderType(typ), want); err != nil {
							t.Fatal(err)
						}
						coderExpectEcho(t, ctx, c, typ, want)
						coderClose(t, c, wsproto.CloseNormal, "done")
						srv.wantClosed(t, path, wsproto.CloseNormal, "done")
					})
				}
			}
		})

		t.Run("fragmented", func(t *testing.T) {
			for _, typ := range []engine.MessageType{engine.Text, engine.Binary} {
				t.Run(typ.String(), func(t *testing.T) {
					tap := &wireTap{}
					ctx, c, path := coderDial(t, srv, tap)
					w, err := c.Writer(ctx, coderType(typ))
					if err != nil {
						t.Fatal(err)
					}
					var want []byte
					for _, f := range fragments {
						if _, err := w.Write([]byte(f)); err != nil {
							t.Fatal(err)
						}
						want = append(want, f...)
					}
					if err := w.Close(); err != nil {
						t.Fatal(err)
					}
					coderExpectEcho(t, ctx, c, typ, want)
					hs, err := tap.frames()
					if err != nil {
						t.Fatal(err)
					}
					// coder sends a frame per Write and an empty one with FIN
					// on Close.
					if n, err := dataFrames(hs, wsproto.Opcode(typ)); err != nil || n != len(fragments)+1 {
						t.Errorf("client sent the message in %d frames (%v); want %d", n, err, len(fragments)+1)
					}
					coderClose(t, c, wsproto.CloseNormal, "done")
					srv.wantClosed(t, path, wsproto.CloseNormal, "done")
				})
			}
		})

		t.Run("ping-inside-fragmented", func(t *testing.T) {
			tap := &wireTap{}
			ctx, c, path := coderDial(t, srv, tap)
			w, err := c.Writer(ctx, websocket.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			first, last := strings.Repeat("x", 600), "y"
			if _, err := w.Write([]byte(first)); err != nil {
				t.Fatal(err)
			}
			echo := coderReadAsync(ctx, c)
			// Ping returns once the reader has seen the matching pong, which
			// the server sends before the message is complete.
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("ping inside a fragmented message: %v", err)
			}
			if _, err := w.Write([]byte(last)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r := <-echo
			if r.err != nil {
				t.Fatal(r.err)
			}
			if err := equalEcho(engineType(r.typ), engine.Text, r.data, []byte(first+last)); err != nil {
				t.Fatal(err)
			}
			hs, err := tap.frames()
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) < 3 || hs[0].Op != wsproto.OpText || hs[0].Fin || !hasPingBeforeFin(hs) {
				t.Errorf("client frames %+v: want a ping between a message's first and last frame", hs)
			}
			coderClose(t, c, wsproto.CloseNormal, "done")
			srv.wantClosed(t, path, wsproto.CloseNormal, "done")
		})

		t.Run("ping", func(t *testing.T) {
			ctx, c, path := coderDial(t, srv, nil)
			echo := coderReadAsync(ctx, c)
			// Ping waits for the pong carrying its own payload.
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("after-ping")); err != nil {
				t.Fatal(err)
			}
			if r := <-echo; r.err != nil || string(r.data) != "after-ping" {
				t.Fatalf("read %q, %v; want the echo of after-ping", r.data, r.err)
			}
			coderClose(t, c, wsproto.CloseNormal, "done")
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
					_, c, path := coderDial(t, srv, nil)
					coderClose(t, c, tc.code, tc.reason)
					srv.wantClosed(t, path, tc.code, tc.reason)
				})
			}
		})

		t.Run("server-close", func(t *testing.T) {
			ctx, c, path := coderDial(t, srv, nil)
			if err := c.Write(ctx, websocket.MessageText, []byte(closeMe)); err != nil {
				t.Fatal(err)
			}
			// coder answers the server's close frame with the same code.
			_, _, err := c.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusCode(closeByeCode) || ce.Reason != closeByeReason {
				t.Fatalf("read: %v; want close %d %q", err, closeByeCode, closeByeReason)
			}
			srv.wantServerClosed(t, path)
		})
	})
}

// coderDial opens a coder/websocket connection to the server at a path
// named after the test, tapped when tap is not nil, and closes it when the
// test ends. The context it returns bounds the connection's use.
func coderDial(t *testing.T, srv *testServer, tap *wireTap) (context.Context, *websocket.Conn, string) {
	t.Helper()
	ctx, c, _, path := coderDialCompression(t, srv, tap, websocket.CompressionDisabled)
	return ctx, c, path
}

// coderDialCompression is coderDial offering permessage-deflate in mode; it
// also returns the header of the server's upgrade response.
func coderDialCompression(t *testing.T, srv *testServer, tap *wireTap, mode websocket.CompressionMode) (context.Context, *websocket.Conn, http.Header, string) {
	t.Helper()
	path := "/" + t.Name()
	ctx, cancel := context.WithTimeout(t.Context(), coderTimeout)
	t.Cleanup(cancel)
	tr := &http.Transport{TLSClientConfig: clientTLS()}
	if tap != nil {
		tr.DialContext, tr.DialTLSContext = tap.dial, tap.dialTLS
	}
	t.Cleanup(tr.CloseIdleConnections)
	c, resp, err := websocket.Dial(ctx, srv.url(path), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, CompressionMode: mode})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.url(path), err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(2 << 20) // the default, 32 KiB, is below echoSizes
	return ctx, c, resp.Header, path
}

// coderClose runs the closing handshake from the client with code and
// reason (CloseNoStatus sends an empty close frame). coder's Close succeeds
// only when the server answers with the same code.
func coderClose(t *testing.T, c *websocket.Conn, code wsproto.CloseCode, reason string) {
	t.Helper()
	if err := c.Close(websocket.StatusCode(code), reason); err != nil {
		t.Fatalf("client close %d: %v", code, err)
	}
}

// coderRead is what one Read returned.
type coderRead struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// coderReadAsync reads one message on another goroutine: coder handles
// control frames, pongs included, only inside a Read.
func coderReadAsync(ctx context.Context, c *websocket.Conn) <-chan coderRead {
	ch := make(chan coderRead, 1)
	go func() {
		typ, data, err := c.Read(ctx)
		ch <- coderRead{typ: typ, data: data, err: err}
	}()
	return ch
}

func coderType(typ engine.MessageType) websocket.MessageType {
	if typ == engine.Text {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

func engineType(typ websocket.MessageType) engine.MessageType {
	if typ == websocket.MessageText {
		return engine.Text
	}
	return engine.Binary
}

// coderExpectEcho reads the next message and checks that it is the echo
// of want, sent as typ.
func coderExpectEcho(t *testing.T, ctx context.Context, c *websocket.Conn, typ engine.MessageType, want []byte) {
	t.Helper()
	gotTyp, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalEcho(engineType(gotTyp), typ, got, want); err != nil {
		t.Fatal(err)
	}
}
