package chatmsg_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/wssd/wssd/internal/chatmsg"
)

func TestAppend(t *testing.T) {
	cases := []struct {
		name string
		size int
		json bool
	}{
		{"tiny", 5, false},
		{"smallest json", 11, true},
		{"short form", 64, true},
		{"just below full", 119, true},
		{"full form", 120, true},
		{"chat", 512, true},
		{"large", 64 << 10, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 50 {
				m := chatmsg.Append(nil, i, c.size)
				if len(m) != c.size {
					t.Fatalf("message %d: %d bytes, want %d", i, len(m), c.size)
				}
				if !utf8.Valid(m) {
					t.Fatalf("message %d is not UTF-8: %q", i, m)
				}
				if c.json && !json.Valid(m) {
					t.Fatalf("message %d is not JSON: %s", i, m)
				}
				if again := chatmsg.Append([]byte("prefix"), i, c.size); !bytes.Equal(again[len("prefix"):], m) {
					t.Fatalf("message %d differs between calls", i)
				}
			}
			if c.size >= 64 && bytes.Equal(chatmsg.Append(nil, 1, c.size), chatmsg.Append(nil, 2, c.size)) {
				t.Error("messages 1 and 2 are the same")
			}
		})
	}
}
