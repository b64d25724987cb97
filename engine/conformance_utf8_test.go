package engine_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// everyWidth has characters of 1, 2, 3 and 4 bytes.
const everyWidth = "a\u00e9\u20ac\U0001F600z\u07ff\U0010FFFF"

// validUTF8 are texts a server must accept (RFC 3629; noncharacters such as
// U+FFFE are valid UTF-8).
var validUTF8 = []struct{ name, text string }{
	{"empty", ""},
	{"ASCII", "Hello, world!"},
	{"Latin-1 supplement", "Hello-µ@ßöäüàá-UTF-8!!"},
	{"Greek", "κόσμε"},
	{"U+0080", "\xC2\x80"},
	{"U+07FF", "\xDF\xBF"},
	{"U+0800", "\xE0\xA0\x80"},
	{"U+D7FF", "\xED\x9F\xBF"},
	{"U+E000", "\xEE\x80\x80"},
	{"U+FEFF", "\xEF\xBB\xBF"},
	{"U+FFFD", "\xEF\xBF\xBD"},
	{"U+FFFE", "\xEF\xBF\xBE"},
	{"U+FFFF", "\xEF\xBF\xBF"},
	{"U+10000", "\xF0\x90\x80\x80"},
	{"U+10FFFF", "\xF4\x8F\xBF\xBF"},
	{"every width", everyWidth},
}

// invalidUTF8 are texts a server must refuse with 1007 (RFC 6455, section
// 8.1), each with its flaw in its name.
var invalidUTF8 = []struct{ name, text string }{
	{"lone continuation 80", "\x80"},
	{"lone continuation BF inside text", "ab\xBFcd"},
	{"4 continuations", "\x80\xBF\x80\xBF"},
	{"overlong NUL C0 80", "ab\xC0\x80cd"},
	{"overlong C1 BF", "\xC1\xBF"},
	{"overlong slash C0 AF", "\xC0\xAF"},
	{"overlong slash E0 80 AF", "\xE0\x80\xAF"},
	{"overlong E0 80 80", "ab\xE0\x80\x80cd"},
	{"overlong U+07FF E0 9F BF", "\xE0\x9F\xBF"},
	{"overlong slash F0 80 80 AF", "\xF0\x80\x80\xAF"},
	{"overlong F0 80 80 80", "ab\xF0\x80\x80\x80cd"},
	{"overlong U+FFFF F0 8F BF BF", "\xF0\x8F\xBF\xBF"},
	{"5-byte form F8 88 80 80 80", "\xF8\x88\x80\x80\x80"},
	{"6-byte form FC 84 80 80 80 80", "\xFC\x84\x80\x80\x80\x80"},
	{"surrogate U+D800 ED A0 80", "ab\xED\xA0\x80cd"},
	{"surrogate U+DB7F ED AD BF", "\xED\xAD\xBF"},
	{"surrogate U+DC00 ED B0 80", "\xED\xB0\x80"},
	{"surrogate U+DFFF ED BF BF", "\xED\xBF\xBF"},
	{"surrogate pair ED A0 80 ED B0 80", "\xED\xA0\x80\xED\xB0\x80"},
	{"surrogate in Greek text", "κόσμε\xED\xA0\x80edited"},
	{"U+110000 F4 90 80 80", "ab\xF4\x90\x80\x80cd"},
	{"U+1FFFFF F7 BF BF BF", "\xF7\xBF\xBF\xBF"},
	{"F5 80 80 80", "\xF5\x80\x80\x80"},
	{"FE", "ab\xFEcd"},
	{"FF", "\xFF"},
	{"FE FE FF FF", "\xFE\xFE\xFF\xFF"},
	{"2-byte lead then ASCII", "\xC3A"},
	{"3-byte lead, continuation, then ASCII", "\xE2\x82A"},
	{"4-byte lead, 2 continuations, then ASCII", "\xF0\x9F\x98A"},
	{"2-byte leads C0-DF each before a space", twoByteLeadsBeforeSpace()},
	{"truncated 2-byte C3 at the end", "ab\xC3"},
	{"truncated 3-byte E2 82 at the end", "ab\xE2\x82"},
	{"truncated 4-byte F0 9F 98 at the end", "ab\xF0\x9F\x98"},
	{"truncated U+10FFFF F4 8F BF at the end", "\xF4\x8F\xBF"},
	{"FF after 1000 valid bytes", strings.Repeat("ab", 500) + "\xFF"},
	{"truncated after 1000 valid bytes", strings.Repeat("ab", 500) + "\xE2\x82"},
}

// twoByteLeadsBeforeSpace is Autobahn 6.14.x's lone 2-byte lead bytes.
func twoByteLeadsBeforeSpace() string {
	var b strings.Builder
	for c := 0xC0; c <= 0xDF; c++ {
		b.WriteByte(byte(c))
		b.WriteByte(' ')
	}
	return b.String()
}

// TestConformanceUTF8Valid is Autobahn sections 6.2 and 6.5: valid texts
// come back unchanged however they are cut, into fragments or TCP writes,
// including in the middle of a character.
func TestConformanceUTF8Valid(t *testing.T) {
	t.Parallel()
	var cases []exchange
	for _, v := range validUTF8 {
		if !utf8.ValidString(v.text) {
			t.Fatalf("%s: %q is not valid UTF-8", v.name, v.text)
		}
		p := []byte(v.text)
		whole := wstest.Message(wsproto.OpText, p)
		// Every split into two fragments, one message each, on one connection.
		var everySplit []wstest.Frame
		for i := 1; i < len(p); i++ {
			everySplit = append(everySplit, frag(wsproto.OpText, v.text[:i], v.text[i:])...)
		}
		cases = append(cases,
			exchange{name: v.name + ", whole", send: []wstest.Frame{whole}, want: echoOf(whole)},
			exchange{name: v.name + ", 1-byte fragments", send: fragments(wsproto.OpText, p, 1), want: echoOf(whole)},
			exchange{name: v.name + ", 1-byte writes", send: []wstest.Frame{whole}, chunk: 1, pause: splitPause, want: echoOf(whole)},
		)
		if len(everySplit) > 0 {
			cases = append(cases, exchange{name: v.name + ", 2 fragments split at every byte", send: everySplit, want: echoOf(everySplit...)})
		}
	}
	// 64 KiB of characters of every width, whose frames and writes cut
	// characters and the 4-byte mask cycle at odd places.
	var long []byte
	for len(long) < 64<<10 {
		long = append(long, everyWidth...)
	}
	longMsg := wstest.Message(wsproto.OpText, long)
	cases = append(cases,
		exchange{name: "64 KiB, 7-byte writes", send: []wstest.Frame{longMsg}, chunk: 7, want: echoOf(longMsg)},
		exchange{name: "64 KiB, 1001-byte writes", send: []wstest.Frame{longMsg}, chunk: 1001, want: echoOf(longMsg)},
		exchange{name: "64 KiB, 333-byte fragments", send: fragments(wsproto.OpText, long, 333), want: echoOf(longMsg)},
		exchange{name: "64 KiB, 333-byte fragments in 1001-byte writes", send: fragments(wsproto.OpText, long, 333), chunk: 1001, want: echoOf(longMsg)},
	)
	runExchanges(t, engine.Config{}, cases)
}

// TestConformanceUTF8SplitWrites sends each valid text's frame in two TCP
// writes, for every split point, header included.
func TestConformanceUTF8SplitWrites(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		for _, v := range validUTF8 {
			t.Run(v.name+", 2 writes split at every byte", func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				b := wstest.Message(wsproto.OpText, []byte(v.text)).Bytes()
				for i := 1; i < len(b); i++ {
					send(t, c, b[:i])
					time.Sleep(splitPause)
					send(t, c, b[i:])
					expectMessage(t, c, wsproto.OpText, []byte(v.text))
				}
				closeCleanly(t, c)
			})
		}
	})
}

// TestConformanceUTF8Invalid is Autobahn sections 6.3 and 6.6-6.21: a
// text message that is not valid UTF-8 fails the connection with 1007, also
// when its flaw is cut across fragments, and so does a message whose
// fragments are valid alone but not together.
func TestConformanceUTF8Invalid(t *testing.T) {
	t.Parallel()
	var cases []violation
	for _, v := range invalidUTF8 {
		if utf8.ValidString(v.text) {
			t.Fatalf("%s: %q is valid UTF-8", v.name, v.text)
		}
		cases = append(cases,
			violation{name: v.name + ", whole", bad: wstest.Message(wsproto.OpText, []byte(v.text)).Bytes(), want: wsproto.CloseInvalidPayload},
			violation{name: v.name + ", 1-byte fragments", bad: encode(fragments(wsproto.OpText, []byte(v.text), 1)...), want: wsproto.CloseInvalidPayload},
		)
	}
	valid := wstest.Message(wsproto.OpText, []byte("κόσμε"))
	cases = append(cases,
		violation{
			name:   "after a valid message",
			echoed: []wstest.Frame{valid},
			bad:    wstest.Message(wsproto.OpText, []byte("\xED\xA0\x80")).Bytes(),
			want:   wsproto.CloseInvalidPayload,
		},
		violation{
			name: "U+110000 cut across 3 fragments",
			bad:  encode(frag(wsproto.OpText, "κόσμε\xF4", "\x90\x80", "\x80edited")...),
			want: wsproto.CloseInvalidPayload,
		},
		violation{
			name: "2-byte character cut by a ping, which is answered",
			echoed: []wstest.Frame{
				{Op: wsproto.OpText, Payload: []byte("a\xC3")},
				wstest.Message(wsproto.OpPing, nil),
			},
			bad:  wstest.Frame{Fin: true, Op: wsproto.OpContinuation, Payload: []byte("Ab")}.Bytes(),
			want: wsproto.CloseInvalidPayload,
		},
		violation{
			name: "fragments valid alone, truncated together",
			bad:  encode(frag(wsproto.OpText, "κόσμε", "\xE2\x82")...),
			want: wsproto.CloseInvalidPayload,
		},
		violation{
			name: "character left open by the last fragment",
			bad:  encode(frag(wsproto.OpText, "ab", "\xF0\x9F", "")...),
			want: wsproto.CloseInvalidPayload,
		},
	)
	runViolations(t, engine.Config{}, cases)
}

// TestConformanceUTF8FailFast is Autobahn section 6.4: the server fails a
// text message as soon as its bytes stop being valid UTF-8, without
// waiting for the rest of the frame or message, which the client withholds.
func TestConformanceUTF8FailFast(t *testing.T) {
	t.Parallel()
	const frameSize = 64 << 10
	// partial returns the first bytes of a masked text frame of frameSize
	// payload bytes that begins with prefix: its header and prefix.
	partial := func(op wsproto.Opcode, prefix string) []byte {
		p := append([]byte(prefix), bytes.Repeat([]byte{'a'}, frameSize-len(prefix))...)
		return wstest.Frame{Fin: true, Op: op, Payload: p}.Bytes()[:wsproto.HeaderSize(frameSize, true)+len(prefix)]
	}
	// chop cuts b into pieces at the given offsets.
	chop := func(b []byte, at ...int) [][]byte {
		var out [][]byte
		prev := 0
		for _, i := range at {
			out = append(out, b[prev:i])
			prev = i
		}
		return append(out, b[prev:])
	}
	hdr := wsproto.HeaderSize(frameSize, true)
	greek := "κόσμε"
	cases := []struct {
		name   string
		pieces [][]byte // written with a pause between them; the rest is withheld
	}{
		{"frame, invalid first chunk", [][]byte{partial(wsproto.OpText, "Hello\xF4\x90\x80\x80world")}},
		{"frame, first chunk ends in an invalid sequence", [][]byte{partial(wsproto.OpText, greek+"\xF4\x90")}},
		{"frame, header, then an invalid byte", chop(partial(wsproto.OpText, "\xFF"), hdr)},
		{"frame, valid chunk, then an invalid one", chop(partial(wsproto.OpText, greek+"\xF4\x90\x80\x80"), hdr+len(greek))},
		{"frame, chunk ends on a lead byte, next byte invalid", chop(partial(wsproto.OpText, greek+"\xF4\x90"), hdr+len(greek)+1)},
		{"frame, valid chunks, then an invalid one", chop(partial(wsproto.OpText, "abc\xE2\x82\xACde\xED\xA0\x80"), hdr+3, hdr+4, hdr+8)},
		{"fragments, invalid first fragment", [][]byte{wstest.Frame{Op: wsproto.OpText, Payload: []byte("ab\xFFcd")}.Bytes()}},
		{
			"fragments, valid first fragment, then an invalid one",
			[][]byte{
				wstest.Frame{Op: wsproto.OpText, Payload: []byte(greek)}.Bytes(),
				wstest.Frame{Op: wsproto.OpContinuation, Payload: []byte("\xF4\x90\x80\x80")}.Bytes(),
			},
		},
		{
			"fragments, first fragment ends on a lead byte, next fragment invalid",
			[][]byte{
				wstest.Frame{Op: wsproto.OpText, Payload: []byte(greek + "\xF4")}.Bytes(),
				wstest.Frame{Op: wsproto.OpContinuation, Payload: []byte("\x90")}.Bytes(),
			},
		},
		{
			"fragments, invalid start of a long continuation",
			[][]byte{
				wstest.Frame{Op: wsproto.OpText, Payload: []byte(greek)}.Bytes(),
				partial(wsproto.OpContinuation, "ok\xC0"),
			},
		},
		{
			"fragments, character left open, long continuation breaks it",
			[][]byte{
				wstest.Frame{Op: wsproto.OpText, Payload: []byte("ab\xE2")}.Bytes(),
				partial(wsproto.OpContinuation, "A"),
			},
		},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				for i, p := range tc.pieces {
					if i > 0 {
						time.Sleep(20 * time.Millisecond)
					}
					send(t, c, p)
				}
				expectFail(t, c, wsproto.CloseInvalidPayload)
			})
		}
	})
}
