package wsproto_test

import (
	"testing"

	"github.com/wssd/wssd/wsproto"
)

// negotiationCases are offers as clients send them, and malformed ones; they
// seed FuzzNegotiateDeflate too.
var negotiationCases = []struct {
	name   string
	offers []string
	policy wsproto.DeflatePolicy
	want   string // the answer; "" declines
}{
	// Browsers and libraries, as they offer by default.
	{"chrome", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
	{"firefox", []string{"permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"safari 15 and later", []string{"permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"safari before 15", []string{"x-webkit-deflate-frame"}, wsproto.DeflatePolicy{}, ""},
	{"node ws", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
	{"python websockets", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
	{"gorilla", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, wsproto.DeflatePolicy{ServerContextTakeover: true}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	{"autobahn several offers", []string{"permessage-deflate; client_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},

	// Policies.
	{"server keeps context", []string{"permessage-deflate"}, wsproto.DeflatePolicy{ServerContextTakeover: true}, "permessage-deflate"},
	{"client asks the server to reset", []string{"permessage-deflate; server_no_context_takeover"}, wsproto.DeflatePolicy{ServerContextTakeover: true}, "permessage-deflate; server_no_context_takeover"},
	{"client window narrowed", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{ClientMaxWindowBits: 10}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
	{"client's own window kept", []string{"permessage-deflate; client_max_window_bits=9"}, wsproto.DeflatePolicy{ClientMaxWindowBits: 12}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"},
	{"client window not offered, not answered", []string{"permessage-deflate"}, wsproto.DeflatePolicy{ClientMaxWindowBits: 10}, "permessage-deflate; server_no_context_takeover"},
	// zlib cannot compress with a window of 2^8 (Python's websockets fails
	// the connection when told to): a policy of 8 asks for 9.
	{"client window of 8 bits asked as 9", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{ClientMaxWindowBits: 8}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"},
	{"client offers 8 bits itself", []string{"permessage-deflate; client_max_window_bits=8"}, wsproto.DeflatePolicy{ClientMaxWindowBits: 8}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=8"},
	{"node ws window", []string{"permessage-deflate; server_max_window_bits=9; client_max_window_bits"}, wsproto.DeflatePolicy{ServerContextTakeover: true}, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=15"},
	{"client context refused", []string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{RequireClientNoContextTakeover: true}, ""},
	{"client context refused, fallback taken", []string{"permessage-deflate, permessage-deflate; client_no_context_takeover"}, wsproto.DeflatePolicy{RequireClientNoContextTakeover: true}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},

	// Syntax: case, spaces, quotes, several header lines.
	{"case insensitive", []string{"PerMessage-Deflate; Client_Max_Window_Bits"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
	{"tabs and spaces", []string{" \tpermessage-deflate \t;\t server_max_window_bits = 10 "}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"},
	{"quoted value", []string{`permessage-deflate; server_max_window_bits="10"`}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"},
	{"escaped quoted value", []string{`permessage-deflate; server_max_window_bits="1\1"`}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"},
	{"empty list elements", []string{", ,permessage-deflate,"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"other extension first", []string{"x-foo; a=b, permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"second header line", []string{"x-foo", "permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},

	// Invalid offers are declined, the next one taken.
	{"unknown parameter", []string{"permessage-deflate; foo"}, wsproto.DeflatePolicy{}, ""},
	{"unknown parameter then valid offer", []string{"permessage-deflate; foo, permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"repeated parameter", []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, wsproto.DeflatePolicy{}, ""},
	{"no-context flag with a value", []string{"permessage-deflate; server_no_context_takeover=1"}, wsproto.DeflatePolicy{}, ""},
	{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, wsproto.DeflatePolicy{}, ""},
	{"window 7", []string{"permessage-deflate; server_max_window_bits=7"}, wsproto.DeflatePolicy{}, ""},
	{"window 16", []string{"permessage-deflate; client_max_window_bits=16"}, wsproto.DeflatePolicy{}, ""},
	{"window with leading zero", []string{"permessage-deflate; client_max_window_bits=09"}, wsproto.DeflatePolicy{}, ""},
	{"empty quoted value", []string{`permessage-deflate; server_max_window_bits=""`}, wsproto.DeflatePolicy{}, ""},
	{"quoted value not a token", []string{`permessage-deflate; server_max_window_bits="1 0"`}, wsproto.DeflatePolicy{}, ""},
	{"unterminated quote", []string{`permessage-deflate; server_max_window_bits="10`}, wsproto.DeflatePolicy{}, ""},
	{"garbage stops the scan", []string{"permessage-deflate; =, permessage-deflate"}, wsproto.DeflatePolicy{}, ""},
	{"garbage line, valid line", []string{"@@@", "permessage-deflate"}, wsproto.DeflatePolicy{}, "permessage-deflate; server_no_context_takeover"},
	{"semicolon without parameter", []string{"permessage-deflate;"}, wsproto.DeflatePolicy{}, ""},
	{"nothing", nil, wsproto.DeflatePolicy{}, ""},
}

func TestNegotiateDeflate(t *testing.T) {
	for _, tc := range negotiationCases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := wsproto.NegotiateDeflate(tc.offers, tc.policy)
			got := ""
			if ok {
				got = p.String()
			}
			if got != tc.want {
				t.Fatalf("answer %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzNegotiateDeflate: whatever the offer, no panic, and an accepted offer
// is answered with parameters in range that the answer's own parse agrees
// with.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, tc := range negotiationCases {
		for _, o := range tc.offers {
			f.Add(o, tc.policy.ServerContextTakeover, uint8(tc.policy.ClientMaxWindowBits))
		}
	}
	f.Fuzz(func(t *testing.T, offer string, serverKeeps bool, clientBits uint8) {
		policy := wsproto.DeflatePolicy{ServerContextTakeover: serverKeeps, ClientMaxWindowBits: int(clientBits % 16)}
		p, ok := wsproto.NegotiateDeflate([]string{offer}, policy)
		if !ok {
			return
		}
		for _, bits := range []int{p.ServerMaxWindowBits, p.ClientMaxWindowBits} {
			if bits != 0 && (bits < 8 || bits > 15) {
				t.Fatalf("window bits %d in %q", bits, p)
			}
		}
		if !serverKeeps && !p.ServerNoContextTakeover {
			t.Fatalf("server keeps context against the policy: %q", p)
		}
		// The answer, taken as an offer, is answered by itself.
		again, ok := wsproto.NegotiateDeflate([]string{p.String()}, policy)
		if !ok || again != p {
			t.Fatalf("answer %q does not parse back (%q, %v)", p, again, ok)
		}
	})
}
