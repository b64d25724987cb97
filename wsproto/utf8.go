package wsproto

import "unicode/utf8"

// utf8State is where an incremental UTF-8 validation stands between two
// chunks: at a character boundary, or inside a multi-byte sequence with the
// range the next byte must fall in and the number of bytes still to come.
type utf8State struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // allowed range of the next byte when need > 0
}

// valid reports whether p, following what was seen before, can still be the
// start of valid UTF-8. It fails on the first byte that makes the text invalid,
// wherever the chunk boundaries fall.
func (s *utf8State) valid(p []byte) bool {
	// Finish a sequence left open by the previous chunk.
	for s.need > 0 {
		if len(p) == 0 {
			return true
		}
		if p[0] < s.lo || p[0] > s.hi {
			return false
		}
		p = p[1:]
		s.need--
		s.lo, s.hi = 0x80, 0xBF
	}
	// Whole characters go through the standard library's fast path; an
	// incomplete sequence at the end is checked byte by byte and carried.
	tail := incompleteTail(p)
	if !utf8.Valid(p[:len(p)-tail]) {
		return false
	}
	for _, b := range p[len(p)-tail:] {
		if !s.step(b) {
			return false
		}
	}
	return true
}

// complete reports whether the text seen so far ends on a character boundary.
func (s *utf8State) complete() bool { return s.need == 0 }

func (s *utf8State) reset() { *s = utf8State{} }

// step feeds one byte that is part of a possibly incomplete sequence.
func (s *utf8State) step(b byte) bool {
	if s.need > 0 {
		if b < s.lo || b > s.hi {
			return false
		}
		s.need--
		s.lo, s.hi = 0x80, 0xBF
		return true
	}
	switch {
	case b < 0x80:
		return true
	case b >= 0xC2 && b <= 0xDF:
		*s = utf8State{need: 1, lo: 0x80, hi: 0xBF}
	case b == 0xE0:
		*s = utf8State{need: 2, lo: 0xA0, hi: 0xBF} // no overlong forms
	case b == 0xED:
		*s = utf8State{need: 2, lo: 0x80, hi: 0x9F} // no surrogates
	case b >= 0xE1 && b <= 0xEF:
		*s = utf8State{need: 2, lo: 0x80, hi: 0xBF}
	case b == 0xF0:
		*s = utf8State{need: 3, lo: 0x90, hi: 0xBF} // no overlong forms
	case b >= 0xF1 && b <= 0xF3:
		*s = utf8State{need: 3, lo: 0x80, hi: 0xBF}
	case b == 0xF4:
		*s = utf8State{need: 3, lo: 0x80, hi: 0x8F} // nothing above U+10FFFF
	default:
		return false // continuation byte without a lead, C0, C1, F5-FF
	}
	return true
}

// incompleteTail returns how many bytes at the end of p belong to a
// multi-byte sequence that p does not finish (0 to 3).
func incompleteTail(p []byte) int {
	for i := 1; i <= 3 && i <= len(p); i++ {
		b := p[len(p)-i]
		if b < 0x80 {
			return 0 // ASCII: nothing open
		}
		if b >= 0xC0 { // a lead byte: open unless its sequence fits
			size := 2
			switch {
			case b >= 0xF0:
				size = 4
			case b >= 0xE0:
				size = 3
			}
			if size > i {
				return i
			}
			return 0
		}
	}
	return 0
}
