package servers

import (
	"bytes"
	"testing"
)

// masked returns a masked client frame: FIN, opcode op, payload p (< 126).
func masked(op byte, p string) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | op, 0x80 | byte(len(p)), key[0], key[1], key[2], key[3]}
	for i := range len(p) {
		b = append(b, p[i]^key[i&3])
	}
	return b
}

func TestRawBroadcast(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want []byte // nil: not a broadcast, echoed unchanged
	}{
		{"broadcast command", masked(0x1, "broadcast:3,17,xx"), append([]byte{0x81, 7}, "3,17,xx"...)},
		{"empty broadcast", masked(0x1, "broadcast:"), []byte{0x81, 0}},
		{"other text", masked(0x1, "broadcasT:1,2,"), nil},
		{"binary with the prefix", masked(0x2, "broadcast:1,2,"), nil},
		{"shorter than the prefix", masked(0x1, "broad"), nil},
		{"two frames in one read", append(masked(0x1, "broadcast:1,"), masked(0x1, "x")...), nil},
		{"cut short", masked(0x1, "broadcast:1,2,")[:10], nil},
		{"unmasked", []byte("\x81\x0bbroadcast:1"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.in)
			got, ok := rawBroadcast(in)
			if ok != (c.want != nil) || !bytes.Equal(got, c.want) {
				t.Fatalf("got %q, %v; want %q", got, ok, c.want)
			}
			if !ok && !bytes.Equal(in, c.in) {
				t.Errorf("echoed bytes changed: %q, want %q", in, c.in)
			}
		})
	}
}
