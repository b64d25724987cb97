package wsproto_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/chatmsg"
	"github.com/wssd/wssd/wsproto"
)

var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// stdDeflater compresses messages as a client does, on the standard
// library's compress/flate, keeping its context unless reset.
type stdDeflater struct {
	w   *flate.Writer
	buf bytes.Buffer
}

func newStdDeflater() *stdDeflater {
	d := &stdDeflater{}
	d.w, _ = flate.NewWriter(&d.buf, flate.BestSpeed)
	return d
}

func (d *stdDeflater) compress(msg string, reset bool) []byte {
	d.buf.Reset()
	if reset {
		d.w.Reset(&d.buf)
	}
	_, _ = d.w.Write([]byte(msg))
	_ = d.w.Flush()
	return bytes.Clone(bytes.TrimSuffix(d.buf.Bytes(), syncTail))
}

// compressedFrame builds a masked client frame with RSV1 as given.
func compressedFrame(op wsproto.Opcode, fin, rsv1 bool, payload []byte) []byte {
	h := wsproto.Header{Fin: fin, Op: op, Masked: true, Mask: testMask}
	if rsv1 {
		h.Rsv = 0b100
	}
	return rawFrame(h, payload)
}

func chat(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"event":"client-msg","channel":"private-room","data":{"n":%d,"text":"hé %d"}}`, i, i*7)
	}
	return b.String()[:n]
}

// TestInflateContext sends a conversation whose messages refer back into
// each other, fragmented and whole, between uncompressed messages, control
// frames in the middle, and checks the Parser delivers each one inflated
// however the bytes are split: every split point of the first 300 bytes,
// then chunks.
func TestInflateContext(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("client keeps context %v", keep), func(t *testing.T) {
			d := newStdDeflater()
			msgs := []string{chat(200), chat(200), chat(1000), "plain", strings.Repeat("é", 100), chat(40000), chat(300)}
			var input []byte
			for i, m := range msgs {
				if m == "plain" {
					input = append(input, frame(wsproto.OpText, true, m)...)
					continue
				}
				z := d.compress(m, !keep)
				if i%2 == 1 { // fragmented, a ping in between
					input = append(input, compressedFrame(wsproto.OpText, false, true, z[:len(z)/3])...)
					input = append(input, frame(wsproto.OpPing, true, "p")...)
					input = append(input, compressedFrame(wsproto.OpContinuation, false, false, z[len(z)/3:2*len(z)/3])...)
					input = append(input, compressedFrame(wsproto.OpContinuation, true, false, z[2*len(z)/3:])...)
				} else {
					input = append(input, compressedFrame(wsproto.OpText, true, true, z)...)
				}
			}
			for _, chunk := range []int{len(input), 1, 2, 3, 7, 100, 4096} {
				p := wsproto.Parser{Inflater: wsproto.NewInflater(1<<15, !keep)}
				limit := len(input)
				if chunk == 1 {
					limit = 300 // every split point of the first messages
				}
				got, err := parseAll(&p, bytes.Clone(input[:limit]), chunk)
				if chunk == 1 {
					if err != nil && !strings.Contains(err.Error(), "left unparsed") {
						t.Fatalf("chunk 1: %v", err)
					}
					continue
				}
				p.Reset()
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				var texts []string
				for _, m := range got {
					if m.op == wsproto.OpText {
						texts = append(texts, m.payload)
					}
				}
				if len(texts) != len(msgs) {
					t.Fatalf("chunk %d: %d messages, want %d", chunk, len(texts), len(msgs))
				}
				for i := range msgs {
					if texts[i] != msgs[i] {
						t.Fatalf("chunk %d: message %d differs", chunk, i)
					}
				}
			}
			// Message.Compressed tells which arrived compressed.
			p := wsproto.Parser{Inflater: wsproto.NewInflater(1<<15, !keep)}
			var compressed []bool
			for buf := bytes.Clone(input); len(buf) > 0; {
				m, n, err := p.Parse(buf)
				if err != nil || n == 0 {
					t.Fatalf("whole input: %v after %d messages", err, len(compressed))
				}
				if m.Op == wsproto.OpText {
					compressed = append(compressed, m.Compressed)
				}
				buf = buf[n:]
			}
			for i, m := range msgs {
				if compressed[i] != (m != "plain") {
					t.Fatalf("message %d (%.10q...): Compressed %v", i, m, compressed[i])
				}
			}
		})
	}
}

// TestInflateWindow checks what an Inflater keeps: nothing without context
// takeover, at most its window with it, and what it keeps is enough.
func TestInflateWindow(t *testing.T) {
	cases := []struct {
		name    string
		window  int
		reset   bool
		sent    int
		maxHeld int
	}{
		{"no context", 1 << 15, true, 5000, 0},
		{"small message", 1 << 15, false, 300, 300},
		{"window full", 1 << 15, false, 100000, 1 << 15},
		{"narrow window", 1 << 10, false, 100000, 1 << 10},
		{"window of 8 bits kept as 9", 1 << 8, false, 100000, 1 << 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := wsproto.NewInflater(tc.window, tc.reset)
			d := newStdDeflater()
			msg := chat(tc.sent)
			out := bufpool.Get()
			defer bufpool.Put(out)
			if err := f.Inflate(out, d.compress(msg, true), 1<<20); err != nil || string(out.B) != msg {
				t.Fatalf("inflate: %v, equal %v", err, string(out.B) == msg)
			}
			if f.Held() > tc.maxHeld {
				t.Fatalf("holds %d bytes, want at most %d", f.Held(), tc.maxHeld)
			}
		})
	}
}

func TestInflateLimit(t *testing.T) {
	d := newStdDeflater()
	zeros := d.compress(strings.Repeat("\x00", 10<<20), true)
	for _, limit := range []int64{0, 1, 1000, 1 << 20, 10<<20 - 1} {
		f := wsproto.NewInflater(1<<15, true)
		out := bufpool.Get()
		initial := int64(cap(out.B))
		err := f.Inflate(out, zeros, limit)
		if !errors.Is(err, wsproto.ErrMessageTooBig) {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if int64(cap(out.B)) > max(initial, 2*limit+1024) {
			t.Fatalf("limit %d: output grew to %d", limit, cap(out.B))
		}
		bufpool.Put(out)
	}
	out := bufpool.Get()
	defer bufpool.Put(out)
	if err := wsproto.NewInflater(1<<15, true).Inflate(out, zeros, 10<<20); err != nil || len(out.B) != 10<<20 {
		t.Fatalf("at the limit: %v, %d bytes", err, len(out.B))
	}
}

// TestCompressRoundTrip compresses with each encoder and level and inflates
// with the standard library.
func TestCompressRoundTrip(t *testing.T) {
	for _, level := range []int{0, 1, 6, 9} {
		for _, size := range []int{1, 100, 512, 4096, 70000} {
			t.Run(fmt.Sprintf("level %d/%d bytes", level, size), func(t *testing.T) {
				msg := []byte(chat(size))
				z, ok := wsproto.Compress(nil, msg, level)
				if !ok {
					if size >= 100 {
						t.Fatalf("%d bytes of JSON did not compress", size)
					}
					return
				}
				if len(z) >= len(msg) {
					t.Fatalf("compressed to %d bytes from %d", len(z), len(msg))
				}
				got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader(syncTail))))
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("round trip differs")
				}
			})
		}
	}
}

// TestDeflaterContext: with context takeover the server's messages refer
// back into the earlier ones, which a peer that keeps its context reads.
func TestDeflaterContext(t *testing.T) {
	for _, level := range []int{0, 1} {
		t.Run(fmt.Sprint("level ", level), func(t *testing.T) {
			d := wsproto.NewDeflater(wsproto.DeflateParams{}, level)
			var stream []byte
			msgs := []string{chat(3000), chat(3000), chat(200)}
			var sizes []int
			for _, m := range msgs {
				z, ok := d.AppendCompressed(nil, []byte(m))
				if !ok {
					t.Fatal("did not compress")
				}
				sizes = append(sizes, len(z))
				stream = append(append(stream, z...), syncTail...)
			}
			if sizes[1] >= sizes[0]/2 {
				t.Fatalf("a repeated message compressed to %d bytes, the first to %d: no context", sizes[1], sizes[0])
			}
			got, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatal(err)
			}
			if string(got) != strings.Join(msgs, "") {
				t.Fatal("the stream does not inflate to the messages")
			}
			if d.Held() > 1<<15 {
				t.Fatalf("holds %d bytes", d.Held())
			}
		})
	}
}

// FuzzInflate: arbitrary compressed bytes never panic nor yield more than
// the limit; a message compressed by us inflates back to itself.
func FuzzInflate(f *testing.F) {
	d := newStdDeflater()
	f.Add(d.compress(chat(500), true), uint16(1000), []byte("x"))
	f.Add([]byte{0xff, 0xfe}, uint16(10), []byte{})
	f.Add(d.compress(strings.Repeat("a", 5000), true), uint16(100), []byte(chat(300)))
	f.Fuzz(func(t *testing.T, z []byte, limit uint16, msg []byte) {
		for _, keep := range []bool{false, true} {
			fl := wsproto.NewInflater(1<<15, !keep)
			out := bufpool.Get()
			err := fl.Inflate(out, z, int64(limit))
			if err == nil && len(out.B) > int(limit) {
				t.Fatalf("%d bytes out, limit %d", len(out.B), limit)
			}
			if err != nil && !errors.Is(err, wsproto.ErrInflate) && !errors.Is(err, wsproto.ErrMessageTooBig) {
				t.Fatalf("unexpected error %v", err)
			}
			bufpool.Put(out)
		}
		c, ok := wsproto.Compress(nil, msg, 0)
		if !ok {
			return
		}
		out := bufpool.Get()
		defer bufpool.Put(out)
		if err := wsproto.NewInflater(1<<15, false).Inflate(out, c, int64(len(msg))); err != nil || !bytes.Equal(out.B, msg) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestShortChatCompresses: chat messages of a few hundred bytes, the most
// common size in push traffic, come out smaller at the default level. (The
// fast klauspost encoders store most of them as they are: a 160-byte
// message compressed in 45 of 200 cases with the stateless one.)
func TestShortChatCompresses(t *testing.T) {
	for _, size := range []int{128, 160, 200, 256, 320, 512} {
		t.Run(fmt.Sprint(size, " bytes"), func(t *testing.T) {
			for i := range 200 {
				msg := chatmsg.Append(nil, i, size)
				z, ok := wsproto.Compress(nil, msg, 0)
				if !ok || len(z) >= len(msg) {
					t.Fatalf("message %d of %d bytes did not compress (%d bytes): %s", i, size, len(z), msg)
				}
			}
		})
	}
}
