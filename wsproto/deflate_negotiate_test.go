package wsproto_test

import (
	"testing"

	"github.com/wssd/wssd/wsproto"
)

// negotiateCases are offers as clients send them, under server policies,
// and the answer each gets ("" when it is declined). They seed
// FuzzNegotiateDeflate.
var negotiateCases = []struct {
	name   string
	policy wsproto.DeflatePolicy
	offers []string
	want   string
}{
	{"chrome", wsproto.DeflatePolicy{}, []string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
	{"firefox", wsproto.DeflatePolicy{}, []string{"permessage-deflate"}, "permessage-deflate; server_no_context_takeover"},
	{"gorilla", wsproto.DeflatePolicy{ServerContextTakeover: true}, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	{"node ws window", wsproto.DeflatePolicy{ServerContextTakeover: true}, []string{"permessage-deflate; server_max_window_bits=9; client_max_window_bits"}, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=15"},
	{"autobahn three offers", wsproto.DeflatePolicy{}, []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_no_context_takeover; client_max_window_bits"}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15"},
	{"narrowed client window", wsproto.DeflatePolicy{ClientMaxWindowBits: 10}, []string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
	// zlib cannot compress with a window of 2^8 (Python's websockets fails
	// the connection when told to): a policy of 8 asks for 9.
	{"client window of 8 bits asked as 9", wsproto.DeflatePolicy{ClientMaxWindowBits: 8}, []string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"},
	{"client offers 8 bits itself", wsproto.DeflatePolicy{ClientMaxWindowBits: 8}, []string{"permessage-deflate; client_max_window_bits=8"}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=8"},
	{"quoted value", wsproto.DeflatePolicy{}, []string{`permessage-deflate; client_max_window_bits="10"`}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
	{"unknown parameter declined, next taken", wsproto.DeflatePolicy{}, []string{"permessage-deflate; foo, permessage-deflate"}, "permessage-deflate; server_no_context_takeover"},
	{"repeated parameter", wsproto.DeflatePolicy{}, []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, ""},
	{"window out of range", wsproto.DeflatePolicy{}, []string{"permessage-deflate; server_max_window_bits=16"}, ""},
	{"client context refused", wsproto.DeflatePolicy{RequireClientNoContextTakeover: true}, []string{"permessage-deflate; client_max_window_bits"}, ""},
	{"other extension", wsproto.DeflatePolicy{}, []string{"x-webkit-deflate-frame"}, ""},
}

func TestNegotiateDeflate(t *testing.T) {
	for _, tc := range negotiateCases {
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

// FuzzNegotiateDeflate negotiates arbitrary offers under each policy: it
// must not panic, an answer's windows are in range, and an answer, taken as
// an offer under the same policy, is answered by itself.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, tc := range negotiateCases {
		for _, o := range tc.offers {
			f.Add(o, tc.policy.ServerContextTakeover, tc.policy.ClientMaxWindowBits, tc.policy.RequireClientNoContextTakeover)
		}
	}
	f.Fuzz(func(t *testing.T, offer string, serverContext bool, clientBits int, requireNoContext bool) {
		policy := wsproto.DeflatePolicy{ServerContextTakeover: serverContext, ClientMaxWindowBits: clientBits, RequireClientNoContextTakeover: requireNoContext}
		p, ok := wsproto.NegotiateDeflate([]string{offer}, policy)
		if !ok {
			return
		}
		for _, bits := range []int{p.ServerMaxWindowBits, p.ClientMaxWindowBits} {
			if bits != 0 && (bits < 8 || bits > 15) {
				t.Fatalf("answer %q: window bits %d", p.String(), bits)
			}
		}
		again, ok := wsproto.NegotiateDeflate([]string{p.String()}, policy)
		if !ok || again != p {
			t.Fatalf("the answer %q as an offer: %+v, %v; want %+v", p.String(), again, ok, p)
		}
	})
}
