package engine_test

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// writeSplit is a way to cut a client's bytes into TCP writes.
type writeSplit struct {
	name  string
	chunk int           // 0: one write
	pause time.Duration // between writes
	upTo  int           // largest payload it is used for; 0: any
}

var framingSplits = []writeSplit{
	{name: "one write"},
	{name: "1-byte writes", chunk: 1, pause: splitPause, upTo: 128},
	{name: "7-byte writes", chunk: 7, upTo: 65536},
	{name: "1000-byte writes", chunk: 1000},
}

// TestConformanceFraming is Autobahn section 1: text and binary messages of
// every length encoding, up to the default MaxMessageSize, whole and with
// their bytes split into small TCP writes, come back unchanged.
func TestConformanceFraming(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, 127, 128, 65535, 65536, wsproto.DefaultMaxMessageSize}
	var cases []exchange
	for _, op := range []wsproto.Opcode{wsproto.OpText, wsproto.OpBinary} {
		for _, size := range sizes {
			p := payloadOf(op, size)
			for _, s := range framingSplits {
				if s.upTo > 0 && size > s.upTo {
					continue
				}
				f := wstest.Message(op, p)
				cases = append(cases, exchange{
					name:  op.String() + " " + strconv.Itoa(size) + " bytes, " + s.name,
					send:  []wstest.Frame{f},
					chunk: s.chunk,
					pause: s.pause,
					want:  echoOf(f),
				})
			}
		}
	}
	runExchanges(t, engine.Config{}, cases)
}

// TestConformanceFramingViolations covers frame encodings RFC 6455 section
// 5 forbids: unmasked client frames, lengths not in their shortest form, and
// a message over MaxMessageSize, refused from its header alone.
func TestConformanceFramingViolations(t *testing.T) {
	t.Parallel()
	tooBig := wstest.Message(wsproto.OpBinary, make([]byte, wsproto.DefaultMaxMessageSize+1))
	tooBigHeader := tooBig.Bytes()[:wsproto.HeaderSize(len(tooBig.Payload), true)+10]
	runViolations(t, engine.Config{}, []violation{
		{
			name: "unmasked text",
			bad:  wstest.Frame{Fin: true, Op: wsproto.OpText, Payload: []byte("hello"), Unmasked: true}.Bytes(),
			want: wsproto.CloseProtocolError,
		},
		{
			name:   "unmasked binary after a valid message",
			echoed: []wstest.Frame{wstest.Message(wsproto.OpText, []byte("valid"))},
			bad:    wstest.Frame{Fin: true, Op: wsproto.OpBinary, Payload: []byte{1, 2, 3}, Unmasked: true}.Bytes(),
			want:   wsproto.CloseProtocolError,
		},
		{
			name: "unmasked ping",
			bad:  wstest.Frame{Fin: true, Op: wsproto.OpPing, Payload: []byte("ping"), Unmasked: true}.Bytes(),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "unmasked close",
			bad:  wstest.Frame{Fin: true, Op: wsproto.OpClose, Payload: []byte{0x03, 0xE8}, Unmasked: true}.Bytes(),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "5 bytes in the 16-bit length form",
			bad:  append([]byte{0x81, 0x80 | 126, 0, 5, 0, 0, 0, 0}, "hello"...),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "200 bytes in the 64-bit length form",
			bad:  append([]byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0}, make([]byte, 200)...),
			want: wsproto.CloseProtocolError,
		},
		{
			name: "64-bit length with the top bit set",
			bad:  []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0},
			want: wsproto.CloseProtocolError,
		},
		{
			name: "one byte over MaxMessageSize",
			bad:  tooBig.Bytes(),
			want: wsproto.CloseMessageTooBig,
		},
		{
			// The 1009 must not wait for a payload the server will not take.
			name: "header of a message over MaxMessageSize",
			bad:  tooBigHeader,
			want: wsproto.CloseMessageTooBig,
		},
	})
}

// payloadOf returns size bytes for a message of type op: printable ASCII
// for text, every byte value in a fixed pseudo-random order for binary.
func payloadOf(op wsproto.Opcode, size int) []byte {
	if op == wsproto.OpText {
		return bytes.Repeat([]byte("*conformance*"), size/13+1)[:size]
	}
	r := rand.New(rand.NewPCG(uint64(size), 6455))
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}
