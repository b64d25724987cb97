package wsproto_test

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/flate"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/chatmsg"
	"github.com/wssd/wssd/wsproto"
)

// The deflate benchmarks compare the encoders and decoders permessage-deflate
// could use, on JSON chat messages of the sizes the bench echoes: klauspost's
// stateless encoder (what the engine uses at Level 0), its pooled encoders at
// levels 1 and 6, and the standard library's at level 1 (gorilla's default);
// klauspost's decoder against the standard library's. Each reports ns/op,
// allocations and, for encoders, "out/in": compressed bytes per input byte.
//
//	go test -run XXX -bench 'Deflate|Inflate' -benchmem ./wsproto

// 160 B is a typical chat message, where the encoders differ most in whether
// they compress at all.
var deflateSizes = []int{64, 160, 512, 4 << 10, 64 << 10}

// chatMessages returns 16 different chat messages of size bytes.
func chatMessages(size int) [][]byte {
	msgs := make([][]byte, 16)
	for i := range msgs {
		msgs[i] = chatmsg.Append(nil, i, size)
	}
	return msgs
}

// pooledWriter is a DEFLATE encoder borrowed from a pool for one message, as
// a server without context takeover uses one.
type pooledWriter interface {
	Reset(io.Writer)
	Write([]byte) (int, error)
	Flush() error
}

func pooled(newWriter func() pooledWriter) func(dst *bytes.Buffer, p []byte) error {
	var pool sync.Pool
	return func(dst *bytes.Buffer, p []byte) error {
		w, ok := pool.Get().(pooledWriter)
		if !ok {
			w = newWriter()
		}
		defer pool.Put(w)
		w.Reset(dst)
		if _, err := w.Write(p); err != nil {
			return err
		}
		return w.Flush()
	}
}

func klauspostLevel(level int) func() pooledWriter {
	return func() pooledWriter {
		w, _ := flate.NewWriter(nil, level)
		return w
	}
}

func stdLevel(level int) func() pooledWriter {
	return func() pooledWriter {
		w, _ := stdflate.NewWriter(nil, level)
		return w
	}
}

func BenchmarkDeflate(b *testing.B) {
	encoders := []struct {
		name string
		enc  func(dst *bytes.Buffer, p []byte) error
	}{
		{"klauspost-stateless", func(dst *bytes.Buffer, p []byte) error { return flate.StatelessDeflate(dst, p, false, nil) }},
		{"klauspost-L1", pooled(klauspostLevel(1))},
		{"klauspost-L6", pooled(klauspostLevel(6))},
		{"std-L1", pooled(stdLevel(1))},
	}
	for _, size := range deflateSizes {
		msgs := chatMessages(size)
		for _, e := range encoders {
			b.Run(fmt.Sprintf("%s/%d", e.name, size), func(b *testing.B) {
				var dst bytes.Buffer
				var in, out int64
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					dst.Reset()
					p := msgs[i%len(msgs)]
					if err := e.enc(&dst, p); err != nil {
						b.Fatal(err)
					}
					in += int64(len(p))
					out += int64(dst.Len() - 4) // the sync-flush tail is not sent
				}
				b.ReportMetric(float64(out)/float64(in), "out/in")
			})
		}
		// The engine's own path: wsproto.Compress at the level Config
		// gives it by default (0, the stateless encoder), pooled buffers
		// and the tail removed included.
		b.Run(fmt.Sprintf("wsproto-Compress/%d", size), func(b *testing.B) {
			var dst []byte
			var in, out int64
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := msgs[i%len(msgs)]
				var ok bool
				if dst, ok = wsproto.Compress(dst[:0], p, 0); !ok {
					dst = append(dst[:0], p...) // sent uncompressed
				}
				in += int64(len(p))
				out += int64(len(dst))
			}
			b.ReportMetric(float64(out)/float64(in), "out/in")
		})
	}
}

// deflated returns msgs compressed as a browser sends them (zlib's default
// level, 6), each ending with the sync-flush tail a receiver puts back and
// an empty final block, so that a decoder reaches io.EOF.
func deflated(b *testing.B, msgs [][]byte) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		var buf bytes.Buffer
		w, _ := stdflate.NewWriter(&buf, 6)
		if _, err := w.Write(m); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		out[i] = append(buf.Bytes(), 0x01, 0x00, 0x00, 0xff, 0xff)
	}
	return out
}

func BenchmarkInflate(b *testing.B) {
	decoders := []struct {
		name      string
		newReader func(io.Reader) io.ReadCloser
	}{
		{"klauspost", flate.NewReader},
		{"std", stdflate.NewReader},
	}
	for _, size := range deflateSizes {
		msgs := chatMessages(size)
		comp := deflated(b, msgs)
		for _, d := range decoders {
			b.Run(fmt.Sprintf("%s/%d", d.name, size), func(b *testing.B) {
				var pool sync.Pool
				var src bytes.Reader
				dst := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					src.Reset(comp[i%len(comp)])
					r, ok := pool.Get().(io.ReadCloser)
					if ok {
						if err := r.(stdflate.Resetter).Reset(&src, nil); err != nil {
							b.Fatal(err)
						}
					} else {
						r = d.newReader(&src)
					}
					n, err := io.ReadFull(r, dst)
					if err != nil || n != size {
						b.Fatalf("%d bytes: %v", n, err)
					}
					if _, err := r.Read(dst[:1]); !errors.Is(err, io.EOF) {
						b.Fatalf("after the message: %v", err)
					}
					pool.Put(r)
				}
			})
		}
		// The engine's path: a pooled decoder, the tail put back, the
		// output limit checked, into a pooled buffer.
		b.Run(fmt.Sprintf("wsproto-Inflater/%d", size), func(b *testing.B) {
			in := make([][]byte, len(comp))
			for i, c := range comp {
				in[i] = c[:len(c)-9] // as sent: no tail, no final block
			}
			f := wsproto.NewInflater(0, true)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst := bufpool.GetCap(size)
				if err := f.Inflate(dst, in[i%len(in)], 1<<20); err != nil || len(dst.B) != size {
					b.Fatalf("%d bytes: %v", len(dst.B), err)
				}
				bufpool.Put(dst)
			}
		})
	}
}
