package engine_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestConformancePingPong is Autobahn section 2: every ping is answered by
// a pong with the same payload, in order, and pongs are never answered
// (RFC 6455, sections 5.5.2 and 5.5.3).
func TestConformancePingPong(t *testing.T) {
	t.Parallel()
	ping := func(p []byte) wstest.Frame { return wstest.Message(wsproto.OpPing, p) }
	pong := func(p []byte) wstest.Frame { return wstest.Message(wsproto.OpPong, p) }
	text := wstest.Message(wsproto.OpText, []byte("still here"))
	max := bytes.Repeat([]byte{'*'}, wsproto.MaxControlPayload)
	var allBytes []byte
	for i := range wsproto.MaxControlPayload {
		allBytes = append(allBytes, byte(255-2*i))
	}
	var tenPings []wstest.Frame
	for i := range 10 {
		tenPings = append(tenPings, ping([]byte("ping #"+strconv.Itoa(i))))
	}
	runExchanges(t, engine.Config{}, []exchange{
		{name: "empty ping", send: []wstest.Frame{ping(nil)}, want: echoOf(ping(nil))},
		{name: "text ping", send: []wstest.Frame{ping([]byte("Hello, world!"))}, want: echoOf(ping([]byte("Hello, world!")))},
		{name: "binary ping", send: []wstest.Frame{ping([]byte{0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF})}, want: echoOf(ping([]byte{0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF}))},
		{name: "125-byte ping", send: []wstest.Frame{ping(max)}, want: echoOf(ping(max))},
		{name: "125-byte binary ping", send: []wstest.Frame{ping(allBytes)}, want: echoOf(ping(allBytes))},
		{name: "125-byte ping in 1-byte writes", send: []wstest.Frame{ping(max)}, chunk: 1, pause: splitPause, want: echoOf(ping(max))},
		{
			name: "unsolicited empty pong",
			send: []wstest.Frame{pong(nil), text},
			want: echoOf(text),
		},
		{
			name: "unsolicited pong with payload",
			send: []wstest.Frame{pong([]byte("unsolicited")), text},
			want: echoOf(text),
		},
		{
			name: "unsolicited pong then ping",
			send: []wstest.Frame{pong([]byte("unsolicited")), ping([]byte("solicited"))},
			want: echoOf(ping([]byte("solicited"))),
		},
		{name: "10 pings back to back", send: tenPings, want: echoOf(tenPings...)},
		{name: "10 pings in 1-byte writes", send: tenPings, chunk: 1, pause: splitPause, want: echoOf(tenPings...)},
		{
			name: "pings between messages",
			send: []wstest.Frame{text, ping([]byte("a")), ping([]byte("b")), text, ping(nil)},
			want: echoOf(text, ping([]byte("a")), ping([]byte("b")), text, ping(nil)),
		},
	})
}

// TestConformancePingPongViolations covers control frames RFC 6455 section
// 5.5 forbids: longer than 125 bytes, or fragmented.
func TestConformancePingPongViolations(t *testing.T) {
	t.Parallel()
	valid := wstest.Message(wsproto.OpText, []byte("valid"))
	long := bytes.Repeat([]byte{'*'}, wsproto.MaxControlPayload+1)
	runViolations(t, engine.Config{}, []violation{
		{
			name: "126-byte ping",
			bad:  wstest.Message(wsproto.OpPing, long).Bytes(),
			want: wsproto.CloseProtocolError,
		},
		{
			name:   "126-byte ping after a valid message",
			echoed: []wstest.Frame{valid},
			bad:    wstest.Message(wsproto.OpPing, long).Bytes(),
			want:   wsproto.CloseProtocolError,
		},
		{
			name: "126-byte pong",
			bad:  wstest.Message(wsproto.OpPong, long).Bytes(),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "ping in 2 fragments",
			bad:  encode(frag(wsproto.OpPing, "frag", "mented")...),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "pong in 2 fragments",
			bad:  encode(frag(wsproto.OpPong, "frag", "mented")...),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "first fragment of a ping alone",
			bad:  wstest.Frame{Op: wsproto.OpPing, Payload: []byte("more to come")}.Bytes(),
			want: wsproto.CloseProtocolError,
		},
	})
}
