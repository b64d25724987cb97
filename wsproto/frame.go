package wsproto

import (
	"encoding/binary"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// MaxHeaderSize is the largest frame header: 2 bytes, an 8-byte length and a
// 4-byte mask.
const MaxHeaderSize = 14

// Header is a decoded frame header (RFC 6455, section 5.2).
type Header struct {
	Fin    bool
	Rsv    byte // RSV1, RSV2, RSV3 as bits 2, 1, 0
	Op     Opcode
	Masked bool
	Mask   [4]byte
	Length int64
}

// ParseHeader decodes the frame header at the start of b and returns it with
// its size in bytes. It returns [io.ErrShortBuffer] while b holds only part of
// the header, and [ErrLengthEncoding] for a length that is not in its shortest
// form or does not fit in 63 bits. It checks nothing else: the rules that
// depend on the connection's role and state are the Parser's.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 0, io.ErrShortBuffer
	}
	h := Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7,
		Op:     Opcode(b[0] & 0x0F),
		Masked: b[1]&0x80 != 0,
	}
	n := 2
	switch l := b[1] & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return Header{}, 0, io.ErrShortBuffer
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		if h.Length < 126 {
			return Header{}, 0, ErrLengthEncoding
		}
		n = 4
	case 127:
		if len(b) < 10 {
			return Header{}, 0, io.ErrShortBuffer
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 || u <= 0xFFFF {
			return Header{}, 0, ErrLengthEncoding
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return Header{}, 0, io.ErrShortBuffer
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// HeaderSize returns the size of the header of a frame with a payload of n
// bytes, masked or not.
func HeaderSize(n int, masked bool) int {
	size := 2
	switch {
	case n > 0xFFFF:
		size += 8
	case n > 125:
		size += 2
	}
	if masked {
		size += 4
	}
	return size
}

// AppendHeader appends the encoding of h to dst. Length must be ≥ 0.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Op&0x0F) | h.Rsv<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length > 0xFFFF:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	case h.Length > 125:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|byte(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// AppendFrame appends an unmasked frame, as a server sends it, carrying
// payload to dst, header and payload in one buffer.
func AppendFrame(dst []byte, op Opcode, fin bool, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: fin, Op: op, Length: int64(len(payload))})
	return append(dst, payload...)
}

// AppendMaskedFrame appends a frame masked with mask, as a client sends it.
func AppendMaskedFrame(dst []byte, op Opcode, fin bool, mask [4]byte, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: fin, Op: op, Masked: true, Mask: mask, Length: int64(len(payload))})
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// Unmask applies mask to p in place, p starting offset bytes into the payload.
// Masking and unmasking are the same operation.
func Unmask(p []byte, mask [4]byte, offset int) { ws.Cipher(p, mask, offset) }

// AppendClosePayload appends a close frame's payload: code and reason. The
// reason is cut to fit a control frame, at a character boundary. Code
// [CloseNoStatus] yields an empty payload.
func AppendClosePayload(dst []byte, code CloseCode, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(dst, reason...)
}

// AppendClose appends an unmasked close frame with code and reason to dst.
func AppendClose(dst []byte, code CloseCode, reason string) []byte {
	var p [MaxControlPayload]byte
	return AppendFrame(dst, OpClose, true, AppendClosePayload(p[:0], code, reason))
}

// ParseClose decodes and validates a close frame's payload. An empty payload
// yields [CloseNoStatus]. The reason aliases p.
func ParseClose(p []byte) (CloseCode, []byte, error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, ErrClosePayload
	}
	code := CloseCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		return code, nil, ErrCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return code, nil, ErrInvalidUTF8
	}
	return code, p[2:], nil
}
