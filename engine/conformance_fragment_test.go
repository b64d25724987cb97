package engine_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestConformanceFragmentation is Autobahn section 5: a message may come in
// any number of fragments, empty ones included, with control frames between
// them, which are answered at once (RFC 6455, section 5.4).
func TestConformanceFragmentation(t *testing.T) {
	t.Parallel()
	const hello = "Hello, fragmented world!"
	ping := wstest.Message(wsproto.OpPing, []byte("between fragments"))
	pong := wstest.Message(wsproto.OpPong, []byte("unsolicited, between fragments"))
	text := func(s string) reply { return reply{op: wsproto.OpText, payload: []byte(s)} }
	bin := func(s string) reply { return reply{op: wsproto.OpBinary, payload: []byte(s)} }
	pongOf := func(f wstest.Frame) reply { return reply{op: wsproto.OpPong, payload: f.Payload} }
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	// with inserts control frames after the first and before the last fragment.
	with := func(msg []wstest.Frame, ctl ...wstest.Frame) []wstest.Frame {
		out := append([]wstest.Frame{msg[0]}, ctl...)
		out = append(out, msg[1:len(msg)-1]...)
		out = append(out, ctl...)
		return append(out, msg[len(msg)-1])
	}
	cases := []exchange{
		{name: "text in 2 fragments", send: frag(wsproto.OpText, "Hello, ", "world"), want: []reply{text("Hello, world")}},
		{name: "binary in 2 fragments", send: frag(wsproto.OpBinary, "\x00\xFF", "\xFE"), want: []reply{bin("\x00\xFF\xFE")}},
		{name: "text in 5 fragments", send: frag(wsproto.OpText, "a", "bc", "def", "ghij", "k"), want: []reply{text("abcdefghijk")}},
		{name: "text in 1-byte fragments", send: fragments(wsproto.OpText, []byte(hello), 1), want: []reply{text(hello)}},
		{name: "binary in 1-byte fragments", send: fragments(wsproto.OpBinary, []byte(hello), 1), want: []reply{bin(hello)}},
		{
			name: "1-byte fragments in 1-byte writes",
			send: fragments(wsproto.OpText, []byte("fragmented"), 1), chunk: 1, pause: splitPause,
			want: []reply{text("fragmented")},
		},
		{name: "64 KiB in 64 fragments", send: fragments(wsproto.OpBinary, big, 1024), want: []reply{{wsproto.OpBinary, big}}},
		{name: "64 KiB in 64 fragments in 999-byte writes", send: fragments(wsproto.OpText, big, 1024), chunk: 999, want: []reply{{wsproto.OpText, big}}},
		{name: "empty first fragment", send: frag(wsproto.OpText, "", "tail"), want: []reply{text("tail")}},
		{name: "empty middle fragments", send: frag(wsproto.OpText, "he", "", "", "ad"), want: []reply{text("head")}},
		{name: "empty last fragment", send: frag(wsproto.OpBinary, "head", ""), want: []reply{bin("head")}},
		{name: "all fragments empty", send: frag(wsproto.OpText, "", "", ""), want: []reply{text("")}},
		{
			name: "two fragmented messages back to back",
			send: append(frag(wsproto.OpText, "one", "two"), frag(wsproto.OpBinary, "three", "four")...),
			want: []reply{text("onetwo"), bin("threefour")},
		},
		{
			name: "ping between fragments",
			send: with(frag(wsproto.OpText, "frag", "ment"), ping),
			want: []reply{pongOf(ping), pongOf(ping), text("fragment")},
		},
		{
			name: "2 pings between 5 fragments",
			send: with(frag(wsproto.OpText, "f", "r", "a", "g", "s"), ping),
			want: []reply{pongOf(ping), pongOf(ping), text("frags")},
		},
		{
			name: "2 pings between 5 fragments in 1-byte writes",
			send: with(frag(wsproto.OpText, "f", "r", "a", "g", "s"), ping), chunk: 1, pause: splitPause,
			want: []reply{pongOf(ping), pongOf(ping), text("frags")},
		},
		{
			name: "pong between fragments",
			send: with(frag(wsproto.OpBinary, "frag", "ment"), pong),
			want: []reply{bin("fragment")},
		},
		{
			name: "ping and pong between 1-byte fragments",
			send: with(fragments(wsproto.OpText, []byte(hello), 1), pong, ping),
			want: []reply{pongOf(ping), pongOf(ping), text(hello)},
		},
	}
	runExchanges(t, engine.Config{}, cases)
}

// TestConformanceFragmentationViolations covers fragment sequences RFC 6455
// section 5.4 forbids, and fragments that together exceed MaxMessageSize
// (1009, RFC 6455 section 7.4.1).
func TestConformanceFragmentationViolations(t *testing.T) {
	t.Parallel()
	cont := func(fin bool, s string) wstest.Frame {
		return wstest.Frame{Fin: fin, Op: wsproto.OpContinuation, Payload: []byte(s)}
	}
	start := wstest.Frame{Op: wsproto.OpText, Payload: []byte("start")}
	valid := wstest.Message(wsproto.OpText, []byte("valid"))
	t.Run("protocol", func(t *testing.T) {
		t.Parallel()
		runViolations(t, engine.Config{}, []violation{
			{name: "continuation without a start", bad: cont(true, "orphan").Bytes(), want: wsproto.CloseProtocolError},
			{name: "continuation without FIN without a start", bad: cont(false, "orphan").Bytes(), want: wsproto.CloseProtocolError},
			{name: "empty continuation without a start", bad: cont(true, "").Bytes(), want: wsproto.CloseProtocolError},
			{
				name:   "continuation after a whole message",
				echoed: []wstest.Frame{valid},
				bad:    cont(true, "late").Bytes(),
				want:   wsproto.CloseProtocolError,
			},
			{
				name:   "continuation after a fragmented message",
				echoed: frag(wsproto.OpText, "frag", "ment"),
				bad:    cont(true, "late").Bytes(),
				want:   wsproto.CloseProtocolError,
			},
			{name: "text inside a fragmented text message", bad: encode(start, valid), want: wsproto.CloseProtocolError},
			{
				name: "binary inside a fragmented text message",
				bad:  encode(start, wstest.Message(wsproto.OpBinary, []byte{1})),
				want: wsproto.CloseProtocolError,
			},
			{
				name: "both fragments with the text opcode",
				bad:  encode(start, wstest.Message(wsproto.OpText, []byte("end"))),
				want: wsproto.CloseProtocolError,
			},
			{
				name: "text without FIN inside a fragmented message",
				bad:  encode(start, wstest.Frame{Op: wsproto.OpText, Payload: []byte("again")}),
				want: wsproto.CloseProtocolError,
			},
			{
				name: "close in 2 fragments",
				bad: encode(
					wstest.Frame{Op: wsproto.OpClose, Payload: []byte{0x03}},
					wstest.Frame{Fin: true, Op: wsproto.OpContinuation, Payload: []byte{0xE8}},
				),
				want: wsproto.CloseProtocolError,
			},
			{name: "ping in 2 fragments", bad: encode(frag(wsproto.OpPing, "pi", "ng")...), want: wsproto.CloseProtocolError},
			{
				name: "fragmented ping inside a fragmented message",
				bad:  encode(start, wstest.Frame{Op: wsproto.OpPing, Payload: []byte("pi")}, cont(true, "ng")),
				want: wsproto.CloseProtocolError,
			},
		})
	})
	// A small MaxMessageSize; each case stays within it until its last fragment.
	const limit = 1000
	atLimit := fragments(wsproto.OpBinary, bytes.Repeat([]byte{'x'}, limit), 400)
	overLimit := fragments(wsproto.OpBinary, bytes.Repeat([]byte{'x'}, limit+200), 400)
	t.Run("size", func(t *testing.T) {
		t.Parallel()
		runViolations(t, engine.Config{MaxMessageSize: limit}, []violation{
			{
				name: "3 fragments of 400 bytes",
				bad:  encode(overLimit...),
				want: wsproto.CloseMessageTooBig,
			},
			{
				name:   "one byte over the limit after a message at the limit",
				echoed: []wstest.Frame{wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{'x'}, limit))},
				bad:    encode(fragments(wsproto.OpText, []byte(strings.Repeat("y", limit+1)), 500)...),
				want:   wsproto.CloseMessageTooBig,
			},
			{
				// The header of the fragment that crosses the limit is enough.
				name: "header of the fragment that crosses the limit",
				bad:  append(encode(overLimit[:2]...), overLimit[2].Bytes()[:8]...),
				want: wsproto.CloseMessageTooBig,
			},
			{
				name: "1000 1-byte fragments and one more",
				bad:  encode(fragments(wsproto.OpText, []byte(strings.Repeat("z", limit+1)), 1)...),
				want: wsproto.CloseMessageTooBig,
			},
		})
		runExchanges(t, engine.Config{MaxMessageSize: limit}, []exchange{
			{
				name: "fragments exactly at the limit",
				send: atLimit,
				want: []reply{{wsproto.OpBinary, bytes.Repeat([]byte{'x'}, limit)}},
			},
			{
				name: "1000 1-byte fragments",
				send: fragments(wsproto.OpText, []byte(strings.Repeat("z", limit)), 1),
				want: []reply{{wsproto.OpText, []byte(strings.Repeat("z", limit))}},
			},
		})
	})
}
