package wsproto

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/wssd/wssd/internal/bufpool"
)

// ErrInflate: a compressed message that is not a valid DEFLATE stream.
var ErrInflate = errors.New("wsproto: invalid compressed message")

// deflateTail is the end of a sync flush, which a sender removes from each
// compressed message and the receiver puts back (RFC 7692 section 7.2.1).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// rsv1 is RSV1 in Header.Rsv: the per-message compressed bit.
const rsv1 = 0b100

// Inflater holds what a connection keeps between the compressed messages it
// receives: nothing when the peer takes no context over, otherwise the last
// inflated bytes, up to the peer's window. The DEFLATE decoder itself is
// borrowed from a pool for each message and returned at once, so an idle
// connection holds no decoder.
//
// An Inflater is not safe for concurrent use.
type Inflater struct {
	size   int    // the window kept; 0 when the peer resets its context each message
	window []byte // the last inflated bytes, at most size
}

// NewInflater returns an Inflater for a peer that compresses with a window
// of windowSize bytes ([DeflateParams.ClientWindow] for a server's peer),
// or, with noContextTakeover, starts afresh with each message.
func NewInflater(windowSize int, noContextTakeover bool) *Inflater {
	if noContextTakeover {
		return &Inflater{}
	}
	// zlib, under most browsers, widens a window of 2^8 to 2^9: keep that much.
	return &Inflater{size: max(windowSize, 512)}
}

// Held returns the bytes of window the Inflater holds now.
func (f *Inflater) Held() int { return cap(f.window) }

// Inflate appends to dst the message src inflates to, failing with
// [ErrMessageTooBig] as soon as dst would grow past limit bytes (so that a
// small message that inflates to gigabytes costs no more than limit), and
// with [ErrInflate] for data that is not DEFLATE.
func (f *Inflater) Inflate(dst *bufpool.Buffer, src []byte, limit int64) error {
	d := getDecoder()
	defer putDecoder(d)
	d.src.reset(src)
	if err := d.fr.(flate.Resetter).Reset(&d.src, f.window); err != nil {
		return ErrInflate
	}
	start := len(dst.B)
	for {
		if len(dst.B) == cap(dst.B) {
			if int64(len(dst.B)-start) > limit {
				return ErrMessageTooBig
			}
			grow := min(max(2*cap(dst.B), 512), start+int(min(limit, int64(maxInt-start-1)))+1)
			next := bufpool.GetCap(grow)
			next.B = append(next.B, dst.B...)
			dst.B, next.B = next.B, dst.B
			bufpool.Put(next)
		}
		n, err := d.fr.Read(dst.B[len(dst.B):cap(dst.B)])
		dst.B = dst.B[:len(dst.B)+n]
		if int64(len(dst.B)-start) > limit {
			return ErrMessageTooBig
		}
		switch {
		case err == nil:
			continue
		case err == io.EOF: // a final block: what follows it is not read
		case errors.Is(err, io.ErrUnexpectedEOF) && d.src.done():
			// The decoder wants the next block of a stream that goes on
			// in the next message.
		default:
			return ErrInflate
		}
		break
	}
	if f.size > 0 {
		f.window = appendWindow(f.window, dst.B[start:], f.size)
	}
	return nil
}

const maxInt = int(^uint(0) >> 1)

// appendWindow appends p to the window w of at most size bytes, dropping its
// oldest bytes. Its capacity follows what it holds, up to size.
func appendWindow(w, p []byte, size int) []byte {
	if len(p) >= size {
		p = p[len(p)-size:]
	}
	if keep := size - len(p); len(w) > keep {
		w = w[:copy(w, w[len(w)-keep:])]
	}
	if len(w)+len(p) > cap(w) {
		grown := make([]byte, len(w), min(size, max(2*cap(w), len(w)+len(p), 256)))
		copy(grown, w)
		w = grown
	}
	return append(w, p...)
}

// decoder is a pooled DEFLATE decoder with its input.
type decoder struct {
	fr  io.ReadCloser
	src tailReader
}

var decoders sync.Pool

func getDecoder() *decoder {
	if d, ok := decoders.Get().(*decoder); ok {
		return d
	}
	d := &decoder{}
	d.fr = flate.NewReader(&d.src)
	return d
}

func putDecoder(d *decoder) {
	d.src.reset(nil)
	decoders.Put(d)
}

// tailReader reads a message and then the sync-flush tail the sender
// removed. It is an io.ByteReader, so the decoder reads no further ahead
// than it needs.
type tailReader struct {
	p    []byte
	i    int // read position in p, then in deflateTail past len(p)
	tail bool
}

func (r *tailReader) reset(p []byte) { *r = tailReader{p: p} }

func (r *tailReader) done() bool { return r.tail && r.i == len(deflateTail) }

func (r *tailReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c, err := r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		b[n] = c
		n++
	}
	return n, nil
}

func (r *tailReader) ReadByte() (byte, error) {
	if !r.tail {
		if r.i < len(r.p) {
			r.i++
			return r.p[r.i-1], nil
		}
		r.tail, r.i = true, 0
	}
	if r.i < len(deflateTail) {
		r.i++
		return deflateTail[r.i-1], nil
	}
	return 0, io.EOF
}

// Deflater compresses the messages a connection sends: on its own each
// message (no context takeover), or, when the connection keeps its context,
// with the last bytes it compressed as the dictionary, which is then all it
// holds between messages. Encoders are pooled and borrowed per message.
//
// A Deflater is not safe for concurrent use.
type Deflater struct {
	level  int    // 0: klauspost's stateless encoder
	bits   int    // the peer's bound on distances (server_max_window_bits); 0: 15
	size   int    // the context kept; 0: none
	window []byte // the last compressed bytes, uncompressed, at most size
}

// DeflateLevels bound the compression levels a [Deflater] takes: 0 picks
// the stateless encoder (the fastest, with no state to pool), 1 to 9 pooled
// encoders of klauspost/compress/flate at that level.
const (
	MinDeflateLevel = 0
	MaxDeflateLevel = 9
)

// NewDeflater returns a Deflater for a connection that negotiated p, as the
// server. level is between [MinDeflateLevel] and [MaxDeflateLevel].
func NewDeflater(p DeflateParams, level int) *Deflater {
	d := &Deflater{level: min(max(level, MinDeflateLevel), MaxDeflateLevel)}
	if p.ServerMaxWindowBits != 0 && p.ServerMaxWindowBits < 15 {
		d.bits = p.ServerMaxWindowBits // no context is kept with a narrowed window
		return d
	}
	if !p.ServerNoContextTakeover {
		d.size = p.ServerWindow()
		if d.level == 0 {
			d.size = statelessDict
		}
	}
	return d
}

// statelessDict is the most of a dictionary the stateless encoder uses.
const statelessDict = 8 << 10

// Shared reports whether a message compressed with [Compress] (once, for
// many connections) may be sent on this connection: its peer did not
// narrow the server's window.
func (d *Deflater) Shared() bool { return d.bits == 0 }

// Took records that a message compressed elsewhere ([Compress]) was sent,
// so that the context stays the peer's.
func (d *Deflater) Took(p []byte) {
	if d.size > 0 {
		d.window = appendWindow(d.window, p, d.size)
	}
}

// Held returns the bytes of window the Deflater holds now.
func (d *Deflater) Held() int { return cap(d.window) }

// AppendCompressed appends p, compressed, to dst and reports whether it
// did: when compression would not make p smaller, it appends nothing and
// returns false, and p is to be sent uncompressed (which leaves the
// context as it was).
func (d *Deflater) AppendCompressed(dst, p []byte) ([]byte, bool) {
	out, ok := compress(dst, p, d.level, d.bits, d.window)
	if ok {
		d.Took(p)
	}
	return out, ok
}

// Compress appends p compressed on its own, as every connection that
// negotiated permessage-deflate with a full window can read it whatever its
// context, to dst; ok is false when that would not make p smaller.
func Compress(dst, p []byte, level int) (out []byte, ok bool) {
	return compress(dst, p, min(max(level, MinDeflateLevel), MaxDeflateLevel), 0, nil)
}

func compress(dst, p []byte, level, bits int, dict []byte) ([]byte, bool) {
	buf := bufpool.GetCap(len(p) + 64)
	defer bufpool.Put(buf)
	var err error
	switch {
	case bits != 0:
		w := getWindowWriter(bits)
		w.Reset(buf)
		_, err = w.Write(p)
		if err == nil {
			err = w.Flush()
		}
		w.Reset(nil)
		windowWriters[bits-8].Put(w)
	case level == 0:
		err = flate.StatelessDeflate(buf, p, false, dict)
	default:
		w := getLevelWriter(level)
		w.ResetDict(buf, dict)
		_, err = w.Write(p)
		if err == nil {
			err = w.Flush()
		}
		w.ResetDict(nil, nil)
		levelWriters[level-1].Put(w)
	}
	out := bytes.TrimSuffix(buf.B, deflateTail)
	if err != nil || len(out) == len(buf.B) || len(out) >= len(p) {
		return dst, false
	}
	return append(dst, out...), true
}

var (
	levelWriters  [MaxDeflateLevel]sync.Pool
	windowWriters [8]sync.Pool // server_max_window_bits 8 to 15
)

func getLevelWriter(level int) *flate.Writer {
	if w, ok := levelWriters[level-1].Get().(*flate.Writer); ok {
		return w
	}
	w, _ := flate.NewWriter(nil, level) // the level is in range
	return w
}

func getWindowWriter(bits int) *flate.Writer {
	if w, ok := windowWriters[bits-8].Get().(*flate.Writer); ok {
		return w
	}
	w, _ := flate.NewWriterWindow(nil, 1<<bits) // 256 to 32768 bytes: in range
	return w
}

// KeepsContext reports whether the Deflater compresses with a dictionary of
// what it sent before, and must then see the messages in the order they
// are sent.
func (d *Deflater) KeepsContext() bool { return d.size > 0 }

// AppendCompressedFrame appends an unmasked frame with RSV1 set, as a
// server sends a compressed message, carrying the compressed payload.
func AppendCompressedFrame(dst []byte, op Opcode, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: true, Rsv: rsv1, Op: op, Length: int64(len(payload))})
	return append(dst, payload...)
}
