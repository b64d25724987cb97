package engine_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// rawExchange sends raw bytes on a fresh connection and returns the HTTP
// response, after checking the server then closes the connection.
func rawExchange(t *testing.T, conn net.Conn, raw []byte) *http.Response {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("server kept the connection open after %s (read: %v)", resp.Status, err)
	}
	return resp
}

func TestHandshakeRejections(t *testing.T) {
	good := func(path string, extra ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n"
	}
	cases := []struct {
		name   string
		raw    string
		status int
		body   string
	}{
		{"path not served", good("/other"), 404, "no WebSocket endpoint"},
		{"missing key", "GET /wss HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Sec-WebSocket-Key"},
		{"wrong method", strings.Replace(good("/wss"), "GET", "PUT", 1), 400, "expected an HTTP GET"},
		{"lowercase method", strings.Replace(good("/wss"), "GET", "get", 1), 400, "GET"},
		{"HTTP/1.0", strings.Replace(good("/wss"), "HTTP/1.1", "HTTP/1.0", 1), 400, "HTTP/1.1"},
		{"wrong version", strings.Replace(good("/wss"), "Version: 13", "Version: 7", 1), 426, "Sec-WebSocket-Version"},
		{"plain HTTP GET", "GET /wss HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"not HTTP at all", "\x16\x03\x01\x00\xa5\x01\x00\x00", 400, "expected an HTTP GET"},
		{"head too large", "GET /wss HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431, "too large"},
		{"duplicate Sec-WebSocket-Key", good("/wss", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"), 400, "more than one Sec-WebSocket-Key"},
		{"duplicate Host", good("/wss", "Host: evil.example\r\n"), 400, "more than one Host"},
		{"key not base64 of 16 bytes", strings.Replace(good("/wss"), "dGhlIHNhbXBsZSBub25jZQ==", "0123456789abcdef", 1), 400, "base64 encoding of 16 bytes"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{Path: "/wss"}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := rawExchange(t, srv.rawDial(t), []byte(tc.raw))
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), tc.body) {
					t.Fatalf("body %q does not say %q", body, tc.body)
				}
				if tc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
					t.Fatal("426 without Sec-WebSocket-Version: 13")
				}
			})
		}
		// The server still serves after all of that.
		c := srv.dial(t, wstest.DialOptions{Path: "/wss"})
		expectEchoOf(t, c, wsproto.OpText, "still here")
	})
}

// TestHandshakeHeaderLists: Connection and Upgrade are RFC 7230 lists,
// which may hold other tokens and span several lines; such requests are
// upgraded.
func TestHandshakeHeaderLists(t *testing.T) {
	cases := []struct{ name, upgrade, connection string }{
		{"Connection over two lines", "Upgrade: websocket\r\n", "Connection: keep-alive\r\nConnection: Upgrade\r\n"},
		{"Upgrade list", "Upgrade: websocket, foo\r\n", "Connection: Upgrade\r\n"},
		{"both lists, other case", "Upgrade: h2c, WebSocket\r\n", "Connection: keep-alive, UPGRADE\r\n"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				head := "GET /lists HTTP/1.1\r\nHost: x\r\n" + tc.upgrade + tc.connection +
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
				c := srv.dial(t, wstest.DialOptions{Raw: func() []byte { return []byte(head) }})
				if got := c.Response.Header.Get("Sec-WebSocket-Accept"); got != wstest.AcceptKey("dGhlIHNhbXBsZSBub25jZQ==") {
					t.Fatalf("Sec-WebSocket-Accept %q", got)
				}
				expectEchoOf(t, c, wsproto.OpText, tc.name)
			})
		}
	})
}

// expectEchoOf sends one message and checks it comes back unchanged.
func expectEchoOf(t *testing.T, c *wstest.Client, op wsproto.Opcode, msg string) {
	t.Helper()
	if err := c.Write(wstest.Message(op, []byte(msg))); err != nil {
		t.Fatal(err)
	}
	gotOp, got, err := c.ReadMessage(0)
	if err != nil || gotOp != op || string(got) != msg {
		t.Fatalf("echo: %v %q %v, want %v %q", gotOp, got, err, op, msg)
	}
}

// gate is a handler whose hook authenticates by query token.
type gate struct {
	echo
	opened chan any
}

func (g gate) OnHandshake(c *engine.Conn, h *engine.Handshake) error {
	switch h.Query().Get("token") {
	case "":
		return &wsproto.RejectError{Status: http.StatusUnauthorized, Reason: "token required",
			Header: http.Header{"Www-Authenticate": {"Bearer"}}}
	case "bad":
		return errors.New("unknown token") // plain errors become 403 with no detail
	}
	if h.Header.Get("Origin") != "https://app.example" {
		return &wsproto.RejectError{Status: http.StatusForbidden, Reason: "origin not allowed"}
	}
	for _, p := range h.Protocols {
		if p == "chat.v2" {
			h.Subprotocol = p
		}
	}
	h.ResponseHeader = http.Header{"X-Session": {"s-" + h.Query().Get("token")}}
	c.SetValue("user:" + h.Query().Get("token"))
	return nil
}

func (g gate) OnOpen(c *engine.Conn) { g.opened <- c.Value() }

func (gate) OnMessage(c *engine.Conn, typ engine.MessageType, _ []byte) {
	_ = c.Send(typ, []byte(c.Value().(string)+" "+c.Subprotocol()))
}

func TestHandshakeHook(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := gate{opened: make(chan any, 1)}
		srv := startServer(t, tr, engine.Config{}, g)
		origin := http.Header{"Origin": {"https://app.example"}}

		cases := []struct {
			name   string
			path   string
			header http.Header
			status int
		}{
			{"no token", "/ws", origin, 401},
			{"bad token", "/ws?token=bad", origin, 403},
			{"wrong origin", "/ws?token=tom", http.Header{"Origin": {"https://evil.example"}}, 403},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, err := srv.tryDial(t, wstest.DialOptions{Path: tc.path, Header: tc.header})
				if err == nil || c == nil || c.Response.StatusCode != tc.status {
					t.Fatalf("want status %d, got %v", tc.status, err)
				}
			})
		}
		t.Run("accepted", func(t *testing.T) {
			c := srv.dial(t, wstest.DialOptions{Path: "/ws?token=tom", Header: origin, Protocols: []string{"chat.v1", "chat.v2"}})
			if got := c.Response.Header.Get("Sec-WebSocket-Protocol"); got != "chat.v2" {
				t.Fatalf("subprotocol %q", got)
			}
			if got := c.Response.Header.Get("X-Session"); got != "s-tom" {
				t.Fatalf("X-Session %q", got)
			}
			if v := <-g.opened; v != "user:tom" {
				t.Fatalf("OnOpen saw value %v", v)
			}
			expectEchoOf(t, c, wsproto.OpText, "user:tom chat.v2")
		})
	})
}

// TestFirstFrameWithRequest: a client may send its first frame in the same
// segment as the upgrade request; it must not be lost.
func TestFirstFrameWithRequest(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		head := wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)
		first := wstest.Message(wsproto.OpText, []byte("early bird")).Bytes()
		c := srv.dial(t, wstest.DialOptions{Raw: func() []byte { return append(head, first...) }})
		op, got, err := c.ReadMessage(0)
		if err != nil || op != wsproto.OpText || string(got) != "early bird" {
			t.Fatalf("got %v %q %v", op, got, err)
		}
	})
}

// TestRequestSplitAtEveryByte: the request head may arrive in pieces.
func TestRequestSplitAtEveryByte(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		conn := srv.rawDial(t)
		c := wstest.NewClient(conn)
		head := wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)
		msg := wstest.Message(wsproto.OpBinary, []byte{1, 2, 3}).Bytes()
		if err := c.WriteSplit(append(head, msg...), 1, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		var frame [5]byte
		if _, err := io.ReadFull(br, frame[:]); err != nil || string(frame[:]) != "\x82\x03\x01\x02\x03" {
			t.Fatalf("echo % x, %v", frame, err)
		}
	})
}

// TestPlainHTTPOnTLSPort: a ws or http client on the wss port gets a 400
// that says the port speaks TLS, then the connection closes: never a hang.
func TestPlainHTTPOnTLSPort(t *testing.T) {
	cases := []struct {
		name string
		raw  string
	}{
		{"ws upgrade", string(wstest.RequestHead("x", "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil))},
		{"http GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"http POST", "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"},
	}
	srv := startServer(t, transport{Name: "wss", TLS: true}, engine.Config{}, echo{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			resp := rawExchange(t, conn, []byte(tc.raw))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.Contains(string(body), "speaks TLS") {
				t.Fatalf("%d %q, want 400 saying the port speaks TLS", resp.StatusCode, body)
			}
		})
	}
	t.Run("not HTTP either", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("\x00\x01garbage\r\n\r\n"))
		if !wstest.NewClient(conn).WaitEOF(3 * time.Second) {
			t.Fatal("connection with garbage instead of TLS left open")
		}
	})
}

// TestTLSAutodetect: with TLSAutodetect one port serves ws and wss.
func TestTLSAutodetect(t *testing.T) {
	srv := startServer(t, transport{Name: "wss", TLS: true}, engine.Config{TLSAutodetect: true}, echo{})
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			o := wstest.DialOptions{}
			if tr.TLS {
				o.TLS = testpki.Get().ClientConfig()
			}
			c, err := wstest.Dial(srv.addr, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			expectEchoOf(t, c, wsproto.OpText, "both "+tr.Name)
		})
	}
}
