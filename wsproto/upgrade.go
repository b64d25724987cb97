package wsproto

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	// Extensions holds the Sec-WebSocket-Extensions values the client
	// sent, one per header line, unparsed ([NegotiateDeflate] reads them).
	Extensions []string

	// Subprotocol, when set by the accept function, must be one of
	// Protocols; it is sent in Sec-WebSocket-Protocol.
	Subprotocol string
	// Extension, when set by the accept function, is sent in
	// Sec-WebSocket-Extensions: the extensions accepted, with their
	// parameters (see [DeflateParams.String]).
	Extension string
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
)

// Handshake validates the opening handshake in head (exactly the bytes
// [RequestHeadLength] measured) as RFC 6455 section 4.2.1 and RFC 7230
// describe it, and appends the server's response to dst.
//
// Header lists are read as RFC 7230 section 7 defines them: Connection may
// list other options besides "upgrade" and be split over several lines,
// Upgrade may offer other protocols besides "websocket". What must appear
// once does: a second Host, Sec-WebSocket-Key or Sec-WebSocket-Version line
// is refused, as is a key that is not the base64 encoding of 16 bytes.
//
// For a well-formed request it calls accept, if not nil, with the parsed
// request; accept may set r.Subprotocol and r.ResponseHeader, or return an
// error to refuse: a *RejectError chooses the HTTP status, any other error
// is answered with 403. On success the response is a 101 and err is nil; on
// refusal the response is an HTTP error that says why, and err is the
// *RejectError.
func Handshake(dst, head []byte, accept func(r *Request) error) (resp []byte, r *Request, err error) {
	r = &Request{}
	key, rej := parseRequest(r, head)
	if rej == nil && accept != nil {
		if err := accept(r); err != nil {
			if !errors.As(err, &rej) {
				rej = &RejectError{Status: http.StatusForbidden} // the reason stays private
			}
		}
	}
	if rej == nil && r.Subprotocol != "" && !slices.Contains(r.Protocols, r.Subprotocol) {
		rej = &RejectError{Status: http.StatusInternalServerError, Reason: "server chose a subprotocol the client did not offer"}
	}
	if rej != nil {
		return AppendReject(dst, rej), r, rej
	}
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = appendAccept(dst, key)
	dst = append(dst, "\r\n"...)
	if r.Subprotocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, r.Subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	if r.Extension != "" && !strings.ContainsAny(r.Extension, "\r\n") {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, r.Extension...)
		dst = append(dst, "\r\n"...)
	}
	dst = appendHeader(dst, r.ResponseHeader)
	return append(dst, "\r\n"...), r, nil
}

// acceptGUID is the GUID of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// appendAccept appends the Sec-WebSocket-Accept value for key.
func appendAccept(dst []byte, key string) []byte {
	var buf [24 + len(acceptGUID)]byte // a valid key has 24 characters
	sum := sha1.Sum(append(append(buf[:0], key...), acceptGUID...))
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// Reasons of the 400 answers to malformed handshakes.
const (
	reasonIncomplete   = "incomplete request head"
	reasonURI          = "malformed request URI"
	reasonHeaderLine   = "malformed header line"
	reasonFolded       = "obsolete line folding in a header"
	reasonHost         = "missing Host header"
	reasonHostTwice    = "more than one Host header"
	reasonUpgrade      = "Upgrade header does not offer websocket"
	reasonConnection   = "Connection header does not list upgrade"
	reasonVersion      = "missing Sec-WebSocket-Version header"
	reasonVersionTwice = "more than one Sec-WebSocket-Version header"
	reasonKey          = "missing Sec-WebSocket-Key header"
	reasonKeyTwice     = "more than one Sec-WebSocket-Key header"
	reasonKeyBad       = "Sec-WebSocket-Key is not the base64 encoding of 16 bytes"
)

func badRequest(reason string) *RejectError {
	return &RejectError{Status: http.StatusBadRequest, Reason: reason}
}

// parseRequest reads head into r and returns the Sec-WebSocket-Key, or why
// the request is refused.
func parseRequest(r *Request, head []byte) (key string, rej *RejectError) {
	if rej := checkRequestLine(head); rej != nil {
		return "", rej
	}
	if !bytes.HasSuffix(head, headEnd) {
		return "", badRequest(reasonIncomplete)
	}
	// One string for the whole head: the request's fields are parts of it.
	text := string(head[:len(head)-len(headEnd)+len("\r\n")])
	requestLine, lines, _ := strings.Cut(text, "\r\n")
	for i := 0; i < len(text); i++ {
		if c := text[i]; (c < ' ' && c != '\t' || c == 0x7f) && !(c == '\r' && text[i+1] == '\n' || c == '\n' && text[i-1] == '\r') {
			return "", badRequest(reasonHeaderLine) // a bare CR or LF, NUL, DEL...
		}
	}
	_, rest, _ := strings.Cut(requestLine, " ")
	r.Method = http.MethodGet // checkRequestLine let nothing else through
	r.URI, _, _ = strings.Cut(rest, " ")
	u, err := url.ParseRequestURI(r.URI)
	if err != nil {
		return "", badRequest(reasonURI)
	}
	r.Path, r.RawQuery = u.Path, u.RawQuery

	var hosts, keys, versions int
	var upgrade, connection bool
	var version string
	for lines != "" {
		var line string
		line, lines, _ = strings.Cut(lines, "\r\n")
		if line == "" {
			return "", badRequest(reasonHeaderLine)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "", badRequest(reasonFolded) // RFC 7230 section 3.2.4
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) {
			return "", badRequest(reasonHeaderLine)
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Host"):
			hosts++
			r.Host = value
		case strings.EqualFold(name, "Upgrade"):
			upgrade = upgrade || hasToken(value, "websocket")
		case strings.EqualFold(name, "Connection"):
			connection = connection || hasToken(value, "upgrade")
		case strings.EqualFold(name, "Sec-WebSocket-Version"):
			versions++
			version = value
		case strings.EqualFold(name, "Sec-WebSocket-Key"):
			keys++
			key = value
		case strings.EqualFold(name, "Sec-WebSocket-Protocol"):
			for p := range strings.SplitSeq(value, ",") {
				if p = strings.Trim(p, " \t"); p != "" {
					r.Protocols = append(r.Protocols, p)
				}
			}
		case strings.EqualFold(name, "Sec-WebSocket-Extensions"):
			r.Extensions = append(r.Extensions, value)
		default:
			if r.Header == nil {
				r.Header = make(http.Header, 8)
			}
			name = textproto.CanonicalMIMEHeaderKey(name)
			r.Header[name] = append(r.Header[name], value)
		}
	}
	switch {
	case hosts == 0:
		return "", badRequest(reasonHost)
	case hosts > 1:
		return "", badRequest(reasonHostTwice)
	case !upgrade:
		return "", badRequest(reasonUpgrade)
	case !connection:
		return "", badRequest(reasonConnection)
	case versions == 0:
		return "", badRequest(reasonVersion)
	case versions > 1:
		return "", badRequest(reasonVersionTwice)
	case version != "13":
		return "", ErrBadVersion
	case keys == 0:
		return "", badRequest(reasonKey)
	case keys > 1:
		return "", badRequest(reasonKeyTwice)
	}
	if n, err := base64.StdEncoding.DecodeString(key); err != nil || len(n) != 16 {
		return "", badRequest(reasonKeyBad)
	}
	return key, nil
}

// hasToken reports whether the comma-separated list v (RFC 7230 section 7)
// has token, in any case. An Upgrade token may carry a version
// ("websocket/13" does not count as "websocket").
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}

// validHeaderName reports whether name is an RFC 7230 token: no spaces
// (none before the colon either, section 3.2.4), no separators.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

// checkRequestLine answers method and version errors with 400, where
// a generic parser would answer 405 and 505.
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
