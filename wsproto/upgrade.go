package wsproto

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gobwas/ws"
)

// DefaultMaxHeadSize is the largest request head accepted when the caller
// sets no other bound.
const DefaultMaxHeadSize = 8 << 10

var headEnd = []byte("\r\n\r\n")

// RequestHeadLength returns the length of the HTTP request head at the start
// of b, up to and including the blank line that ends it, or -1 when b does not
// hold all of it yet. Bytes after the head belong to the WebSocket stream.
func RequestHeadLength(b []byte) int {
	i := bytes.Index(b, headEnd)
	if i < 0 {
		return -1
	}
	return i + len(headEnd)
}

// Request is what a client's opening handshake asked for, and what the
// server answers besides the 101 status.
type Request struct {
	Method   string
	URI      string // as sent on the request line
	Path     string // decoded path of URI
	RawQuery string // query of URI, without '?'
	Host     string
	// Header holds the request's header fields except those the handshake
	// itself consumes: Host, Upgrade, Connection and Sec-WebSocket-Key,
	// -Version, -Protocol and -Extensions.
	Header http.Header
	// Protocols lists the subprotocols the client offered, in its order.
	Protocols []string

	// Subprotocol, when set by the accept function, must be one of
	// Protocols; it is sent in Sec-WebSocket-Protocol.
	Subprotocol string
	// ResponseHeader holds extra header fields for the 101 response.
	ResponseHeader http.Header
}

// Query parses RawQuery.
func (r *Request) Query() url.Values {
	v, _ := url.ParseQuery(r.RawQuery)
	return v
}

// RejectError refuses a handshake with an HTTP status. It is returned by
// [Handshake] for malformed requests, and may be returned by its accept
// function to refuse a valid one.
type RejectError struct {
	Status int
	Reason string      // response body; http.StatusText(Status) when empty
	Header http.Header // extra response header fields
}

func (e *RejectError) Error() string {
	r := e.Reason
	if r == "" {
		r = http.StatusText(e.Status)
	}
	return "wsproto: handshake rejected with " + strconv.Itoa(e.Status) + ": " + r
}

// Handshake rejections for malformed requests, by cause.
var (
	// ErrBadMethod: the request method is not GET.
	ErrBadMethod = &RejectError{Status: http.StatusBadRequest, Reason: "WebSocket handshake must use GET"}
	// ErrBadHTTPVersion: the request is not HTTP/1.1 (or a later 1.x).
	ErrBadHTTPVersion = &RejectError{Status: http.StatusBadRequest, Reason: "WebSocket handshake must use HTTP/1.1"}
	// ErrBadVersion: Sec-WebSocket-Version is not 13.
	ErrBadVersion = &RejectError{
		Status: http.StatusUpgradeRequired,
		Reason: "unsupported Sec-WebSocket-Version",
		Header: http.Header{"Sec-Websocket-Version": {"13"}},
	}
	// ErrBadSubprotocol: the accept function chose a subprotocol the client did not offer.
	ErrBadSubprotocol = errors.New("wsproto: chosen subprotocol was not offered by the client")
)

// Handshake validates the opening handshake in head (exactly the bytes
// [RequestHeadLength] measured) with gobwas/ws's Upgrader and appends the
// server's response to dst.
//
// For a well-formed request it calls accept, if not nil, with the parsed
// request; accept may set r.Subprotocol and r.ResponseHeader, or return an
// error to refuse: a *RejectError chooses the HTTP status, any other error
// is answered with 403. On success the response is a 101 and err is nil; on
// refusal the response is an HTTP error that says why, and err is the
// *RejectError.
func Handshake(dst, head []byte, accept func(r *Request) error) (resp []byte, r *Request, err error) {
	h := handshakers.Get().(*handshaker)
	defer func() {
		h.reset()
		handshakers.Put(h)
	}()
	r = &Request{}
	h.req = r
	h.head.Reset(head)
	h.accept = accept

	if err := checkRequestLine(head); err != nil {
		return AppendReject(dst, err), r, err
	}
	_, err = h.up.Upgrade(&h.rw)
	if err != nil {
		rej := asReject(err)
		return AppendReject(dst, rej), r, rej
	}
	return append(dst, h.out.Bytes()...), r, nil
}

// checkRequestLine answers method and version errors with 400, where
// gobwas/ws would answer 405 and 505.
func checkRequestLine(head []byte) *RejectError {
	line := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		line = bytes.TrimRight(head[:i], "\r")
	}
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	_, proto, ok2 := bytes.Cut(rest, []byte(" "))
	switch {
	case !ok1 || !ok2:
		return &RejectError{Status: http.StatusBadRequest, Reason: "malformed request line"}
	case string(method) != http.MethodGet:
		return ErrBadMethod
	case !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(proto) != len("HTTP/1.1") || proto[7] < '1' || proto[7] > '9':
		return ErrBadHTTPVersion
	}
	return nil
}

func asReject(err error) *RejectError {
	var rej *RejectError
	if errors.As(err, &rej) {
		return rej
	}
	if errors.Is(err, ws.ErrHandshakeUpgradeRequired) {
		return ErrBadVersion
	}
	var wsrej *ws.ConnectionRejectedError
	if errors.As(err, &wsrej) {
		return &RejectError{Status: wsrej.StatusCode(), Reason: strings.TrimPrefix(wsrej.Error(), "handshake error: ")}
	}
	if errors.Is(err, ErrBadSubprotocol) {
		return &RejectError{Status: http.StatusInternalServerError, Reason: "server chose a subprotocol the client did not offer"}
	}
	return &RejectError{Status: http.StatusBadRequest, Reason: "malformed WebSocket handshake request"}
}

// AppendReject appends a complete HTTP error response for rej to dst. The
// response closes the connection and its plain-text body says why.
func AppendReject(dst []byte, rej *RejectError) []byte {
	body := rej.Reason
	if body == "" {
		body = http.StatusText(rej.Status)
	}
	body += "\n"
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(rej.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(rej.Status)...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	dst = appendHeader(dst, rej.Header)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// appendHeader appends header fields, dropping any whose name or value
// could break out of its line.
func appendHeader(dst []byte, h http.Header) []byte {
	for k, vs := range h {
		if strings.ContainsAny(k, "\r\n: ") {
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				continue
			}
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst
}

// handshaker carries one handshake through gobwas/ws's Upgrader, whose hooks
// are bound once to the pooled value.
type handshaker struct {
	up   ws.Upgrader
	head bytes.Reader
	out  bytes.Buffer
	rw   struct {
		io.Reader
		io.Writer
	}
	req    *Request
	accept func(*Request) error
}

var handshakers = sync.Pool{New: func() any {
	h := &handshaker{}
	h.rw.Reader, h.rw.Writer = &h.head, &h.out
	h.up = ws.Upgrader{
		ReadBufferSize:  DefaultMaxHeadSize,
		OnRequest:       h.onRequest,
		OnHost:          h.onHost,
		OnHeader:        h.onHeader,
		ProtocolCustom:  h.onProtocol,
		OnBeforeUpgrade: h.onBeforeUpgrade,
	}
	return h
}}

func (h *handshaker) reset() {
	h.req, h.accept = nil, nil
	h.out.Reset()
	h.head.Reset(nil)
}

func (h *handshaker) onRequest(uri []byte) error {
	h.req.Method = http.MethodGet // checkRequestLine let nothing else through
	h.req.URI = string(uri)
	u, err := url.ParseRequestURI(h.req.URI)
	if err != nil {
		return ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest), ws.RejectionReason("handshake error: malformed request URI"))
	}
	h.req.Path, h.req.RawQuery = u.Path, u.RawQuery
	return nil
}

func (h *handshaker) onHost(host []byte) error {
	h.req.Host = string(host)
	return nil
}

func (h *handshaker) onHeader(key, value []byte) error {
	if h.req.Header == nil {
		h.req.Header = make(http.Header, 8)
	}
	k := string(key) // gobwas/ws hands keys over in canonical form
	h.req.Header[k] = append(h.req.Header[k], string(value))
	return nil
}

func (h *handshaker) onProtocol(v []byte) (string, bool) {
	for p := range strings.SplitSeq(string(v), ",") {
		if p = strings.TrimSpace(p); p != "" {
			h.req.Protocols = append(h.req.Protocols, p)
		}
	}
	return "", true // the choice is made in onBeforeUpgrade
}

func (h *handshaker) onBeforeUpgrade() (ws.HandshakeHeader, error) {
	r := h.req
	if h.accept != nil {
		if err := h.accept(r); err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) {
				rej = &RejectError{Status: http.StatusForbidden} // the reason stays private
			}
			return nil, rej
		}
	}
	var extra []byte
	if r.Subprotocol != "" {
		offered := false
		for _, p := range r.Protocols {
			offered = offered || p == r.Subprotocol
		}
		if !offered {
			return nil, ErrBadSubprotocol
		}
		extra = append(extra, "Sec-WebSocket-Protocol: "...)
		extra = append(extra, r.Subprotocol...)
		extra = append(extra, "\r\n"...)
	}
	extra = appendHeader(extra, r.ResponseHeader)
	return ws.HandshakeHeaderBytes(extra), nil
}
