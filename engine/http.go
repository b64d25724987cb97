package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wssd/wssd/wsproto"
)

// Plain HTTP on the WebSocket port. With Config.HTTPHandler set, a request
// that is not a WebSocket upgrade is read on the event loop, bounded like an
// upgrade request (head) and by Config.MaxHTTPBodyBytes (body), handed to
// the handler on a goroutine of a bounded pool, and its buffered response is
// written back by the event loop. The connection stays in stateUpgrading
// meanwhile: a keep-alive connection may still upgrade, the sweep applies
// its deadline (head, body, idle keep-alive), and Shutdown's drain closes it
// unless a request is in flight.

// Defaults for the HTTP fields of Config.
const (
	DefaultMaxHTTPBodyBytes = 1 << 20
	DefaultHTTPIdleTimeout  = 30 * time.Second
	// defaultHTTPConcurrencyPerCPU sets MaxHTTPConcurrency's default.
	defaultHTTPConcurrencyPerCPU = 64
)

// ErrResponseTooLarge is returned by the Write method of the
// http.ResponseWriter that Config.HTTPHandler gets once the buffered
// response would exceed Config.MaxQueuedBytes; the client then gets a 500.
var ErrResponseTooLarge = errors.New("engine: HTTP response larger than MaxQueuedBytes")

// errHTTPBacklog closes a connection that sent more than one pipelined
// request's worth of bytes while a handler was running.
var errHTTPBacklog = errors.New("engine: too much pipelined input while a request is served")

// withHTTPDefaults fills in the HTTP fields of c.
func (c Config) withHTTPDefaults() Config {
	if c.MaxHTTPBodyBytes <= 0 {
		c.MaxHTTPBodyBytes = DefaultMaxHTTPBodyBytes
	}
	if c.MaxHTTPConcurrency <= 0 {
		c.MaxHTTPConcurrency = defaultHTTPConcurrencyPerCPU * runtime.GOMAXPROCS(0)
	}
	if c.HTTPIdleTimeout <= 0 {
		c.HTTPIdleTimeout = DefaultHTTPIdleTimeout
	}
	return c
}

// HTTPClient is what the engine knows about the client of a request it
// handed to Config.HTTPHandler; see HTTPClientOf.
type HTTPClient struct {
	// Peer is the TCP peer: a proxy's address, behind a proxy.
	Peer netip.AddrPort
	// IP is the client's address, resolved as for an upgrade request
	// (Config.TrustedProxies, Config.RealIPHeader).
	IP netip.Addr
	// IPSource says where IP came from.
	IPSource IPSource
}

type httpClientKey struct{}

// HTTPClientOf returns the client of r, a request the engine handed to
// Config.HTTPHandler, and false for any other request. r.RemoteAddr holds
// the same client IP with the TCP peer's port when the IP is the peer's,
// and port 0 when a trusted proxy named it.
func HTTPClientOf(r *http.Request) (HTTPClient, bool) {
	c, ok := r.Context().Value(httpClientKey{}).(HTTPClient)
	return c, ok
}

// httpServing is the server's side of HTTP: the handlers' pool.
type httpServing struct {
	sem    chan struct{} // one token per running handler
	wg     sync.WaitGroup
	base   context.Context // parent of every request's context
	cancel context.CancelFunc
}

func (h *httpServing) init(cfg *Config) {
	h.sem = make(chan struct{}, cfg.MaxHTTPConcurrency)
	h.base, h.cancel = context.WithCancel(context.Background())
}

// wait cancels the requests still running and waits, until ctx is done,
// for their handlers to return.
func (h *httpServing) wait(ctx context.Context) error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// httpConn is a connection's HTTP state, owned by its event loop.
type httpConn struct {
	req        *http.Request // head read, body awaited
	headLen    int
	busy       bool // a response is being produced; input waits
	stalled    bool // the peer has not read MaxQueuedBytes of responses; input waits
	idle       bool // between requests: the next byte starts a head deadline
	closeAfter bool // the server is shutting down: close after the response
	seq        uint64
	cancel     context.CancelFunc // the running request's
}

// serveHTTP reads plain HTTP requests at the start of buf, for a server
// with an HTTPHandler. It returns the bytes used and false when buf starts
// with a complete WebSocket upgrade request, which upgrade answers.
func (c *Conn) serveHTTP(buf []byte) (int, bool) {
	cfg := &c.srv.cfg
	st := c.http
	if st != nil && st.stalled && c.gc.OutboundBuffered() < cfg.MaxQueuedBytes/2 {
		st.stalled = false
	}
	if st != nil && (st.busy || st.stalled) {
		if len(buf) > cfg.MaxHeaderBytes+int(cfg.MaxHTTPBodyBytes) {
			c.closeErr = errHTTPBacklog
			c.closeNow()
		}
		return 0, true
	}
	if st != nil && st.idle && len(buf) > 0 {
		st.idle = false
		c.deadline = c.loop.now + int64(cfg.HandshakeTimeout)
	}
	if st == nil || st.req == nil {
		n, req, upgrade, rej := readHTTPHead(buf, cfg.MaxHeaderBytes, cfg.MaxHTTPBodyBytes)
		switch {
		case rej != nil:
			c.reject(rej)
			return n, true
		case upgrade:
			return 0, false
		case req == nil:
			return 0, true // incomplete
		}
		if st == nil {
			st = &httpConn{}
			c.http = st
		}
		st.req, st.headLen = req, n
		if req.ContentLength > 0 && len(buf) < n+int(req.ContentLength) {
			c.deadline = c.loop.now + int64(cfg.HandshakeTimeout) // the body's turn
			if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
				c.write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
				if !c.alive() {
					return 0, true
				}
			}
		}
	}
	end := st.headLen + int(st.req.ContentLength)
	if len(buf) < end {
		return 0, true
	}
	c.startHTTP(st, buf[st.headLen:end])
	return end, true
}

// readHTTPHead reads the request head at the start of buf: it returns its
// length and the request, with its ContentLength checked against maxBody
// (its Body is not set); or upgrade, for a WebSocket upgrade request; or the
// refusal; or nothing while the head is incomplete. The head may be at most
// maxHead bytes before its final blank line.
func readHTTPHead(buf []byte, maxHead int, maxBody int64) (n int, req *http.Request, upgrade bool, rej *wsproto.RejectError) {
	if !methodPrefix(buf) {
		return 0, nil, false, badHTTP("expected an HTTP request")
	}
	n = wsproto.RequestHeadLength(buf[:min(len(buf), maxHead+len("\r\n\r\n"))])
	if n < 0 {
		if len(buf) >= maxHead {
			return 0, nil, false, &wsproto.RejectError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head too large"}
		}
		return 0, nil, false, nil
	}
	head := buf[:n]
	if isUpgrade(head) {
		return n, nil, true, nil
	}
	rd := bytes.NewReader(head)
	br := bufio.NewReaderSize(rd, len(head))
	req, err := http.ReadRequest(br)
	switch {
	case err != nil:
		reason := err.Error()
		if len(reason) > 200 {
			reason = reason[:200]
		}
		return n, nil, false, badHTTP("malformed request: " + strings.ToValidUTF8(reason, "?"))
	case br.Buffered() > 0 || rd.Len() > 0:
		return n, nil, false, badHTTP("malformed request: a line ends without CR")
	case req.ProtoMajor != 1:
		return n, nil, false, &wsproto.RejectError{Status: http.StatusHTTPVersionNotSupported, Reason: "only HTTP/1.x is served here"}
	case req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect:
		return n, nil, false, badHTTP("missing Host header")
	case req.ContentLength < 0 || len(req.TransferEncoding) > 0:
		return n, nil, false, &wsproto.RejectError{Status: http.StatusLengthRequired, Reason: "chunked request bodies are not accepted: send Content-Length"}
	case req.ContentLength > maxBody:
		return n, nil, false, &wsproto.RejectError{Status: http.StatusRequestEntityTooLarge, Reason: "request body larger than " + strconv.FormatInt(maxBody, 10) + " bytes"}
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return n, nil, false, &wsproto.RejectError{Status: http.StatusExpectationFailed, Reason: "unsupported Expect"}
	}
	delete(req.Header, "Host") // as net/http's server does: it is in req.Host
	return n, req, false, nil
}

func badHTTP(reason string) *wsproto.RejectError {
	return &wsproto.RejectError{Status: http.StatusBadRequest, Reason: reason}
}

// maxMethod is the longest request method methodPrefix accepts.
const maxMethod = 20

// methodPrefix reports whether buf may start an HTTP request: a method
// token of at most maxMethod characters, then a space.
func methodPrefix(buf []byte) bool {
	for i, ch := range buf[:min(len(buf), maxMethod+1)] {
		switch {
		case ch == ' ':
			return i > 0
		case !isTokenChar(ch):
			return false
		}
	}
	return len(buf) <= maxMethod
}

func isTokenChar(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0
}

// isUpgrade reports whether a request head asks for a WebSocket: an
// Upgrade header offering "websocket". wsproto.Handshake validates the rest.
func isUpgrade(head []byte) bool {
	_, lines, _ := bytes.Cut(head, []byte("\r\n"))
	for len(lines) > 0 {
		var line []byte
		line, lines, _ = bytes.Cut(lines, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(name, []byte("Upgrade")) {
			continue
		}
		for t := range bytes.SplitSeq(value, []byte(",")) {
			if bytes.EqualFold(bytes.Trim(t, " \t"), []byte("websocket")) {
				return true
			}
		}
	}
	return false
}

// startHTTP hands a complete request to the handler, or answers 503 when
// MaxHTTPConcurrency handlers are running. body is in c's input: copied.
func (c *Conn) startHTTP(st *httpConn, body []byte) {
	s := c.srv
	req := st.req
	st.req = nil
	st.busy = true
	st.seq++
	c.deadline = math.MaxInt64 // the handler's time is its own; closing cancels it
	done := &httpDone{c: c, st: st, seq: st.seq, close: req.Close}

	ip, src := s.trusted.clientIP(c.clientIP, c.ipSource, req.Header)
	remote := netip.AddrPortFrom(ip, 0)
	if ip == c.remote.Addr() {
		remote = c.remote
	}
	req.RemoteAddr = remote.String()
	req.TLS = c.TLSState()
	req.Body = http.NoBody
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(body)))
	}

	select {
	case s.http.sem <- struct{}{}:
	default:
		w := newResponseWriter(0)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests in progress", http.StatusServiceUnavailable)
		done.head, done.body, _ = w.finish(req)
		// Written by a task, as a handler's response is: never from inside
		// the read that is still using c's input.
		if err := c.loop.el.Execute(context.Background(), done); err != nil {
			c.closeNow()
		}
		return
	}
	ctx, cancel := context.WithCancel(s.http.base)
	ctx = context.WithValue(ctx, httpClientKey{}, HTTPClient{Peer: c.remote, IP: ip, IPSource: src})
	st.cancel = cancel
	s.http.wg.Add(1)
	go s.runHTTP(done, req.WithContext(ctx), cancel)
}

// runHTTP runs the handler for one request on its own goroutine and hands
// the response to the connection's event loop.
func (s *Server) runHTTP(done *httpDone, req *http.Request, cancel context.CancelFunc) {
	defer s.http.wg.Done()
	w := newResponseWriter(s.cfg.MaxQueuedBytes)
	abort := s.callHandler(w, req)
	cancel()
	<-s.http.sem
	switch {
	case abort:
		done.abort = true
	case w.tooLarge:
		s.log.Error("http response too large", "method", req.Method, "uri", req.RequestURI, "limit", s.cfg.MaxQueuedBytes)
		w = newResponseWriter(0)
		http.Error(w, "response too large", http.StatusInternalServerError)
		done.close = true
	}
	var closeAsked bool
	done.head, done.body, closeAsked = w.finish(req)
	s.log.Debug("http request", "method", req.Method, "uri", req.RequestURI, "status", w.status,
		"bytes_out", len(done.body), "client_ip", req.RemoteAddr)
	done.close = done.close || closeAsked
	if err := done.c.loop.el.Execute(context.Background(), done); err != nil {
		return // the server has stopped: the connection is gone
	}
}

// callHandler runs the handler, recovering a panic as net/http does: a
// panic with http.ErrAbortHandler drops the connection silently, any other
// is logged and answered with 500. It reports whether to drop the
// connection without a response.
func (s *Server) callHandler(w *responseWriter, req *http.Request) (abort bool) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			abort = true
			return
		}
		s.log.Error("http handler panic", "method", req.Method, "uri", req.RequestURI,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*w = *newResponseWriter(0)
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}()
	s.cfg.HTTPHandler.ServeHTTP(w, req)
	return false
}

// httpDone writes a response on the connection's event loop and reads the
// next request, if one is waiting.
type httpDone struct {
	c     *Conn
	st    *httpConn
	seq   uint64
	head  []byte // status line and header fields, without the blank line
	body  []byte
	close bool // close the connection after the response
	abort bool // close the connection without a response
}

func (t *httpDone) Run(context.Context) error {
	c, st := t.c, t.st
	if !c.alive() || c.http != st || !st.busy || st.seq != t.seq {
		return nil
	}
	c.enter()
	defer c.exit()
	st.busy = false
	if st.cancel != nil {
		st.cancel()
		st.cancel = nil
	}
	if t.abort {
		c.closeNow()
		return nil
	}
	closing := t.close || st.closeAfter || c.srv.draining.Load()
	if closing {
		t.head = append(t.head, "Connection: close\r\n"...)
	}
	t.head = append(t.head, "\r\n"...)
	if len(t.body) <= 16<<10 { // one write, one segment, for the usual small answer
		t.head, t.body = append(t.head, t.body...), nil
	}
	c.write(t.head)
	if len(t.body) > 0 && c.alive() {
		c.write(t.body)
	}
	if !c.alive() {
		return nil
	}
	if closing {
		c.linger()
		return nil
	}
	st.idle = true
	c.deadline = c.loop.now + int64(c.srv.cfg.HTTPIdleTimeout)
	if pending := c.gc.OutboundBuffered(); pending >= c.srv.cfg.MaxQueuedBytes {
		// A peer that pipelines requests without reading the answers:
		// the next waits until the sweep sees the output drained.
		st.stalled = true
		c.wire.Store(int64(pending))
		return nil
	}
	c.resumeHTTP()
	return nil
}

// resumeHTTP reads a pipelined request that waited for the response
// before it, or for the peer to read. Called on the loop, c entered, from
// httpDone and from the timer sweep.
func (c *Conn) resumeHTTP() {
	if st := c.http; st.stalled {
		if c.gc.OutboundBuffered() >= c.srv.cfg.MaxQueuedBytes/2 {
			return
		}
		st.stalled = false
	}
	if c.in != nil && len(c.in.B) > 0 && c.state == stateUpgrading {
		c.receive(nil)
	}
}

// shutdownHTTP is Shutdown's drain for a connection in stateUpgrading: it
// reports whether c has a response in the making, which closes c once
// written; otherwise the caller closes c.
func (c *Conn) shutdownHTTP() bool {
	if c.http == nil || !c.http.busy {
		return false
	}
	c.http.closeAfter = true
	return true
}

// releaseHTTP cancels the request of a connection that is gone.
func (c *Conn) releaseHTTP() {
	if c.http != nil && c.http.cancel != nil {
		c.http.cancel()
		c.http.cancel = nil
	}
}

// responseWriter buffers a response for the event loop, up to limit bytes
// of body (0: none). It implements http.ResponseWriter only: no Flusher, no
// Hijacker.
type responseWriter struct {
	header   http.Header
	sent     http.Header // header as of WriteHeader
	status   int
	body     []byte
	limit    int
	tooLarge bool
}

func newResponseWriter(limit int) *responseWriter {
	if limit <= 0 {
		limit = 64 << 10 // the engine's own short answers
	}
	return &responseWriter{header: make(http.Header), limit: limit}
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader sets the status; informational (1xx) statuses are ignored,
// and so are later calls.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	w.sent = w.header.Clone()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(w.body)+len(p) > w.limit {
		w.tooLarge = true
		return 0, ErrResponseTooLarge
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// finish returns the response's status line and header fields, without
// the final blank line, and its body, and whether the handler asked to
// close the connection.
func (w *responseWriter) finish(req *http.Request) (head, body []byte, closing bool) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	h := w.sent
	closing = hasConnToken(h["Connection"], "close")
	h.Del("Connection")
	h.Del("Transfer-Encoding")
	body = w.body
	switch {
	case !bodyAllowed(w.status):
		h.Del("Content-Length")
		body = nil
	case req.Method == http.MethodHead:
		if h.Get("Content-Length") == "" && len(body) > 0 {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		body = nil
	default:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
			h.Set("Content-Type", http.DetectContentType(body))
		}
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	text := http.StatusText(w.status)
	if text == "" {
		text = "status code " + strconv.Itoa(w.status)
	}
	var b bytes.Buffer
	b.Grow(256)
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", w.status, text)
	_ = h.Write(&b) // drops invalid names, turns line breaks in values into spaces
	return b.Bytes(), body, closing
}

func hasConnToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
