package wsproto_test

import (
	"testing"
	"unicode/utf8"

	"github.com/wssd/wssd/wsproto"
)

var utf8Cases = []struct {
	name  string
	text  string
	valid bool // as a complete text
	// prefixValid: false when the text is invalid before its end, so a
	// validator must fail on it without seeing more.
	prefixValid bool
}{
	{"empty", "", true, true},
	{"ascii", "hello, world", true, true},
	{"two byte", "\u00e9t\u00e9", true, true},
	{"three byte", "\u20ac\uffff", true, true},
	{"four byte", "\U0001F600", true, true},
	{"max code point", "\U0010FFFF", true, true},
	{"bom", "\uFEFF", true, true},
	{"mixed", "ab\u00e9\u20ac\U0001F600z", true, true},
	{"truncated two byte", "a\xc3", false, true},
	{"truncated three byte", "\xe2\x82", false, true},
	{"truncated four byte", "\xf0\x9f\x98", false, true},
	{"lone continuation", "a\x80b", false, false},
	{"overlong two byte", "\xc0\x80", false, false},
	{"overlong C1", "\xc1\xbf", false, false},
	{"overlong three byte", "\xe0\x80\x80", false, false},
	{"overlong four byte", "\xf0\x80\x80\x80", false, false},
	{"surrogate high", "\xed\xa0\x80", false, false},
	{"surrogate low", "\xed\xbf\xbf", false, false},
	{"above max", "\xf4\x90\x80\x80", false, false},
	{"F5 lead", "\xf5\x80\x80\x80", false, false},
	{"FF byte", "ab\xff", false, false},
	{"lead then ascii", "\xe2a", false, false},
	{"autobahn 6.3.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false, false},
}

func TestUTF8Incremental(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			if utf8.ValidString(tc.text) != tc.valid {
				t.Fatalf("case table disagrees with unicode/utf8")
			}
			b := []byte(tc.text)
			// Every split into two chunks, and byte by byte.
			for i := 0; i <= len(b); i++ {
				valid, complete := wsproto.UTF8Valid(b[:i], b[i:])
				if got := valid && complete; got != tc.valid {
					t.Errorf("split at %d: valid=%v complete=%v, want %v", i, valid, complete, tc.valid)
				}
			}
			var chunks [][]byte
			for i := range b {
				chunks = append(chunks, b[i:i+1])
			}
			valid, complete := wsproto.UTF8Valid(chunks...)
			if valid && complete != tc.valid {
				t.Errorf("byte by byte: complete=%v, want %v", complete, tc.valid)
			}
			if valid != tc.prefixValid {
				t.Errorf("byte by byte: still valid=%v, want %v (fail fast)", valid, tc.prefixValid)
			}
		})
	}
}

func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.text), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		i := int(split) % (len(b) + 1)
		valid, complete := wsproto.UTF8Valid(b[:i], b[i:])
		if want := utf8.Valid(b); (valid && complete) != want {
			t.Fatalf("%q split at %d: valid=%v complete=%v, utf8.Valid=%v", b, i, valid, complete, want)
		}
	})
}
