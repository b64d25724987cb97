package engine_test

import (
	"net/http"
	"testing"

	"github.com/wssd/wssd/engine"
)

// FuzzHTTPRequest feeds arbitrary bytes to the plain HTTP head reader with
// small limits and checks what it returns: a request only from a complete
// head within the head limit, with a body length within the body limit,
// and never a request and a refusal at once; a refusal is an HTTP error
// status. The same bytes with one byte more never turn a decision back
// into "incomplete".
func FuzzHTTPRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /apps/1/events?auth_key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /wss HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\nX: y\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
		"GET http://other/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"\x16\x03\x01\x00\x05hello",
	} {
		f.Add([]byte(s))
	}
	const maxHead, maxBody = 256, 64
	f.Fuzz(func(t *testing.T, b []byte) {
		n, req, upgrade, rej := engine.ReadHTTPHead(b, maxHead, maxBody)
		decided := req != nil || upgrade || rej != nil
		switch {
		case req != nil && (upgrade || rej != nil):
			t.Fatalf("a request and upgrade=%v, refusal %v", upgrade, rej)
		case rej != nil && (rej.Status < 400 || rej.Status > 599 || http.StatusText(rej.Status) == ""):
			t.Fatalf("refusal with status %d", rej.Status)
		case (req != nil || upgrade) && (n <= 0 || n > len(b) || n > maxHead+4):
			t.Fatalf("head length %d of %d bytes", n, len(b))
		case req != nil && (req.ContentLength < 0 || req.ContentLength > maxBody):
			t.Fatalf("body length %d", req.ContentLength)
		case req != nil && req.Method == "":
			t.Fatal("a request without a method")
		}
		if decided {
			_, req2, upgrade2, rej2 := engine.ReadHTTPHead(append(b[:len(b):len(b)], 'x'), maxHead, maxBody)
			if req2 == nil && !upgrade2 && rej2 == nil {
				t.Fatal("one more byte made a decided head incomplete")
			}
		}
	})
}
