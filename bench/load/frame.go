package load

import (
	"encoding/binary"
	"errors"
	"io"
)

// Opcodes.
const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// maskKey is the one masking key every client frame uses: RFC 6455 wants a
// fresh one per frame to defeat cache poisoning by intermediaries, which a
// benchmark on loopback does not have, and a fixed key lets a frame be built
// once and written by every connection.
var maskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// appendFrame appends a masked client frame, FIN set.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	return appendFrameRsv(dst, op, 0, payload)
}

// rsv1 is the first byte's RSV1 bit: a compressed message's first frame.
const rsv1 = 0x40

// appendFrameRsv appends a masked client frame, FIN set, with the RSV bits
// in rsv (rsv1 for a compressed message).
func appendFrameRsv(dst []byte, op, rsv byte, payload []byte) []byte {
	dst = append(dst, 0x80|rsv|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, maskKey[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= maskKey[i&3]
	}
	return dst
}

// errFrame is returned for a frame the client cannot follow.
var errFrame = errors.New("load: malformed frame")

// prefixLen is how much of each payload a reader keeps: enough for a
// control frame and a broadcast stamp.
const prefixLen = 125

// frameReader reads frames from r through buf, keeping only the first
// prefixLen bytes of each payload: a 64 KiB echo streams through a small
// buffer.
type frameReader struct {
	r    io.Reader
	buf  []byte
	i, n int // unread bytes are buf[i:n]

	prefix [prefixLen]byte

	// fin and rsv1 are the last frame's bits.
	fin, rsv1 bool
	// whole, when collect is set, is the last frame's whole payload
	// (unmasked), for compressed messages, which are inflated whole.
	collect bool
	whole   []byte
}

// fill reads more bytes, compacting first if the buffer's end is reached.
func (f *frameReader) fill() error {
	if f.i > 0 && f.n == len(f.buf) || f.i == f.n {
		copy(f.buf, f.buf[f.i:f.n])
		f.n -= f.i
		f.i = 0
	}
	m, err := f.r.Read(f.buf[f.n:])
	f.n += m
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need makes k bytes readable.
func (f *frameReader) need(k int) error {
	for f.n-f.i < k {
		if err := f.fill(); err != nil {
			return err
		}
	}
	return nil
}

// next reads one frame: its opcode, payload length and the first bytes of
// its payload (unmasked, if the frame was masked: the raw echo ceiling
// returns the client's own frames).
func (f *frameReader) next() (op byte, length int, prefix []byte, err error) {
	if err := f.need(2); err != nil {
		return 0, 0, nil, err
	}
	b0, b1 := f.buf[f.i], f.buf[f.i+1]
	op = b0 & 0x0f
	f.fin, f.rsv1 = b0&0x80 != 0, b0&rsv1 != 0
	masked := b1&0x80 != 0
	hl := 2
	n := int64(b1 & 0x7f)
	switch n {
	case 126:
		hl += 2
	case 127:
		hl += 8
	}
	if masked {
		hl += 4
	}
	if err := f.need(hl); err != nil {
		return 0, 0, nil, err
	}
	h := f.buf[f.i : f.i+hl]
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		n = int64(binary.BigEndian.Uint64(h[2:]))
		if n < 0 || n > 1<<30 {
			return 0, 0, nil, errFrame
		}
	}
	var key [4]byte
	if masked {
		copy(key[:], h[hl-4:])
	}
	f.i += hl
	length = int(n)
	kept := 0
	f.whole = f.whole[:0]
	for rest := length; rest > 0; {
		if f.i == f.n {
			if err := f.fill(); err != nil {
				return 0, 0, nil, err
			}
		}
		take := min(rest, f.n-f.i)
		if kept < prefixLen {
			c := copy(f.prefix[kept:], f.buf[f.i:f.i+take])
			if masked {
				for j := kept; j < kept+c; j++ {
					f.prefix[j] ^= key[j&3]
				}
			}
			kept += c
		}
		if f.collect {
			start := len(f.whole)
			f.whole = append(f.whole, f.buf[f.i:f.i+take]...)
			if masked {
				for j := start; j < len(f.whole); j++ {
					f.whole[j] ^= key[j&3]
				}
			}
		}
		f.i += take
		rest -= take
	}
	return op, length, f.prefix[:kept], nil
}
