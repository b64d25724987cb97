package wsproto

import (
	"io"
	"math"

	"github.com/wssd/wssd/internal/bufpool"
)

// DefaultMaxMessageSize is the message size limit of a Parser whose
// MaxMessageSize is zero.
const DefaultMaxMessageSize = 1 << 20

// Message is what [Parser.Parse] delivers: a complete text or binary
// message, or one control frame (close, ping, pong).
type Message struct {
	Op      Opcode
	Payload []byte
	// Compressed says the message arrived compressed (permessage-deflate)
	// and Payload is what it inflated to.
	Compressed bool
}

// Parser reads the frames of one connection, in place. The zero value reads
// client frames (which must be masked) with a limit of
// [DefaultMaxMessageSize]. Set the fields before the first Parse.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	// MaxMessageSize bounds a message's payload, all its fragments together.
	// Zero means DefaultMaxMessageSize.
	MaxMessageSize int64
	// Client makes the parser read a server's frames: they must not be masked.
	Client bool
	// Inflater, when set, means permessage-deflate was negotiated: RSV1 on
	// the first frame of a data message marks it compressed, and Parse
	// delivers it inflated, MaxMessageSize applying to its inflated size;
	// compressed, it may take an eighth and 1 KiB more, as data that does
	// not compress does. Nil makes RSV1 a protocol violation.
	Inflater *Inflater

	// The data message in progress, when it spans frames.
	msgOp    Opcode // its opcode; 0 when no fragmented message is open
	msgLen   int64  // payload bytes announced so far
	deflated bool   // the message in progress is compressed
	text     utf8State
	asm      *bufpool.Buffer // reassembled payload of a fragmented message
	handed   bool            // asm was delivered by the previous Parse

	// The frame in progress: its header is parsed, its payload incomplete.
	cur     Header
	curHdr  int   // header size; 0 when no frame is in progress
	curDone int64 // payload bytes already unmasked and validated in place
}

// Parse reads at most one frame from b, which must hold the connection's
// unconsumed bytes in order, starting with the first byte not yet consumed.
//
// It returns the number of bytes it consumed. When that is zero and err is
// nil, b does not hold a whole frame yet: call again with the same bytes and
// more appended. A frame that completes a message, or a control frame, is
// returned as m (m.Op is zero otherwise).
//
// Parse unmasks payloads in place, so it writes to b; it may also unmask and
// validate the start of an incomplete text frame to fail fast, in which case
// the bytes it is given again must be the ones it left. m.Payload aliases b
// or a pooled buffer of the Parser, and is valid until the next call to Parse
// or Reset.
//
// A non-nil error is a protocol violation; [CloseCodeOf] gives the close code
// to send. The Parser must not be used after an error.
func (p *Parser) Parse(b []byte) (m Message, n int, err error) {
	if p.handed {
		p.releaseMessage()
	}
	if p.curHdr == 0 {
		h, hn, err := ParseHeader(b)
		if err == io.ErrShortBuffer {
			return Message{}, 0, nil
		}
		if err != nil {
			return Message{}, 0, err
		}
		if err := p.check(h); err != nil {
			return Message{}, 0, err
		}
		p.cur, p.curHdr, p.curDone = h, hn, 0
	}
	h := p.cur
	total := int64(p.curHdr) + h.Length
	// A compressed text message is validated once inflated.
	textFrame := !p.deflated && (h.Op == OpText || (h.Op == OpContinuation && p.msgOp == OpText))
	if int64(len(b)) < total {
		// Fail fast: check as much of a text frame as has arrived.
		if textFrame && int64(len(b)-p.curHdr) > p.curDone {
			part := b[int64(p.curHdr)+p.curDone:]
			if h.Masked {
				Unmask(part, h.Mask, int(p.curDone))
			}
			if !p.text.valid(part) {
				return Message{}, 0, ErrInvalidUTF8
			}
			p.curDone += int64(len(part))
		}
		return Message{}, 0, nil
	}

	payload := b[p.curHdr:total]
	rest := payload[p.curDone:]
	if h.Masked {
		Unmask(rest, h.Mask, int(p.curDone))
	}
	p.curHdr = 0
	n = int(total)

	if h.Op.IsControl() {
		if h.Op == OpClose {
			if _, _, err := ParseClose(payload); err != nil {
				return Message{}, 0, err
			}
		}
		return Message{Op: h.Op, Payload: payload}, n, nil
	}

	if textFrame && !p.text.valid(rest) {
		return Message{}, 0, ErrInvalidUTF8
	}
	if h.Fin && textFrame && !p.text.complete() {
		return Message{}, 0, ErrInvalidUTF8
	}
	if h.Fin && p.msgOp == 0 { // a whole message in one frame: no copy
		if p.deflated {
			m, err := p.inflate(h.Op, payload)
			return m, n, err
		}
		p.endMessage()
		return Message{Op: h.Op, Payload: payload}, n, nil
	}
	if p.msgOp == 0 {
		p.msgOp = h.Op
		p.asm = bufpool.Get()
	}
	p.asm.B = append(p.asm.B, payload...)
	if !h.Fin {
		return Message{}, n, nil
	}
	if p.deflated {
		m, err := p.inflate(p.msgOp, p.asm.B)
		return m, n, err
	}
	m = Message{Op: p.msgOp, Payload: p.asm.B}
	p.endMessage()
	p.handed = true
	return m, n, nil
}

// inflate delivers the compressed message src, a frame's payload or the
// assembled fragments, inflated into a pooled buffer of the Parser.
func (p *Parser) inflate(op Opcode, src []byte) (Message, error) {
	out := bufpool.GetCap(min(max(4*len(src), 512), int(p.limit())))
	err := p.Inflater.Inflate(out, src, p.limit())
	if err == nil && op == OpText {
		p.text.reset()
		if !p.text.valid(out.B) || !p.text.complete() {
			err = ErrInvalidUTF8
		}
	}
	if err != nil {
		bufpool.Put(out)
		return Message{}, err
	}
	if p.asm != nil {
		bufpool.Put(p.asm) // the compressed fragments
	}
	p.asm = out
	p.endMessage()
	p.handed = true
	return Message{Op: op, Payload: out.B, Compressed: true}, nil
}

// Need returns the size, header included, of the frame whose header the
// last Parse read but whose payload has not all arrived, or 0. A caller that
// gathers the bytes can reserve that much room at once.
func (p *Parser) Need() int {
	if p.curHdr == 0 {
		return 0
	}
	return p.curHdr + int(p.cur.Length)
}

// check applies the rules that can be decided from a header alone, so that a
// violation is reported before its payload arrives.
func (p *Parser) check(h Header) error {
	switch {
	case h.Rsv != 0 && !p.compressedStart(h):
		return ErrReservedBits
	case h.Op.IsReserved():
		return ErrReservedOpcode
	case h.Masked == p.Client:
		if p.Client {
			return ErrMasked
		}
		return ErrUnmasked
	}
	if h.Op.IsControl() {
		switch {
		case !h.Fin:
			return ErrFragmentedControl
		case h.Length > MaxControlPayload:
			return ErrControlTooLong
		}
		return nil
	}
	switch {
	case h.Op == OpContinuation && p.msgOp == 0:
		return ErrUnexpectedContinuation
	case h.Op != OpContinuation && p.msgOp != 0:
		return ErrExpectedContinuation
	}
	if h.Op != OpContinuation {
		p.deflated = h.Rsv == rsv1
	}
	if h.Length > p.wireLimit()-p.msgLen {
		return ErrMessageTooBig
	}
	p.msgLen += h.Length
	return nil
}

// wireLimit bounds the payload of the message in progress as it arrives:
// the limit, and for a compressed message what DEFLATE may take to carry
// that many bytes that do not compress (an eighth more: an encoder that
// cannot fall back to stored blocks, as zlib with a narrow window, codes a
// byte in up to 9 bits), its inflated size being held to the limit.
func (p *Parser) wireLimit() int64 {
	limit := p.limit()
	if !p.deflated {
		return limit
	}
	return limit + min(limit/8+1024, math.MaxInt-MaxHeaderSize-limit)
}

// compressedStart reports whether h's reserved bits are RSV1 on the first
// frame of a data message, which permessage-deflate allows (RFC 7692
// section 6): never on control frames or continuations.
func (p *Parser) compressedStart(h Header) bool {
	return p.Inflater != nil && h.Rsv == rsv1 && (h.Op == OpText || h.Op == OpBinary)
}

// limit is the message size limit in force.
func (p *Parser) limit() int64 {
	limit := p.MaxMessageSize
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	return min(limit, math.MaxInt-MaxHeaderSize)
}

// endMessage forgets the message in progress (its buffer stays until handed back).
func (p *Parser) endMessage() {
	p.msgOp, p.msgLen, p.deflated = 0, 0, false
	p.text.reset()
}

func (p *Parser) releaseMessage() {
	bufpool.Put(p.asm)
	p.asm, p.handed = nil, false
}

// Reset returns the Parser's pooled buffers and forgets any frame or message
// in progress, leaving the configuration fields as they are.
func (p *Parser) Reset() {
	if p.asm != nil {
		p.releaseMessage()
	}
	p.endMessage()
	p.curHdr, p.curDone = 0, 0
}
