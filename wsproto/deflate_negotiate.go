package wsproto

import (
	"strconv"
	"strings"
)

// DeflateParams are the parameters of a negotiated permessage-deflate
// extension (RFC 7692 section 7.1), as the server's answer states them.
type DeflateParams struct {
	// ServerNoContextTakeover: the server compresses each message on its
	// own, holding no compression state between messages.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client does the same, so the server's
	// inflater keeps no window between messages.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits bounds the distance of the server's back
	// references to 2^bits bytes (8 to 15); 0 when the offer did not ask,
	// meaning 15.
	ServerMaxWindowBits int
	// ClientMaxWindowBits is the window the client was told to use (8 to
	// 15); 0 when its offer did not mention client_max_window_bits, so
	// that it was not answered and the client uses 15.
	ClientMaxWindowBits int
}

// ServerWindow returns the size of the window the server may refer back into.
func (p DeflateParams) ServerWindow() int { return windowSize(p.ServerMaxWindowBits) }

// ClientWindow returns the size of the window the client may refer back
// into: what an inflater must keep between messages when the client keeps
// its context.
func (p DeflateParams) ClientWindow() int { return windowSize(p.ClientMaxWindowBits) }

func windowSize(bits int) int {
	if bits == 0 {
		bits = 15
	}
	return 1 << bits
}

// String returns the extension as the server's Sec-WebSocket-Extensions
// answer spells it.
func (p DeflateParams) String() string {
	b := make([]byte, 0, 96)
	b = append(b, "permessage-deflate"...)
	if p.ServerNoContextTakeover {
		b = append(b, "; server_no_context_takeover"...)
	}
	if p.ClientNoContextTakeover {
		b = append(b, "; client_no_context_takeover"...)
	}
	if p.ServerMaxWindowBits != 0 {
		b = append(b, "; server_max_window_bits="...)
		b = strconv.AppendInt(b, int64(p.ServerMaxWindowBits), 10)
	}
	if p.ClientMaxWindowBits != 0 {
		b = append(b, "; client_max_window_bits="...)
		b = strconv.AppendInt(b, int64(p.ClientMaxWindowBits), 10)
	}
	return string(b)
}

// DeflatePolicy is what a server accepts of a client's permessage-deflate
// offers.
type DeflatePolicy struct {
	// ServerContextTakeover lets the server keep its compression context
	// between messages when the client allows it: better compression of
	// similar messages, at the cost of a window held per connection. When
	// false, every answer says server_no_context_takeover.
	ServerContextTakeover bool
	// ClientMaxWindowBits (8 to 15; 0 means 15) is the window asked of a
	// client that offers client_max_window_bits: it bounds what the
	// server's inflater keeps per connection while the client keeps its
	// context. A client that does not offer the parameter uses 15 bits.
	// 8 is asked as 9, which zlib can do, unless the client offered 8.
	ClientMaxWindowBits int
	// RequireClientNoContextTakeover declines offers in which the client
	// keeps its context, so that no connection holds an inflater window.
	// Browsers do not offer client_no_context_takeover: with this set they
	// get no compression at all.
	RequireClientNoContextTakeover bool
}

// NegotiateDeflate chooses the first permessage-deflate offer in the
// Sec-WebSocket-Extensions values (one per header line, as
// [Request.Extensions] holds them) that is valid under RFC 7692 and
// acceptable under policy. An offer with an unknown, repeated or malformed
// parameter is declined and the next one considered; ok is false when none
// is left, and the connection proceeds without compression. Other
// extensions are ignored.
func NegotiateDeflate(values []string, policy DeflatePolicy) (p DeflateParams, ok bool) {
	for _, v := range values {
		var found bool
		scanExtensions(v, func(name string, params []extParam) bool {
			if !strings.EqualFold(name, "permessage-deflate") {
				return true
			}
			p, found = acceptDeflate(params, policy)
			return !found
		})
		if found {
			return p, true
		}
	}
	return DeflateParams{}, false
}

// acceptDeflate answers one permessage-deflate offer, or declines it.
func acceptDeflate(params []extParam, policy DeflatePolicy) (DeflateParams, bool) {
	var p DeflateParams
	var seen [4]bool
	clientBits := -1 // not offered
	for _, prm := range params {
		i := -1
		switch {
		case strings.EqualFold(prm.name, "server_no_context_takeover"):
			i = 0
			p.ServerNoContextTakeover = true
			if prm.hasValue {
				return p, false
			}
		case strings.EqualFold(prm.name, "client_no_context_takeover"):
			i = 1
			p.ClientNoContextTakeover = true
			if prm.hasValue {
				return p, false
			}
		case strings.EqualFold(prm.name, "server_max_window_bits"):
			i = 2
			bits, ok := windowBits(prm.value)
			if !prm.hasValue || !ok {
				return p, false
			}
			p.ServerMaxWindowBits = bits
		case strings.EqualFold(prm.name, "client_max_window_bits"):
			i = 3
			clientBits = 15
			if prm.hasValue {
				bits, ok := windowBits(prm.value)
				if !ok {
					return p, false
				}
				clientBits = bits
			}
		default:
			return p, false
		}
		if seen[i] {
			return p, false
		}
		seen[i] = true
	}
	if policy.RequireClientNoContextTakeover && !p.ClientNoContextTakeover {
		return p, false
	}
	if !policy.ServerContextTakeover {
		p.ServerNoContextTakeover = true
	}
	if clientBits > 0 {
		want := policy.ClientMaxWindowBits
		if want < 8 || want > 15 {
			want = 15
		}
		// zlib, which most clients compress with, cannot use a window of
		// 2^8 (Python's websockets fails the connection when asked to),
		// and the Inflater keeps 2^9 anyway: ask for 9 unless the client
		// offered 8 itself.
		p.ClientMaxWindowBits = min(clientBits, max(want, 9))
	}
	return p, true
}

// windowBits parses a max_window_bits value: a decimal from 8 to 15 without
// leading zeros.
func windowBits(v string) (int, bool) {
	switch {
	case len(v) == 1 && v[0] == '8', len(v) == 1 && v[0] == '9':
		return int(v[0] - '0'), true
	case len(v) == 2 && v[0] == '1' && '0' <= v[1] && v[1] <= '5':
		return 10 + int(v[1]-'0'), true
	}
	return 0, false
}

// extParam is one parameter of an extension offer; value is unquoted.
type extParam struct {
	name, value string
	hasValue    bool
}

// scanExtensions calls f with each extension of a Sec-WebSocket-Extensions
// value (RFC 6455 section 9.1) until f returns false. A value that does not
// follow the grammar stops the scan at the first malformed extension: its
// offers cannot be told apart from what follows.
func scanExtensions(v string, f func(name string, params []extParam) bool) {
	var params []extParam
	s := extScanner{s: v}
	for {
		s.space()
		if s.done() {
			return
		}
		if s.peek() == ',' { // empty list elements are allowed (RFC 7230 section 7)
			s.i++
			continue
		}
		name := s.token()
		if name == "" {
			return
		}
		params = params[:0]
		for {
			s.space()
			if s.done() || s.peek() == ',' {
				break
			}
			if s.peek() != ';' {
				return
			}
			s.i++
			s.space()
			prm := extParam{name: s.token()}
			if prm.name == "" {
				return
			}
			s.space()
			if !s.done() && s.peek() == '=' {
				s.i++
				s.space()
				var ok bool
				prm.value, ok = s.value()
				if !ok {
					return
				}
				prm.hasValue = true
			}
			params = append(params, prm)
		}
		if !f(name, params) {
			return
		}
	}
}

type extScanner struct {
	s string
	i int
}

func (s *extScanner) done() bool { return s.i >= len(s.s) }
func (s *extScanner) peek() byte { return s.s[s.i] }

func (s *extScanner) space() {
	for s.i < len(s.s) && (s.s[s.i] == ' ' || s.s[s.i] == '\t') {
		s.i++
	}
}

func (s *extScanner) token() string {
	start := s.i
	for s.i < len(s.s) && isTokenChar(s.s[s.i]) {
		s.i++
	}
	return s.s[start:s.i]
}

// value reads a token or a quoted string whose content, unquoted, must be a
// token (RFC 6455 section 9.1).
func (s *extScanner) value() (string, bool) {
	if s.done() {
		return "", false
	}
	if s.peek() != '"' {
		t := s.token()
		return t, t != ""
	}
	s.i++
	var b []byte
	for s.i < len(s.s) {
		c := s.s[s.i]
		s.i++
		switch {
		case c == '"':
			return string(b), len(b) > 0
		case c == '\\':
			if s.i >= len(s.s) {
				return "", false
			}
			c = s.s[s.i]
			s.i++
		}
		if !isTokenChar(c) {
			return "", false
		}
		b = append(b, c)
	}
	return "", false
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
