package load

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// testPayload returns n bytes whose pattern is not periodic in 4, so that a
// mask applied at the wrong offset shows.
func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + i>>8 + 7)
	}
	return p
}

// serverFrame builds an unmasked frame, FIN set, as a server sends it.
func serverFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// frame64 builds a frame header with a 64-bit length and no payload.
func frame64(op byte, masked bool, n uint64) []byte {
	b1 := byte(127)
	if masked {
		b1 |= 0x80
	}
	b := binary.BigEndian.AppendUint64([]byte{0x80 | op, b1}, n)
	if masked {
		b = append(b, maskKey[:]...)
	}
	return b
}

// unmask returns p XORed with maskKey from payload offset 0.
func unmask(p []byte) []byte {
	out := make([]byte, len(p))
	for i := range p {
		out[i] = p[i] ^ maskKey[i&3]
	}
	return out
}

// gotFrame is what next returned, with the prefix copied: next's prefix is
// overwritten by the following call.
type gotFrame struct {
	op     byte
	length int
	prefix []byte
}

func (g gotFrame) String() string {
	return fmt.Sprintf("{op %#x len %d prefix %q}", g.op, g.length, g.prefix)
}

func wantFrame(op byte, payload []byte) gotFrame {
	return gotFrame{op: op, length: len(payload), prefix: payload[:min(len(payload), prefixLen)]}
}

func equalFrames(a, b []gotFrame) bool {
	return slices.EqualFunc(a, b, func(x, y gotFrame) bool {
		return x.op == y.op && x.length == y.length && bytes.Equal(x.prefix, y.prefix)
	})
}

// readFrames calls next until it fails, checking the invariants every
// returned frame must satisfy.
func readFrames(t testing.TB, r io.Reader, bufSize int) ([]gotFrame, error) {
	t.Helper()
	f := &frameReader{r: &guardReader{r: r, t: t}, buf: make([]byte, bufSize)}
	var got []gotFrame
	for {
		op, n, prefix, err := f.next()
		if err != nil {
			if op != 0 || n != 0 || prefix != nil {
				t.Fatalf("next failed with %v but returned op %#x, length %d, prefix %q", err, op, n, prefix)
			}
			return got, err
		}
		if n < 0 || len(prefix) > prefixLen || len(prefix) != min(n, prefixLen) || op > 0x0f {
			t.Fatalf("next returned op %#x, length %d, prefix of %d bytes", op, n, len(prefix))
		}
		if len(f.buf) != bufSize {
			t.Fatalf("buffer is %d bytes, was %d", len(f.buf), bufSize)
		}
		got = append(got, gotFrame{op, n, bytes.Clone(prefix)})
	}
}

// chunkReader hands out data in random chunks of 1 to max bytes.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(1+c.rng.IntN(c.max), len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// countReader counts Read calls and the largest slice asked for.
type countReader struct {
	r       io.Reader
	calls   int
	maxRead int
}

func (c *countReader) Read(p []byte) (int, error) {
	c.calls++
	c.maxRead = max(c.maxRead, len(p))
	return c.r.Read(p)
}

// guardReader fails the test on a Read into an empty slice: with a buffer
// of at least a header's 14 bytes the reader has no reason to make one, and
// some readers (iotest.DataErrReader) spin on it.
type guardReader struct {
	r io.Reader
	t testing.TB
}

var errEmptyRead = errors.New("Read with an empty slice")

func (g *guardReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		g.t.Error(errEmptyRead)
		return 0, errEmptyRead
	}
	return g.r.Read(p)
}

// stuckReader returns (0, nil) forever.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// loopReader serves data over and over, each Read as much as fits.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	k := copy(p, l.data[l.off:])
	l.off = (l.off + k) % len(l.data)
	return k, nil
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		header []byte // up to the mask key
	}{
		{"empty", 0, []byte{0x82, 0x80}},
		{"7-bit max 125", 125, []byte{0x82, 0x80 | 125}},
		{"16-bit min 126", 126, []byte{0x82, 0x80 | 126, 0x00, 0x7e}},
		{"16-bit max 65535", 65535, []byte{0x82, 0x80 | 126, 0xff, 0xff}},
		{"64-bit min 65536", 65536, []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := testPayload(tt.n)
			orig := bytes.Clone(payload)
			dst := []byte("keep")
			b := appendFrame(dst, opBinary, payload)
			if !bytes.Equal(b[:4], []byte("keep")) {
				t.Fatalf("dst's bytes were overwritten: %q", b[:4])
			}
			b = b[4:]
			hl := len(tt.header) + 4
			if len(b) != hl+tt.n {
				t.Fatalf("frame is %d bytes, want %d header + %d payload", len(b), hl, tt.n)
			}
			if b[0] != 0x80|opBinary {
				t.Errorf("byte 0 = %#x, want FIN|binary %#x", b[0], 0x80|opBinary)
			}
			if b[1]&0x80 == 0 {
				t.Errorf("mask bit not set: byte 1 = %#x", b[1])
			}
			if !bytes.Equal(b[:len(tt.header)], tt.header) {
				t.Errorf("header = % x, want % x", b[:len(tt.header)], tt.header)
			}
			if !bytes.Equal(b[len(tt.header):hl], maskKey[:]) {
				t.Errorf("mask key = % x, want % x", b[len(tt.header):hl], maskKey)
			}
			if !bytes.Equal(unmask(b[hl:]), payload) {
				t.Errorf("unmasked payload differs from the payload")
			}
			if tt.n >= 4 && bytes.Equal(b[hl:], payload) {
				t.Errorf("payload was not masked")
			}
			if !bytes.Equal(payload, orig) {
				t.Errorf("appendFrame modified its payload argument")
			}
		})
	}
}

func TestAppendFrameOpcodes(t *testing.T) {
	for _, op := range []byte{opCont, opText, opBinary, opClose, opPing, opPong} {
		b := appendFrame(nil, op, []byte("x"))
		if b[0] != 0x80|op {
			t.Errorf("op %#x: byte 0 = %#x, want %#x", op, b[0], 0x80|op)
		}
	}
}

func TestFrameReaderRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 3, 4, 5, 124, 125, 126, 127, 1000, 65535, 65536, 64 << 10, 100_000}
	ops := []byte{opText, opBinary, opPing, opClose}
	for _, masked := range []bool{true, false} {
		for _, op := range ops {
			for _, n := range sizes {
				name := fmt.Sprintf("masked=%v/op=%#x/len=%d", masked, op, n)
				t.Run(name, func(t *testing.T) {
					payload := testPayload(n)
					var frame []byte
					if masked {
						frame = appendFrame(nil, op, payload)
					} else {
						frame = serverFrame(op, payload)
					}
					got, err := readFrames(t, bytes.NewReader(frame), 512)
					if err != io.EOF {
						t.Fatalf("after the frame: err = %v, want io.EOF", err)
					}
					want := []gotFrame{wantFrame(op, payload)}
					if !equalFrames(got, want) {
						t.Fatalf("got %v, want %v", got, want)
					}
				})
			}
		}
	}
}

// The opcode is the first byte's low four bits, whatever FIN and RSV1-3 say.
func TestFrameReaderHeaderBits(t *testing.T) {
	payload := []byte("abcdef")
	for _, b0 := range []byte{0x01, 0x41, 0xc1, 0xf2, 0x70, 0x8a} {
		frame := serverFrame(0, payload)
		frame[0] = b0
		mframe := appendFrame(nil, 0, payload)
		mframe[0] = b0
		for _, fr := range [][]byte{frame, mframe} {
			got, err := readFrames(t, bytes.NewReader(fr), 512)
			want := []gotFrame{wantFrame(b0&0x0f, payload)}
			if err != io.EOF || !equalFrames(got, want) {
				t.Errorf("byte 0 %#x: got %v, %v; want %v, io.EOF", b0, got, err, want)
			}
		}
	}
}

// A 64 KiB frame streams through a 512-byte buffer: no Read is asked for
// more than the buffer, the buffer does not grow, and the frame after it is
// read in step.
func TestFrameReaderLargeFrameSmallBuffer(t *testing.T) {
	big := testPayload(64 << 10)
	small := []byte("after")
	for _, masked := range []bool{true, false} {
		t.Run(fmt.Sprintf("masked=%v", masked), func(t *testing.T) {
			var stream []byte
			if masked {
				stream = appendFrame(stream, opBinary, big)
				stream = appendFrame(stream, opText, small)
			} else {
				stream = serverFrame(opBinary, big)
				stream = append(stream, serverFrame(opText, small)...)
			}
			cr := &countReader{r: bytes.NewReader(stream)}
			got, err := readFrames(t, cr, 512)
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			want := []gotFrame{wantFrame(opBinary, big), wantFrame(opText, small)}
			if !equalFrames(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if cr.maxRead > 512 {
				t.Errorf("a Read asked for %d bytes, more than the 512-byte buffer", cr.maxRead)
			}
			if min := len(stream) / 512; cr.calls < min {
				t.Errorf("%d Reads for %d bytes through 512 bytes, want at least %d", cr.calls, len(stream), min)
			}
		})
	}
}

// mixedStream is frames of every header form, masked and not, back to back.
func mixedStream() (stream []byte, want []gotFrame) {
	frames := []struct {
		op     byte
		n      int
		masked bool
	}{
		{opText, 5, true},
		{opPing, 0, false},
		{opBinary, 125, false},
		{opBinary, 126, true},
		{opText, 300, false},
		{opBinary, 65536, true},
		{opPong, 4, true},
		{opBinary, 70_000, false},
		{opText, 0, true},
		{opClose, 2, false},
	}
	for _, fr := range frames {
		p := testPayload(fr.n)
		if fr.masked {
			stream = appendFrame(stream, fr.op, p)
		} else {
			stream = append(stream, serverFrame(fr.op, p)...)
		}
		want = append(want, wantFrame(fr.op, p))
	}
	return stream, want
}

// However the bytes arrive, the frames read are the same.
func TestFrameReaderChunking(t *testing.T) {
	stream, want := mixedStream()
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) }},
		{"random 1-7", func() io.Reader { return &chunkReader{stream, rand.New(rand.NewPCG(1, 2)), 7} }},
		{"random 1-1000", func() io.Reader { return &chunkReader{stream, rand.New(rand.NewPCG(3, 4)), 1000} }},
	}
	// 14 bytes holds the longest header: 2 + 8 length + 4 mask.
	for _, bufSize := range []int{14, 15, 512, 2048} {
		for _, rd := range readers {
			t.Run(fmt.Sprintf("buf=%d/%s", bufSize, rd.name), func(t *testing.T) {
				got, err := readFrames(t, rd.r(), bufSize)
				if err != io.EOF {
					t.Fatalf("err = %v after %d frames, want io.EOF", err, len(got))
				}
				if !equalFrames(got, want) {
					t.Fatalf("got %v\nwant %v", got, want)
				}
			})
		}
	}
}

// Several small frames arriving in one Read are all read from it.
func TestFrameReaderBackToBack(t *testing.T) {
	var stream []byte
	var want []gotFrame
	for i, op := range []byte{opText, opPing, opBinary, opPong, opText, opClose} {
		p := testPayload(i * 20)
		if i%2 == 0 {
			stream = appendFrame(stream, op, p)
		} else {
			stream = append(stream, serverFrame(op, p)...)
		}
		want = append(want, wantFrame(op, p))
	}
	cr := &countReader{r: bytes.NewReader(stream)}
	f := &frameReader{r: cr, buf: make([]byte, 2048)}
	for i, w := range want {
		op, n, prefix, err := f.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if g := (gotFrame{op, n, prefix}); !equalFrames([]gotFrame{g}, []gotFrame{w}) {
			t.Fatalf("frame %d: got %v, want %v", i, g, w)
		}
	}
	if cr.calls != 1 {
		t.Errorf("%d Reads for %d frames in %d bytes, want 1", cr.calls, len(want), len(stream))
	}
	if _, _, _, err := f.next(); err != io.EOF {
		t.Errorf("after the frames: err = %v, want io.EOF", err)
	}
}

func TestFrameReaderErrors(t *testing.T) {
	masked := appendFrame(nil, opText, testPayload(10))
	frame16 := serverFrame(opBinary, testPayload(300))
	frame64b := serverFrame(opBinary, testPayload(70_000))
	errRead := errors.New("read failed")
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"empty", bytes.NewReader(nil), io.EOF},
		{"one byte", bytes.NewReader([]byte{0x81}), io.EOF},
		{"16-bit length cut", bytes.NewReader(frame16[:3]), io.EOF},
		{"64-bit length cut", bytes.NewReader(frame64b[:9]), io.EOF},
		{"mask key cut", bytes.NewReader(masked[:4]), io.EOF},
		{"payload cut", bytes.NewReader(masked[:len(masked)-1]), io.EOF},
		{"16-bit payload cut", bytes.NewReader(frame16[:200]), io.EOF},
		{"64-bit payload cut, one byte a Read", iotest.OneByteReader(bytes.NewReader(frame64b[:40_000])), io.EOF},
		{"64-bit length 1<<30+1", bytes.NewReader(frame64(opBinary, false, 1<<30+1)), errFrame},
		{"64-bit length 1<<30+1 masked", bytes.NewReader(frame64(opBinary, true, 1<<30+1)), errFrame},
		{"64-bit length top bit", bytes.NewReader(frame64(opBinary, false, 1<<63)), errFrame},
		{"64-bit length top bit masked", bytes.NewReader(frame64(opBinary, true, 1<<63|5)), errFrame},
		{"64-bit length all ones", bytes.NewReader(frame64(opBinary, false, math.MaxUint64)), errFrame},
		{"64-bit length max int64", bytes.NewReader(frame64(opBinary, false, math.MaxInt64)), errFrame},
		// 1<<30 itself is allowed: the header is accepted and the
		// missing payload is what fails.
		{"64-bit length 1<<30, no payload", bytes.NewReader(frame64(opBinary, false, 1<<30)), io.EOF},
		{"no progress", stuckReader{}, io.ErrNoProgress},
		{"no progress after a partial header", io.MultiReader(bytes.NewReader(frame16[:1]), stuckReader{}), io.ErrNoProgress},
		{"no progress in the payload", io.MultiReader(bytes.NewReader(frame64b[:1000]), stuckReader{}), io.ErrNoProgress},
		{"reader error", iotest.ErrReader(errRead), errRead},
		{"reader error in the payload", io.MultiReader(bytes.NewReader(frame16[:100]), iotest.ErrReader(errRead)), errRead},
		{"timeout", iotest.TimeoutReader(bytes.NewReader(frame16[:100])), iotest.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &frameReader{r: tt.r, buf: make([]byte, 512)}
			op, n, prefix, err := f.next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if op != 0 || n != 0 || prefix != nil {
				t.Errorf("with the error: op %#x, length %d, prefix %q; want zero values", op, n, prefix)
			}
		})
	}
}

// Truncation is reported as io.EOF, never as success, at every cut point of
// a stream.
func TestFrameReaderEveryCut(t *testing.T) {
	var stream []byte
	stream = appendFrame(stream, opText, testPayload(130))
	stream = append(stream, serverFrame(opPing, []byte("hi"))...)
	end1 := 2 + 2 + 4 + 130
	for cut := range len(stream) {
		got, err := readFrames(t, iotest.OneByteReader(bytes.NewReader(stream[:cut])), 14)
		if err != io.EOF {
			t.Fatalf("cut at %d: err = %v, want io.EOF", cut, err)
		}
		wantN := 0
		if cut >= end1 {
			wantN = 1
		}
		if len(got) != wantN {
			t.Fatalf("cut at %d: %d whole frames, want %d", cut, len(got), wantN)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		round, nanos int64
	}{
		{"zero", 0, 0},
		{"typical", 17, 1_767_225_600_123_456_789},
		{"negative", -1, -42},
		{"extremes", math.MaxInt64, math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stamp := appendStamp(nil, tt.round, tt.nanos)
			if want := fmt.Sprintf("%d,%d,", tt.round, tt.nanos); string(stamp) != want {
				t.Fatalf("appendStamp = %q, want %q", stamp, want)
			}
			for _, tail := range []string{"", "x", "xxxxxxxxxx", "1,2,"} {
				r, n, ok := parseStamp(append(bytes.Clone(stamp), tail...))
				if !ok || r != tt.round || n != tt.nanos {
					t.Errorf("parseStamp(%q) = %d, %d, %v; want %d, %d, true", string(stamp)+tail, r, n, ok, tt.round, tt.nanos)
				}
			}
			// appendStamp appends.
			if b := appendStamp([]byte("ab"), tt.round, tt.nanos); !bytes.Equal(b, append([]byte("ab"), stamp...)) {
				t.Errorf("appendStamp onto %q = %q", "ab", b)
			}
		})
	}
}

// A broadcast's stamp survives the trip a client sees: the server sends the
// message after "broadcast:", padded, unmasked; the reader keeps its prefix.
func TestStampThroughFrame(t *testing.T) {
	payload := appendStamp(nil, 3, 1_767_225_600_000_000_001)
	payload = append(payload, strings.Repeat("x", 4096)...)
	for _, frame := range [][]byte{serverFrame(opText, payload), appendFrame(nil, opText, payload)} {
		f := &frameReader{r: iotest.HalfReader(bytes.NewReader(frame)), buf: make([]byte, 64)}
		_, n, prefix, err := f.next()
		if err != nil || n != len(payload) {
			t.Fatalf("next: length %d, err %v", n, err)
		}
		r, ns, ok := parseStamp(prefix)
		if !ok || r != 3 || ns != 1_767_225_600_000_000_001 {
			t.Fatalf("parseStamp(prefix) = %d, %d, %v", r, ns, ok)
		}
	}
}

func TestParseStampMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"123",
		"123456789",
		"123,",                    // one field
		"1,2",                     // second field unterminated
		",",                       // empty field
		",,",                      // empty fields
		"1,,",                     // empty second field
		"abc,1,",                  // non-numeric round
		"1,abc,",                  // non-numeric nanos
		"1 ,2,",                   // space
		"0x1,2,",                  // not base 10
		"1.5,2,",                  // not an integer
		"broadcast:1,2,",          // server prefix not stripped
		"99999999999999999999,1,", // overflow
		"1,99999999999999999999,", // overflow
	} {
		if r, n, ok := parseStamp([]byte(s)); ok {
			t.Errorf("parseStamp(%q) = %d, %d, true; want ok=false", s, r, n)
		}
	}
}

// Reading a 512-byte frame in steady state allocates nothing.
func TestFrameReaderAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	payload := testPayload(512)
	for _, tc := range []struct {
		name  string
		frame []byte
		op    byte
	}{
		{"server", serverFrame(opBinary, payload), opBinary},
		{"masked", appendFrame(nil, opText, payload), opText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &frameReader{r: &loopReader{data: tc.frame}, buf: make([]byte, 2048)}
			var bad error
			allocs := testing.AllocsPerRun(1000, func() {
				op, n, prefix, err := f.next()
				if err != nil || op != tc.op || n != 512 || len(prefix) != prefixLen {
					bad = fmt.Errorf("next = %#x, %d, %d bytes, %v", op, n, len(prefix), err)
				}
			})
			if bad != nil {
				t.Fatal(bad)
			}
			if allocs != 0 {
				t.Errorf("next allocates %v times a frame, want 0", allocs)
			}
		})
	}
}

// refFrames decodes data whole, independently of frameReader: the frames it
// holds and the error reading them must end with.
func refFrames(data []byte) ([]gotFrame, error) {
	var out []gotFrame
	for {
		if len(data) < 2 {
			return out, io.EOF
		}
		op, masked, n := data[0]&0x0f, data[1]&0x80 != 0, uint64(data[1]&0x7f)
		hl := 2
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if masked {
			hl += 4
		}
		if len(data) < hl {
			return out, io.EOF
		}
		switch n {
		case 126:
			n = uint64(data[2])<<8 | uint64(data[3])
		case 127:
			n = binary.BigEndian.Uint64(data[2:10])
			if n > 1<<30 {
				return out, errFrame
			}
		}
		if uint64(len(data)-hl) < n {
			return out, io.EOF
		}
		p := bytes.Clone(data[hl : hl+int(n)])
		if masked {
			key := data[hl-4 : hl]
			for i := range p {
				p[i] ^= key[i&3]
			}
		}
		out = append(out, wantFrame(op, p))
		data = data[hl+int(n):]
	}
}

// FuzzFrameReader reads data as a stream of frames, through a small buffer
// and random chunks, and compares with refFrames; then it frames data[1:]
// with opcode data[0]&0x0f, masked and not, and reads it back.
func FuzzFrameReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := refFrames(data)
		var seed uint64
		for _, b := range data[:min(len(data), 8)] {
			seed = seed<<8 | uint64(b)
		}
		for _, r := range []io.Reader{
			bytes.NewReader(data),
			&chunkReader{data, rand.New(rand.NewPCG(seed, uint64(len(data)))), 17},
		} {
			got, err := readFrames(t, r, 14+int(seed%64))
			if err != wantErr {
				t.Fatalf("err = %v, want %v", err, wantErr)
			}
			if !equalFrames(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		}

		// Whatever a prefix holds, a stamp parsed from it survives a round
		// trip.
		for _, g := range want {
			if r, n, ok := parseStamp(g.prefix); ok {
				if r2, n2, ok2 := parseStamp(appendStamp(nil, r, n)); !ok2 || r2 != r || n2 != n {
					t.Fatalf("stamp %d,%d from %q reparsed as %d,%d,%v", r, n, g.prefix, r2, n2, ok2)
				}
			}
		}

		if len(data) == 0 {
			return
		}
		op, payload := data[0]&0x0f, data[1:]
		w := []gotFrame{wantFrame(op, payload)}
		for _, frame := range [][]byte{appendFrame(nil, op, payload), serverFrame(op, payload)} {
			got, err := readFrames(t, iotest.HalfReader(bytes.NewReader(frame)), 14+len(data)%32)
			if err != io.EOF {
				t.Fatalf("after one frame: err = %v, want io.EOF", err)
			}
			if !equalFrames(got, w) {
				t.Fatalf("got %v, want %v", got, w)
			}
		}
	})
}
