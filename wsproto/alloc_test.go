package wsproto_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/race"
	"github.com/wssd/wssd/wsproto"
)

// The hot path allocates nothing: parsing a frame in place, reassembling a
// fragmented message into a pooled buffer, and building a server frame.
func TestAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation budgets are checked without -race: sync.Pool drops items at random under it")
	}
	text := frame(wsproto.OpText, true, "h\u00e9llo, world")
	bin := frame(wsproto.OpBinary, true, string(bytes.Repeat([]byte{7}, 4096)))
	frag := cat(frame(wsproto.OpText, false, "hel"), frame(wsproto.OpContinuation, true, "lo"))
	payload := bytes.Repeat([]byte("x"), 512)
	cases := []struct {
		name string
		run  func(p *wsproto.Parser, scratch []byte)
	}{
		{"parse text frame", func(p *wsproto.Parser, scratch []byte) {
			copy(scratch, text)
			_, _, _ = p.Parse(scratch[:len(text)])
		}},
		{"parse 4 KiB binary frame", func(p *wsproto.Parser, scratch []byte) {
			copy(scratch, bin)
			_, _, _ = p.Parse(scratch[:len(bin)])
		}},
		{"reassemble two fragments", func(p *wsproto.Parser, scratch []byte) {
			copy(scratch, frag)
			b := scratch[:len(frag)]
			_, n, _ := p.Parse(b)
			_, _, _ = p.Parse(b[n:])
		}},
		{"append server frame", func(_ *wsproto.Parser, scratch []byte) {
			_ = wsproto.AppendFrame(scratch[:0], wsproto.OpBinary, true, payload)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p wsproto.Parser
			scratch := make([]byte, 8192)
			tc.run(&p, scratch) // warm the pools
			if n := testing.AllocsPerRun(200, func() { tc.run(&p, scratch) }); n != 0 {
				t.Fatalf("%v allocations per run, want 0", n)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{64, 512, 4096, 65536} {
		for _, op := range []wsproto.Opcode{wsproto.OpBinary, wsproto.OpText} {
			in := frame(op, true, string(bytes.Repeat([]byte("a"), size)))
			b.Run(op.String()+"/"+itoa(size), func(b *testing.B) {
				var p wsproto.Parser
				scratch := make([]byte, len(in))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(scratch, in)
					if _, _, err := p.Parse(scratch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	payload := bytes.Repeat([]byte("a"), 512)
	dst := make([]byte, 0, 1024)
	b.SetBytes(512)
	b.ReportAllocs()
	for b.Loop() {
		dst = wsproto.AppendFrame(dst[:0], wsproto.OpBinary, true, payload)
	}
}

func itoa(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// Compressing a message and inflating one, with and without a window,
// allocate nothing once the pools are warm.
func TestDeflateAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation budgets are checked without -race: sync.Pool drops items at random under it")
	}
	msg := []byte(chat(512))
	z, _ := wsproto.Compress(nil, msg, 0)
	scratch := make([]byte, 0, 1024)
	out := &bufpool.Buffer{B: make([]byte, 0, 1024)}
	keep := wsproto.NewInflater(1<<15, false)
	reset := wsproto.NewInflater(1<<15, true)
	shared := wsproto.NewDeflater(wsproto.DeflateParams{ServerNoContextTakeover: true}, 0)
	level := wsproto.NewDeflater(wsproto.DeflateParams{ServerNoContextTakeover: true}, 1)
	cases := []struct {
		name string
		run  func()
	}{
		{"compress 512 B stateless", func() { _, _ = shared.AppendCompressed(scratch[:0], msg) }},
		{"compress 512 B level 1", func() { _, _ = level.AppendCompressed(scratch[:0], msg) }},
		{"inflate 512 B", func() { out.B = out.B[:0]; _ = reset.Inflate(out, z, 1<<20) }},
		{"inflate 512 B into a window", func() { out.B = out.B[:0]; _ = keep.Inflate(out, z, 1<<20) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 { // warm the pools, fill the window
				tc.run()
			}
			if n := testing.AllocsPerRun(200, tc.run); n != 0 {
				t.Fatalf("%v allocations per run, want 0", n)
			}
		})
	}
}
