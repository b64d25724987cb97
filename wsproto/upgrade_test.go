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
	reason string            // what the refusal's body says
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
	{name: "space before colon", head: replaceLine("", "X-Bad : 1"), status: 400, reason: "malformed header line"},
	{name: "bare LF in a value", head: replaceLine("", "X-Bad: 1\nHost: evil"), status: 400, reason: "malformed header line"},
	{name: "obsolete line folding", head: replaceLine("", " continued"), status: 400, reason: "folding"},

	// Findings: what must appear once, and the key's form.
	{name: "duplicate Sec-WebSocket-Key", head: replaceLine("", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="), status: 400, reason: "more than one Sec-WebSocket-Key"},
	{name: "duplicate Host", head: replaceLine("", "Host: evil.example"), status: 400, reason: "more than one Host"},
	{name: "duplicate Sec-WebSocket-Version", head: replaceLine("", "Sec-WebSocket-Version: 13"), status: 400, reason: "more than one Sec-WebSocket-Version"},
	{name: "key of 16 characters, not base64 of 16 bytes", head: replaceLine("Sec-WebSocket-Key", "Sec-WebSocket-Key: 0123456789abcdef"), status: 400, reason: "base64 encoding of 16 bytes"},
	{name: "key not base64", head: replaceLine("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), status: 400, reason: "base64 encoding of 16 bytes"},
	{name: "key of 15 bytes", head: replaceLine("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), status: 400, reason: "base64 encoding of 16 bytes"},
	{name: "key of 17 bytes", head: replaceLine("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="), status: 400, reason: "base64 encoding of 16 bytes"},

	// Findings: RFC 7230 lists.
	{name: "Connection split over two lines", status: 101,
		head: replaceLine("Connection", "Connection: keep-alive\r\nConnection: Upgrade")},
	{name: "Connection upgrade on the first of two lines", status: 101,
		head: replaceLine("Connection", "Connection: Upgrade\r\nConnection: keep-alive")},
	{name: "Connection list without spaces", status: 101, head: replaceLine("Connection", "Connection: keep-alive,upgrade")},
	{name: "Upgrade list", status: 101, head: replaceLine("Upgrade", "Upgrade: websocket, foo")},
	{name: "Upgrade list, websocket last", status: 101, head: replaceLine("Upgrade", "Upgrade: h2c, WebSocket")},
	{name: "Upgrade over two lines", status: 101, head: replaceLine("Upgrade", "Upgrade: h2c\r\nUpgrade: websocket")},
	{name: "Upgrade with a version is another protocol", status: 400, head: replaceLine("Upgrade", "Upgrade: websocket/13"), reason: "Upgrade"},
	{name: "Connection without upgrade", status: 400, head: replaceLine("Connection", "Connection: keep-alive, close"), reason: "Connection"},
	{name: "subprotocols over two lines", status: 101,
		head:   replaceLine("Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat"),
		accept: func(r *wsproto.Request) error { r.Subprotocol = "superchat"; return nil },
		header: map[string]string{"Sec-Websocket-Protocol": "superchat"}},
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
				if rej != nil && !strings.Contains(rej.Reason, tc.reason) || !bytes.Contains(resp, []byte(tc.reason)) {
					t.Errorf("reason %q, want one that says %q", rej.Reason, tc.reason)
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
