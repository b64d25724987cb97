package wsproto_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/wssd/wssd/wsproto"
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame builds a masked client frame.
func frame(op wsproto.Opcode, fin bool, payload string) []byte {
	return wsproto.AppendMaskedFrame(nil, op, fin, testMask, []byte(payload))
}

// rawFrame builds a client frame with any header bits.
func rawFrame(h wsproto.Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	b := wsproto.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		wsproto.Unmask(b[start:], h.Mask, 0)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

type parsed struct {
	op      wsproto.Opcode
	payload string
}

var parserCases = []struct {
	name  string
	max   int64
	input []byte
	want  []parsed
	err   error
}{
	{name: "text", input: frame(wsproto.OpText, true, "hello"), want: []parsed{{wsproto.OpText, "hello"}}},
	{name: "binary empty", input: frame(wsproto.OpBinary, true, ""), want: []parsed{{wsproto.OpBinary, ""}}},
	{name: "126 bytes", input: frame(wsproto.OpBinary, true, string(make([]byte, 126))), want: []parsed{{wsproto.OpBinary, string(make([]byte, 126))}}},
	{name: "65536 bytes", input: frame(wsproto.OpBinary, true, string(make([]byte, 65536))), want: []parsed{{wsproto.OpBinary, string(make([]byte, 65536))}}},
	{name: "two messages", input: cat(frame(wsproto.OpText, true, "a"), frame(wsproto.OpBinary, true, "b")),
		want: []parsed{{wsproto.OpText, "a"}, {wsproto.OpBinary, "b"}}},
	{name: "fragmented text", input: cat(frame(wsproto.OpText, false, "he"), frame(wsproto.OpContinuation, false, "l"), frame(wsproto.OpContinuation, true, "lo")),
		want: []parsed{{wsproto.OpText, "hello"}}},
	{name: "ping between fragments", input: cat(frame(wsproto.OpBinary, false, "ab"), frame(wsproto.OpPing, true, "p"), frame(wsproto.OpContinuation, true, "cd")),
		want: []parsed{{wsproto.OpPing, "p"}, {wsproto.OpBinary, "abcd"}}},
	{name: "utf8 split across fragments", input: cat(frame(wsproto.OpText, false, "\xe2\x82"), frame(wsproto.OpContinuation, true, "\xac")),
		want: []parsed{{wsproto.OpText, "\u20ac"}}},
	{name: "close with code", input: frame(wsproto.OpClose, true, "\x03\xe8bye"), want: []parsed{{wsproto.OpClose, "\x03\xe8bye"}}},
	{name: "close empty", input: frame(wsproto.OpClose, true, ""), want: []parsed{{wsproto.OpClose, ""}}},
	{name: "pong", input: frame(wsproto.OpPong, true, "x"), want: []parsed{{wsproto.OpPong, "x"}}},
	{name: "limit exact", max: 4, input: frame(wsproto.OpText, true, "abcd"), want: []parsed{{wsproto.OpText, "abcd"}}},

	{name: "rsv1", input: rawFrame(wsproto.Header{Fin: true, Rsv: 4, Op: wsproto.OpText, Masked: true}, []byte("a")), err: wsproto.ErrReservedBits},
	{name: "rsv3 on ping", input: rawFrame(wsproto.Header{Fin: true, Rsv: 1, Op: wsproto.OpPing, Masked: true}, nil), err: wsproto.ErrReservedBits},
	{name: "reserved opcode 3", input: rawFrame(wsproto.Header{Fin: true, Op: 3, Masked: true}, nil), err: wsproto.ErrReservedOpcode},
	{name: "reserved opcode 0xB", input: rawFrame(wsproto.Header{Fin: true, Op: 0xB, Masked: true}, []byte("x")), err: wsproto.ErrReservedOpcode},
	{name: "unmasked", input: rawFrame(wsproto.Header{Fin: true, Op: wsproto.OpText}, []byte("a")), err: wsproto.ErrUnmasked},
	{name: "ping too long", input: frame(wsproto.OpPing, true, string(make([]byte, 126))), err: wsproto.ErrControlTooLong},
	{name: "fragmented ping", input: frame(wsproto.OpPing, false, ""), err: wsproto.ErrFragmentedControl},
	{name: "continuation first", input: frame(wsproto.OpContinuation, true, "a"), err: wsproto.ErrUnexpectedContinuation},
	{name: "text inside fragmented", input: cat(frame(wsproto.OpText, false, "a"), frame(wsproto.OpText, true, "b")), err: wsproto.ErrExpectedContinuation},
	{name: "invalid utf8", input: frame(wsproto.OpText, true, "a\xffb"), err: wsproto.ErrInvalidUTF8},
	{name: "truncated utf8 at end", input: frame(wsproto.OpText, true, "a\xe2\x82"), err: wsproto.ErrInvalidUTF8},
	{name: "invalid utf8 in later fragment", input: cat(frame(wsproto.OpText, false, "ok"), frame(wsproto.OpContinuation, true, "\xed\xa0\x80")), err: wsproto.ErrInvalidUTF8},
	{name: "close one byte", input: frame(wsproto.OpClose, true, "\x03"), err: wsproto.ErrClosePayload},
	{name: "close code 1005", input: frame(wsproto.OpClose, true, "\x03\xed"), err: wsproto.ErrCloseCode},
	{name: "close code 999", input: frame(wsproto.OpClose, true, "\x03\xe7"), err: wsproto.ErrCloseCode},
	{name: "close reason invalid utf8", input: frame(wsproto.OpClose, true, "\x03\xe8\xff"), err: wsproto.ErrInvalidUTF8},
	{name: "too big", max: 4, input: frame(wsproto.OpText, true, "abcde"), err: wsproto.ErrMessageTooBig},
	{name: "too big across fragments", max: 4, input: cat(frame(wsproto.OpText, false, "abc"), frame(wsproto.OpContinuation, true, "de")), err: wsproto.ErrMessageTooBig},
	{name: "non-minimal 16-bit length", input: []byte{0x81, 0xFE, 0x00, 0x05, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'}, err: wsproto.ErrLengthEncoding},
	{name: "64-bit length top bit", input: []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, err: wsproto.ErrLengthEncoding},
}

// parseAll feeds input to p in chunks of chunk bytes, keeping unconsumed
// bytes as a connection would, and collects what it delivers.
func parseAll(p *wsproto.Parser, input []byte, chunk int) ([]parsed, error) {
	var got []parsed
	var buf []byte
	for off := 0; off < len(input); off += chunk {
		buf = append(buf, input[off:min(off+chunk, len(input))]...)
		for {
			m, n, err := p.Parse(buf)
			if err != nil {
				return got, err
			}
			if m.Op != 0 {
				got = append(got, parsed{m.Op, string(m.Payload)})
			}
			buf = buf[n:]
			if n == 0 {
				break
			}
		}
	}
	if len(buf) != 0 {
		return got, fmt.Errorf("%d bytes left unparsed", len(buf))
	}
	return got, nil
}

func TestParser(t *testing.T) {
	for _, tc := range parserCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{len(tc.input), 1, 3, 7} {
				p := wsproto.Parser{MaxMessageSize: tc.max}
				got, err := parseAll(&p, bytes.Clone(tc.input), max(chunk, 1))
				if !errors.Is(err, tc.err) {
					t.Fatalf("chunk %d: err = %v, want %v", chunk, err, tc.err)
				}
				if tc.err == nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("chunk %d: got %v, want %v", chunk, got, tc.want)
				}
				p.Reset()
			}
		})
	}
}

func TestParserFailsFastOnPartialText(t *testing.T) {
	// A 64 KiB text frame whose first bytes are invalid: the error must come
	// before the rest of the frame arrives (Autobahn 6.4.3).
	payload := append([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"), make([]byte, 65536)...)
	b := frame(wsproto.OpText, true, string(payload))
	var p wsproto.Parser
	_, n, err := p.Parse(b[:wsproto.HeaderSize(len(payload), true)+20])
	if !errors.Is(err, wsproto.ErrInvalidUTF8) || n != 0 {
		t.Fatalf("Parse of a partial invalid frame: n=%d err=%v, want ErrInvalidUTF8", n, err)
	}
}

func TestParserPayloadValidUntilNextParse(t *testing.T) {
	input := cat(frame(wsproto.OpText, false, "ab"), frame(wsproto.OpContinuation, true, "cd"), frame(wsproto.OpText, true, "ef"))
	var p wsproto.Parser
	_, n1, _ := p.Parse(input)
	m, n2, err := p.Parse(input[n1:])
	if err != nil || string(m.Payload) != "abcd" {
		t.Fatalf("reassembled %q, %v", m.Payload, err)
	}
	kept := m.Payload
	if m2, _, _ := p.Parse(input[n1+n2:]); string(m2.Payload) != "ef" {
		t.Fatalf("next message %q", m2.Payload)
	}
	// The pool poisons released buffers in tests: a payload kept past the
	// next Parse is no longer the message.
	if string(kept) == "abcd" {
		t.Fatalf("reassembly buffer still holds the old message after release")
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want wsproto.Header
		n    int
		err  error
	}{
		{"empty", nil, wsproto.Header{}, 0, io.ErrShortBuffer},
		{"one byte", []byte{0x81}, wsproto.Header{}, 0, io.ErrShortBuffer},
		{"short unmasked", []byte{0x81, 0x05}, wsproto.Header{Fin: true, Op: wsproto.OpText, Length: 5}, 2, nil},
		{"mask incomplete", []byte{0x82, 0x85, 1, 2, 3}, wsproto.Header{}, 0, io.ErrShortBuffer},
		{"masked", []byte{0x02, 0x85, 1, 2, 3, 4}, wsproto.Header{Op: wsproto.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 5}, 6, nil},
		{"16-bit length", []byte{0x82, 0x7E, 0x01, 0x00}, wsproto.Header{Fin: true, Op: wsproto.OpBinary, Length: 256}, 4, nil},
		{"16-bit incomplete", []byte{0x82, 0x7E, 0x01}, wsproto.Header{}, 0, io.ErrShortBuffer},
		{"64-bit length", []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, wsproto.Header{Fin: true, Op: wsproto.OpBinary, Length: 65536}, 10, nil},
		{"64-bit non-minimal", []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, wsproto.Header{}, 0, wsproto.ErrLengthEncoding},
		{"rsv bits", []byte{0xF1, 0x00}, wsproto.Header{Fin: true, Rsv: 7, Op: wsproto.OpText}, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := wsproto.ParseHeader(tc.in)
			if !errors.Is(err, tc.err) || n != tc.n || h != tc.want {
				t.Fatalf("got %+v, %d, %v; want %+v, %d, %v", h, n, err, tc.want, tc.n, tc.err)
			}
			if err == nil && !bytes.Equal(wsproto.AppendHeader(nil, h), tc.in) {
				t.Fatalf("AppendHeader does not round-trip: %x", wsproto.AppendHeader(nil, h))
			}
		})
	}
}

func TestCloseCodeOf(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want wsproto.CloseCode
	}{
		{"reserved bits", wsproto.ErrReservedBits, wsproto.CloseProtocolError},
		{"unmasked", wsproto.ErrUnmasked, wsproto.CloseProtocolError},
		{"utf8", wsproto.ErrInvalidUTF8, wsproto.CloseInvalidPayload},
		{"too big", wsproto.ErrMessageTooBig, wsproto.CloseMessageTooBig},
		{"wrapped", fmt.Errorf("conn 3: %w", wsproto.ErrCloseCode), wsproto.CloseProtocolError},
		{"other", io.EOF, wsproto.CloseInternalError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wsproto.CloseCodeOf(tc.err); got != tc.want {
				t.Fatalf("CloseCodeOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestCloseCodeValidOnWire(t *testing.T) {
	valid := []wsproto.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []wsproto.CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !c.ValidOnWire() {
			t.Errorf("%v should be valid on the wire", c)
		}
	}
	for _, c := range invalid {
		if c.ValidOnWire() {
			t.Errorf("%v should not be valid on the wire", c)
		}
	}
}

func TestAppendClose(t *testing.T) {
	long := string(bytes.Repeat([]byte("\u20ac"), 60)) // 180 bytes
	cases := []struct {
		name   string
		code   wsproto.CloseCode
		reason string
		want   string
	}{
		{"code only", wsproto.CloseNormal, "", ""},
		{"with reason", wsproto.CloseGoingAway, "bye", "bye"},
		{"no status", wsproto.CloseNoStatus, "ignored", ""},
		{"long reason cut at a character", wsproto.CloseNormal, long, long[:123]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := wsproto.AppendClose(nil, tc.code, tc.reason)
			p := wsproto.Parser{Client: true}
			m, n, err := p.Parse(b)
			if err != nil || n != len(b) || m.Op != wsproto.OpClose {
				t.Fatalf("parse own close frame: %v", err)
			}
			code, reason, err := wsproto.ParseClose(m.Payload)
			if err != nil || string(reason) != tc.want {
				t.Fatalf("reason %q (%v), want %q", reason, err, tc.want)
			}
			if tc.code != wsproto.CloseNoStatus && code != tc.code {
				t.Fatalf("code %v, want %v", code, tc.code)
			}
		})
	}
}

func TestParserNeed(t *testing.T) {
	b := frame(wsproto.OpBinary, true, string(make([]byte, 70000)))
	hdr := wsproto.HeaderSize(70000, true)
	cases := []struct {
		name string
		have int
		want int
	}{
		{"nothing", 0, 0},
		{"half a header", 3, 0},
		{"header only", hdr, hdr + 70000},
		{"most of the payload", len(b) - 1, hdr + 70000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p wsproto.Parser
			if _, n, err := p.Parse(b[:tc.have]); err != nil || n != 0 {
				t.Fatalf("Parse: n=%d err=%v", n, err)
			}
			if got := p.Need(); got != tc.want {
				t.Fatalf("Need() = %d, want %d", got, tc.want)
			}
			if _, n, _ := p.Parse(b); n != len(b) || p.Need() != 0 {
				t.Fatalf("after the whole frame: n=%d Need()=%d", n, p.Need())
			}
		})
	}
}
