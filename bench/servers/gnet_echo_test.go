package servers

import (
	"bytes"
	"slices"
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

func TestRawBroadcasts(t *testing.T) {
	cmd := func(p string) []byte { return masked(0x1, "broadcast:"+p) }
	cases := []struct {
		name   string
		in     []byte
		frames []string // the broadcast payloads
		rest   []byte   // echoed
	}{
		{"one", cmd("1,"), []string{"1,"}, nil},
		{"two in one read", append(cmd("1,"), cmd("2,")...), []string{"1,", "2,"}, nil},
		{"then an echo", append(cmd("1,"), masked(0x2, "x")...), []string{"1,"}, masked(0x2, "x")},
		{"echo first", append(masked(0x2, "x"), cmd("1,")...), nil, append(masked(0x2, "x"), cmd("1,")...)},
		{"then one cut short", append(cmd("1,"), cmd("2,")[:5]...), []string{"1,"}, cmd("2,")[:5]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frames, rest := rawBroadcasts(bytes.Clone(c.in))
			var got []string
			for _, f := range frames {
				got = append(got, string(f[2:]))
			}
			if !slices.Equal(got, c.frames) || !bytes.Equal(rest, c.rest) {
				t.Fatalf("got %q, rest %q; want %q, rest %q", got, rest, c.frames, c.rest)
			}
		})
	}
}
