package wsproto_test

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wssd/wssd/wsproto"
)

const goodHead = "GET /chat?room=7 HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: keep-alive, Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Origin: https://example.com\r\n" +
	"X-Real-IP: 203.0.113.7\r\n" +
	"\r\n"

// replaceLine swaps the header line starting with prefix (or adds line
// when prefix is empty) in goodHead.
func replaceLine(prefix, line string) string {
	var out []string
	for l := range strings.SplitSeq(strings.TrimSuffix(goodHead, "\r\n\r\n"), "\r\n") {
		if prefix != "" && strings.HasPrefix(l, prefix) {
			if line != "" {
				out = append(out, line)
			}
			continue
		}
		out = append(out, l)
	}
	if prefix == "" {
		out = append(out, line)
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n"
}

var handshakeCases = []struct {
	name   string
	head   string
	accept func(*wsproto.Request) error
	status int
	header map[string]string // expected response header fields
}{
	{name: "valid", head: goodHead, status: 101,
		header: map[string]string{"Sec-Websocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Upgrade": "websocket"}},
	{name: "subprotocol chosen", head: goodHead, status: 101,
		accept: func(r *wsproto.Request) error { r.Subprotocol = "superchat"; return nil },
		header: map[string]string{"Sec-Websocket-Protocol": "superchat"}},
	{name: "extra response header", head: goodHead, status: 101,
		accept: func(r *wsproto.Request) error { r.ResponseHeader = http.Header{"X-Served-By": {"wssd"}}; return nil },
		header: map[string]string{"X-Served-By": "wssd"}},
	{name: "subprotocol not offered", head: goodHead, status: 500,
		accept: func(r *wsproto.Request) error { r.Subprotocol = "mqtt"; return nil }},
	{name: "rejected by accept", head: goodHead, status: 401,
		accept: func(*wsproto.Request) error { return &wsproto.RejectError{Status: 401, Reason: "token required"} }},
	{name: "plain error from accept", head: goodHead, status: 403,
		accept: func(*wsproto.Request) error { return errors.New("no") }},
	{name: "POST", head: strings.Replace(goodHead, "GET", "POST", 1), status: 400},
	{name: "HTTP/1.0", head: strings.Replace(goodHead, "HTTP/1.1", "HTTP/1.0", 1), status: 400},
	{name: "HTTP/2.0", head: strings.Replace(goodHead, "HTTP/1.1", "HTTP/2.0", 1), status: 400},
	{name: "missing key", head: replaceLine("Sec-WebSocket-Key", ""), status: 400},
	{name: "short key", head: replaceLine("Sec-WebSocket-Key", "Sec-WebSocket-Key: abc"), status: 400},
	{name: "missing upgrade", head: replaceLine("Upgrade", ""), status: 400},
	{name: "wrong upgrade", head: replaceLine("Upgrade", "Upgrade: h2c"), status: 400},
	{name: "missing connection", head: replaceLine("Connection", ""), status: 400},
	{name: "missing host", head: replaceLine("Host", ""), status: 400},
	{name: "version 8", head: replaceLine("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), status: 426,
		header: map[string]string{"Sec-Websocket-Version": "13"}},
	{name: "missing version", head: replaceLine("Sec-WebSocket-Version", ""), status: 400},
	{name: "malformed header line", head: replaceLine("", "no colon here"), status: 400},
	{name: "garbage request line", head: "\x16\x03\x01\x02\x00\r\n\r\n", status: 400},
	{name: "bad URI", head: strings.Replace(goodHead, "/chat?room=7", "chat", 1), status: 400},
}

func TestHandshake(t *testing.T) {
	for _, tc := range handshakeCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, r, err := wsproto.Handshake(nil, []byte(tc.head), tc.accept)
			if (err == nil) != (tc.status == 101) {
				t.Fatalf("err = %v for status %d", err, tc.status)
			}
			hr, perr := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
			if perr != nil {
				t.Fatalf("response does not parse: %v\n%s", perr, resp)
			}
			if hr.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", hr.StatusCode, tc.status, resp)
			}
			for k, v := range tc.header {
				if got := hr.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tc.status != 101 {
				var rej *wsproto.RejectError
				if !errors.As(err, &rej) || rej.Status != tc.status {
					t.Errorf("err = %v, want a *RejectError with status %d", err, tc.status)
				}
				if !hr.Close || hr.ContentLength <= 1 {
					t.Errorf("an error response must close and say why:\n%s", resp)
				}
			}
			if tc.name == "valid" {
				if r.Path != "/chat" || r.RawQuery != "room=7" || r.Host != "example.com" ||
					r.Header.Get("X-Real-Ip") != "203.0.113.7" || r.Header.Get("Origin") != "https://example.com" ||
					strings.Join(r.Protocols, ",") != "chat,superchat" || r.Query().Get("room") != "7" {
					t.Errorf("request not captured: %+v", r)
				}
			}
		})
	}
}

func TestRequestHeadLength(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", -1},
		{"partial", "GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"complete", "GET / HTTP/1.1\r\n\r\n", 18},
		{"with frame after", "GET / HTTP/1.1\r\n\r\n\x81\x80", 18},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wsproto.RequestHeadLength([]byte(tc.in)); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestResponseHeaderInjection(t *testing.T) {
	accept := func(r *wsproto.Request) error {
		r.ResponseHeader = http.Header{"X-Evil": {"a\r\nSet-Cookie: x=1"}, "X-Ok": {"fine"}}
		return nil
	}
	resp, _, err := wsproto.Handshake(nil, []byte(goodHead), accept)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(resp, []byte("Set-Cookie")) || !bytes.Contains(resp, []byte("X-Ok: fine")) {
		t.Fatalf("a header value with CR or LF must be dropped:\n%s", resp)
	}
}
