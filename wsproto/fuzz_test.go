package wsproto_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"

	"github.com/wssd/wssd/wsproto"
)

// FuzzParse feeds arbitrary bytes to the Parser, whole and in chunks. It
// must never panic, must agree with itself however the input is split, and
// what it accepts must survive a round trip through AppendMaskedFrame.
// Seeds: the parser table and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, tc := range parserCases {
		f.Add(tc.input, uint8(3), uint16(tc.max))
	}
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8, limit uint16) {
		whole := wsproto.Parser{MaxMessageSize: int64(limit)}
		want, werr := parseAll(&whole, bytes.Clone(input), max(len(input), 1))
		whole.Reset()
		split := wsproto.Parser{MaxMessageSize: int64(limit)}
		got, gerr := parseAll(&split, bytes.Clone(input), int(chunk)+1)
		split.Reset()
		if (werr == nil) != (gerr == nil) || len(got) != len(want) {
			t.Fatalf("whole: %v %v; chunks of %d: %v %v", want, werr, int(chunk)+1, got, gerr)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("message %d differs when split: %v vs %v", i, got[i], want[i])
			}
		}
		// With permessage-deflate negotiated the same input, RSV1 frames
		// included, must parse the same however it is split.
		for _, keep := range []bool{false, true} {
			dWhole := wsproto.Parser{MaxMessageSize: int64(limit), Inflater: wsproto.NewInflater(1<<15, !keep)}
			dw, dwerr := parseAll(&dWhole, bytes.Clone(input), max(len(input), 1))
			dWhole.Reset()
			dSplit := wsproto.Parser{MaxMessageSize: int64(limit), Inflater: wsproto.NewInflater(1<<15, !keep)}
			ds, dserr := parseAll(&dSplit, bytes.Clone(input), int(chunk)+1)
			dSplit.Reset()
			if (dwerr == nil) != (dserr == nil) || len(dw) != len(ds) {
				t.Fatalf("deflate: whole: %v %v; chunks of %d: %v %v", dw, dwerr, int(chunk)+1, ds, dserr)
			}
			for i := range dw {
				if dw[i] != ds[i] {
					t.Fatalf("deflate: message %d differs when split", i)
				}
			}
		}
		// Round trip: re-encode what was accepted and parse it again.
		var again []byte
		for _, m := range want {
			again = wsproto.AppendMaskedFrame(again, m.op, true, testMask, []byte(m.payload))
		}
		rt := wsproto.Parser{MaxMessageSize: int64(limit)}
		back, err := parseAll(&rt, again, max(len(again), 1))
		rt.Reset()
		if err != nil || len(back) != len(want) {
			t.Fatalf("round trip: %v, %v; want %v", back, err, want)
		}
	})
}

// FuzzHandshake feeds arbitrary request heads to Handshake: it must never
// panic, must always answer with a parseable HTTP response, and must answer
// 101 only with the right Sec-WebSocket-Accept. Seeds: the handshake table
// and testdata/fuzz/FuzzHandshake.
func FuzzHandshake(f *testing.F) {
	for _, tc := range handshakeCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		resp, r, err := wsproto.Handshake(nil, head, nil)
		hr, perr := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
		if perr != nil {
			t.Fatalf("unparseable response %q: %v", resp, perr)
		}
		if r == nil {
			t.Fatal("nil Request")
		}
		var rej *wsproto.RejectError
		switch {
		case err == nil && hr.StatusCode != http.StatusSwitchingProtocols:
			t.Fatalf("no error but status %d", hr.StatusCode)
		case err != nil && !errors.As(err, &rej):
			t.Fatalf("error %v is not a *RejectError", err)
		case err != nil && hr.StatusCode != rej.Status:
			t.Fatalf("status %d, error says %d", hr.StatusCode, rej.Status)
		case err == nil && hr.Header.Get("Sec-WebSocket-Accept") == "":
			t.Fatal("101 without Sec-WebSocket-Accept")
		}
		if err != nil {
			return
		}
		// What was upgraded is a request net/http reads too, with one key of
		// 16 bytes, answered with its accept value.
		req, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if rerr != nil {
			t.Fatalf("upgraded a request net/http refuses: %v", rerr)
		}
		keys := req.Header.Values("Sec-WebSocket-Key")
		if len(keys) != 1 {
			t.Fatalf("upgraded with keys %q", keys)
		}
		if k, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(k) != 16 {
			t.Fatalf("upgraded with key %q", keys[0])
		}
		if got, want := hr.Header.Get("Sec-WebSocket-Accept"), acceptOf(keys[0]); got != want {
			t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
		}
	})
}

// acceptOf is the Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2).
func acceptOf(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}
