package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// apiHandler is the HTTP handler of these tests. /echo answers with the
// method, path, body, RemoteAddr, the client's IP source and whether TLS is
// on; /block waits until release is closed or the request is cancelled,
// reporting which on cancelled; /panic panics.
type apiHandler struct {
	started   chan struct{} // one value per /block request that started
	release   chan struct{}
	cancelled chan error
	served    atomic.Int64 // /mib requests
}

func newAPIHandler() *apiHandler {
	return &apiHandler{started: make(chan struct{}, 16), release: make(chan struct{}), cancelled: make(chan error, 16)}
}

func (h *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		body, _ := io.ReadAll(r.Body)
		cl, _ := engine.HTTPClientOf(r)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %q %s %s tls=%t", r.Method, r.URL.RequestURI(), body, r.RemoteAddr, cl.IPSource, r.TLS != nil)
	case "/block":
		h.started <- struct{}{}
		select {
		case <-h.release:
			_, _ = io.WriteString(w, "released")
		case <-r.Context().Done():
			h.cancelled <- r.Context().Err()
		}
	case "/panic":
		panic("handler bug")
	case "/mib":
		h.served.Add(1)
		_, _ = w.Write(make([]byte, 1<<20))
	case "/big":
		_, err := w.Write(make([]byte, 2<<20))
		if err == nil {
			panic("a 2 MiB body fit in MaxQueuedBytes of 1 MiB")
		}
	default:
		http.NotFound(w, r)
	}
}

// startHTTPServer starts an echo WebSocket server with h as its HTTPHandler.
func startHTTPServer(t *testing.T, tr transport, cfg engine.Config, h http.Handler) *testServer {
	t.Helper()
	cfg.HTTPHandler = h
	return startServer(t, tr, cfg, echo{})
}

// httpConn is a raw HTTP/1.1 client connection.
type httpConn struct {
	net.Conn
	br *bufio.Reader
}

func (s *testServer) httpDial(t *testing.T) *httpConn {
	t.Helper()
	c := s.rawDial(t)
	return &httpConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *httpConn) send(t *testing.T, raw string) {
	t.Helper()
	if _, err := io.WriteString(c.Conn, raw); err != nil {
		t.Fatal(err)
	}
}

// read reads one response and its body.
func (c *httpConn) read(t *testing.T, method string) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// waitEOF reports whether the server closes the connection within 5 s.
func (c *httpConn) waitEOF() bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF, or a reset
}

func TestHTTPRequests(t *testing.T) {
	cases := []struct {
		name   string
		req    string
		status int
		body   string // a part of the body expected
		closes bool   // the server closes after the response
	}{
		{name: "get", req: "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, body: `GET /echo?a=1 ""`},
		{name: "post", req: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: `POST /echo "hello"`},
		{name: "delete without body", req: "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, body: `DELETE /echo ""`},
		{name: "not found", req: "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", status: 404},
		{name: "get on the ws path without upgrade", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: 404},
		{name: "http/1.0 closes", req: "GET /echo HTTP/1.0\r\n\r\n", status: 200, body: "GET /echo", closes: true},
		{name: "connection close", req: "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: 200, closes: true},
		{name: "body too large", req: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n", status: 413, body: "larger than 1024", closes: true},
		{name: "chunked", req: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 411, closes: true},
		{name: "bad content length", req: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello", status: 400, body: "malformed request", closes: true},
		{name: "two content lengths", req: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400, closes: true},
		{name: "missing host", req: "GET /echo HTTP/1.1\r\n\r\n", status: 400, body: "missing Host", closes: true},
		{name: "bare LF", req: "GET /echo HTTP/1.1\nHost: x\n\nX: y\r\n\r\n", status: 400, closes: true},
		{name: "http/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, closes: true},
		{name: "not http", req: "\x00\x01garbage\r\n\r\n", status: 400, closes: true},
		{name: "head too large", req: "GET /echo HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2048), status: 431, closes: true},
		{name: "unknown expectation", req: "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", status: 417, closes: true},
		{name: "panic", req: "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", status: 500, closes: true},
		{name: "response too large", req: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", status: 500, body: "response too large", closes: true},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{MaxHTTPBodyBytes: 1024, MaxHeaderBytes: 1024, MaxQueuedBytes: 1 << 20}, newAPIHandler())
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := srv.httpDial(t)
				c.send(t, tc.req)
				resp, body := c.read(t, "GET")
				if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
					t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tc.status, tc.body)
				}
				if resp.Close != tc.closes {
					t.Errorf("Connection: close is %t, want %t", resp.Close, tc.closes)
				}
				if tc.closes && !c.waitEOF() {
					t.Error("connection still open after a closing response")
				}
			})
		}
		srv.waitLog("http handler panic", "handler bug")
		srv.waitLog("http response too large")
	})
}

// TestHTTPClient: net/http's own client, keep-alive over ws and https, a
// HEAD, a body sent after "Expect: 100-continue", and the TLS state; then
// a WebSocket connection on the same port.
func TestHTTPClient(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{}, newAPIHandler())
		// The body waits for "100 Continue" longer than the request may take.
		transport := &http.Transport{ExpectContinueTimeout: time.Minute, TLSClientConfig: testpki.Get().ClientConfig()}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
		scheme := "http"
		if tr.TLS {
			scheme = "https"
		}
		base := scheme + "://" + srv.addr
		var ports []string
		for i := range 3 {
			resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader(fmt.Sprint("n", i)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf(`POST /echo "n%d"`, i)
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), want) || !strings.HasSuffix(string(b), fmt.Sprintf("tls=%t", tr.TLS)) {
				t.Fatalf("got %d %q, want %q", resp.StatusCode, b, want)
			}
			ports = append(ports, strings.Fields(string(b))[3])
		}
		if ports[0] != ports[1] || ports[1] != ports[2] {
			t.Errorf("requests came from %v: the connection was not kept alive", ports)
		}

		req, _ := http.NewRequest(http.MethodPut, base+"/echo", strings.NewReader(strings.Repeat("x", 3000)))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "PUT /echo \"xxx") {
			t.Fatalf("100-continue: got %d %.40q", resp.StatusCode, b)
		}

		resp, err = client.Head(base + "/echo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength <= 0 {
			t.Fatalf("HEAD: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
		}

		// The WebSocket endpoint on the same port, beside the kept-alive
		// HTTP connection.
		ws := srv.dial(t, wstest.DialOptions{})
		expectEchoOf(t, ws, wsproto.OpText, "after http")
	})
}

// TestHTTPPipelining: requests sent in one write are answered in order,
// and a WebSocket upgrade may follow them on the same connection.
func TestHTTPPipelining(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{}, newAPIHandler())
		c := srv.httpDial(t)
		var all string
		for i := range 4 {
			all += fmt.Sprintf("POST /echo?i=%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nb%d", i, i)
		}
		c.send(t, all)
		for i := range 4 {
			resp, body := c.read(t, "POST")
			want := fmt.Sprintf(`POST /echo?i=%d "b%d"`, i, i)
			if resp.StatusCode != 200 || !strings.HasPrefix(body, want) {
				t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, want)
			}
		}
		c.send(t, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, _ := c.read(t, "GET")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade after HTTP requests: %d", resp.StatusCode)
		}
		ws := wstest.NewClient(c.Conn)
		expectEchoOf(t, ws, wsproto.OpText, "hi")
	})
}

// TestHTTPSaturation: beyond MaxHTTPConcurrency handlers, requests get 503
// at once, and the connection stays usable.
func TestHTTPSaturation(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := startHTTPServer(t, tr, engine.Config{MaxHTTPConcurrency: 1}, h)
		busy := srv.httpDial(t)
		busy.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started
		c := srv.httpDial(t)
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := c.read(t, "GET")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Close {
			t.Fatalf("got %d (Retry-After %q, close %t), want a kept-alive 503", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
		}
		close(h.release)
		if resp, body := busy.read(t, "GET"); resp.StatusCode != 200 || body != "released" {
			t.Fatalf("blocked request: %d %q", resp.StatusCode, body)
		}
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.read(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("after the pool freed: %d", resp.StatusCode)
		}
	})
}

// TestHTTPSlowHandler: a handler that blocks does not stall the event
// loop: a WebSocket connection on the same (only) loop still echoes, and so
// does another HTTP request.
func TestHTTPSlowHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := startHTTPServer(t, tr, engine.Config{EventLoops: 1}, h)
		slow := srv.httpDial(t)
		slow.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started
		ws := srv.dial(t, wstest.DialOptions{})
		expectEchoOf(t, ws, wsproto.OpText, "still here")
		c := srv.httpDial(t)
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.read(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("request beside a blocked handler: %d", resp.StatusCode)
		}
		close(h.release)
		if resp, _ := slow.read(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("blocked request: %d", resp.StatusCode)
		}
	})
}

// TestHTTPClientLeaves: a client that leaves mid-request cancels the
// request's context, and the server lets go of the connection.
func TestHTTPClientLeaves(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := startHTTPServer(t, tr, engine.Config{}, h)
		c := srv.httpDial(t)
		c.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started
		c.Close()
		select {
		case err := <-h.cancelled:
			if err != context.Canceled {
				t.Fatalf("request context: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the request's context was not cancelled")
		}
		waitConns(t, srv, 0)

		// Half a body, then gone: no handler runs.
		c = srv.httpDial(t)
		c.send(t, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
		c.Close()
		waitConns(t, srv, 0)
	})
}

func waitConns(t *testing.T, srv *testServer, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Conns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want %d", srv.Conns(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHTTPTimeouts: a head or a body that does not arrive within
// HandshakeTimeout, and a kept-alive connection idle for HTTPIdleTimeout,
// are closed.
func TestHTTPTimeouts(t *testing.T) {
	cases := []struct {
		name string
		send string
	}{
		{name: "half a head", send: "GET /echo HTTP/1.1\r\nHost: x\r\n"},
		{name: "half a body", send: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
		{name: "idle after a request", send: "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "half a second head", send: "GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\n"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{HandshakeTimeout: 300 * time.Millisecond, HTTPIdleTimeout: 300 * time.Millisecond}, newAPIHandler())
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := srv.httpDial(t)
				c.send(t, tc.send)
				if !c.waitEOF() {
					t.Fatal("connection still open after the timeout")
				}
			})
		}
	})
}

// TestHTTPClientIP: the handler sees the client IP a trusted proxy names,
// as for an upgrade.
func TestHTTPClientIP(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, newAPIHandler())
		c := srv.httpDial(t)
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Real-IP: 203.0.113.7\r\n\r\n")
		_, body := c.read(t, "GET")
		if want := fmt.Sprintf(`"" 203.0.113.7:0 x-real-ip tls=%t`, tr.TLS); !strings.HasSuffix(body, want) {
			t.Fatalf("got %q, want it to end with %q", body, want)
		}
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		_, body = c.read(t, "GET")
		if want := fmt.Sprintf(`"" %s peer`, c.LocalAddr()); !strings.Contains(body, want) {
			t.Fatalf("got %q, want %q", body, want)
		}
	})
}

// TestHTTPShutdown: Shutdown closes idle kept-alive connections, lets a
// request in flight finish with "Connection: close", and waits for it.
func TestHTTPShutdown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		cfg := engine.Config{HTTPHandler: h, EventLoops: 2}
		if tr.TLS {
			cfg.TLS = testpki.Get().ServerConfig()
		}
		srv, err := engine.New(cfg, echo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		ts := &testServer{Server: srv, t: t, tr: tr, addr: srv.Addr().String()}
		idle := ts.httpDial(t)
		idle.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		idle.read(t, "GET")
		busy := ts.httpDial(t)
		busy.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started

		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- srv.Shutdown(ctx)
		}()
		if !idle.waitEOF() {
			t.Fatal("idle keep-alive connection survived the shutdown")
		}
		close(h.release)
		resp, body := busy.read(t, "GET")
		if resp.StatusCode != 200 || body != "released" || !resp.Close {
			t.Fatalf("request in flight: %d %q close=%t", resp.StatusCode, body, resp.Close)
		}
		busy.Close()
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// TestHTTPShutdownCancels: a handler still running when Shutdown's context
// ends has its request cancelled.
func TestHTTPShutdownCancels(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := wstest.StartServer(t, tr, engine.Config{HTTPHandler: h}, echo{}, 5*time.Second)
		ts := &testServer{Server: srv, t: t, tr: tr, addr: srv.Addr().String()}
		c := ts.httpDial(t)
		c.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Shutdown: %v, want the deadline", err)
		}
		if err := <-h.cancelled; err != context.Canceled {
			t.Fatalf("request context: %v", err)
		}
	})
}

// TestHTTPWithoutHandler: without HTTPHandler, plain requests are refused
// as before.
func TestHTTPWithoutHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		for _, req := range []string{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"} {
			c := srv.httpDial(t)
			c.send(t, req)
			if resp, _ := c.read(t, "GET"); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUpgradeRequired {
				t.Fatalf("%.20q: %d", req, resp.StatusCode)
			}
		}
	})
}

// TestHTTPManyClients: concurrent keep-alive clients over net/http.
func TestHTTPManyClients(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{}, newAPIHandler())
		transport := &http.Transport{TLSClientConfig: testpki.Get().ClientConfig(), MaxIdleConnsPerHost: 8}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport}
		scheme := "http"
		if tr.TLS {
			scheme = "https"
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 20 {
					resp, err := client.Post(scheme+"://"+srv.addr+"/echo", "text/plain", strings.NewReader(fmt.Sprint(g, "-", i)))
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !strings.Contains(string(b), fmt.Sprintf(`"%d-%d"`, g, i)) {
						errs <- fmt.Errorf("got %q", b)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

// TestHTTPPipelineBackpressure: a client that pipelines requests without
// reading the answers is served only until MaxQueuedBytes wait for it;
// once it reads, the rest are answered.
func TestHTTPPipelineBackpressure(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := startHTTPServer(t, tr, engine.Config{MaxQueuedBytes: 2 << 20}, h)
		c := srv.httpDial(t)
		const n = 40 // 40 MiB of answers, far more than socket buffers hold
		c.send(t, strings.Repeat("GET /mib HTTP/1.1\r\nHost: x\r\n\r\n", n))
		last := int64(-1)
		for h.served.Load() != last { // until the server stops serving
			last = h.served.Load()
			time.Sleep(200 * time.Millisecond)
		}
		if last >= n {
			t.Fatalf("served all %d requests to a client that read nothing", last)
		}
		for i := range n {
			if resp, body := c.read(t, "GET"); resp.StatusCode != 200 || len(body) != 1<<20 {
				t.Fatalf("response %d: %d, %d bytes", i, resp.StatusCode, len(body))
			}
		}
	})
}

// TestHTTPPipelineBacklog: a client that sends more than a request's worth
// while a handler runs is dropped.
func TestHTTPPipelineBacklog(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newAPIHandler()
		srv := startHTTPServer(t, tr, engine.Config{MaxHeaderBytes: 1024, MaxHTTPBodyBytes: 1024}, h)
		c := srv.httpDial(t)
		c.send(t, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		<-h.started
		c.send(t, strings.Repeat("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 100))
		if !c.waitEOF() {
			t.Fatal("connection still open")
		}
		select {
		case <-h.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the blocked request was not cancelled")
		}
	})
}

// BenchmarkHTTPKeepAlive: POSTs of 64 bytes over one kept-alive
// connection of net/http's client, answered by a handler on the pool.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr.Name, func(b *testing.B) {
			srv := wstest.StartServer(b, tr, engine.Config{HTTPHandler: newAPIHandler(), EventLoops: 1}, echo{}, 5*time.Second)
			transport := &http.Transport{TLSClientConfig: testpki.Get().ClientConfig()}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport}
			scheme := "http"
			if tr.TLS {
				scheme = "https"
			}
			u := scheme + "://" + srv.Addr().String() + "/echo"
			body := strings.Repeat("x", 64)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(u, "text/plain", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestHTTPProxyProtocol: behind a PROXY protocol balancer, the handler
// sees the client the header names.
func TestHTTPProxyProtocol(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{
			ProxyProtocol:  true,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			RealIPHeader:   engine.SourceProxyProtocol,
		}, newAPIHandler())
		raw, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := io.WriteString(raw, "PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n"); err != nil {
			t.Fatal(err)
		}
		conn := raw
		if tr.TLS {
			cfg := testpki.Get().ClientConfig()
			cfg.ServerName = "127.0.0.1"
			conn = tls.Client(raw, cfg)
		}
		c := &httpConn{Conn: conn, br: bufio.NewReader(conn)}
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := c.read(t, "GET"); !strings.Contains(body, `"" 203.0.113.7:0 proxy-protocol`) {
			t.Fatalf("got %q", body)
		}
	})
}

// TestHTTPWriteFails: a response whose write fails closes the connection
// cleanly: no lifecycle violation, nothing held.
func TestHTTPWriteFails(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startHTTPServer(t, tr, engine.Config{}, newAPIHandler())
		srv.InjectFault(engine.FaultWrite, 1, syscall.EPIPE)
		c := srv.httpDial(t)
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		if !c.waitEOF() {
			t.Fatal("connection still open")
		}
		waitConns(t, srv, 0)
		if n := srv.Resurrections(); n != 0 {
			t.Fatalf("%d lifecycle violations; the first at:\n%s", n, srv.FirstViolation())
		}
		c = srv.httpDial(t)
		c.send(t, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.read(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("next connection: %d", resp.StatusCode)
		}
	})
}
