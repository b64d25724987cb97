package wsproto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/wsproto"
)

// inflateSeeds are compressed messages, valid and not, as the first frame
// of a message carries them: the sync-flush tail removed.
func inflateSeeds() [][]byte {
	z, _ := wsproto.Compress(nil, []byte(strings.Repeat(`{"event":"message","data":"hello"}`, 20)), 0)
	z6, _ := wsproto.Compress(nil, bytes.Repeat([]byte("abcdefgh"), 500), 6)
	return [][]byte{
		z, z6,
		{},     // an empty message
		{0x00}, // an empty message as Node's ws sends it
		{0x01, 0x03, 0x00, 0xfc, 0xff, 'a', 'b', 'c'}, // a final stored block
		{0x03, 0x00},                   // an empty final fixed block
		{0xff, 0xfe, 0xfd, 0xfc, 0x01}, // not DEFLATE
		{0x4b, 0x4c, 0x84, 0x01, 0x00}, // "aaaa..." by back references
	}
}

// FuzzInflate inflates arbitrary data with a small limit: it must not
// panic, must stay within the limit and fail only with ErrInflate or
// ErrMessageTooBig. The data, compressed by Compress, must inflate back to
// itself. (Comparing with compress/flate's output does not work: on some
// invalid streams, which zlib refuses, both decoders return different
// partial data.) Seeds: inflateSeeds.
func FuzzInflate(f *testing.F) {
	for _, s := range inflateSeeds() {
		f.Add(s, uint16(4096))
	}
	f.Fuzz(func(t *testing.T, src []byte, limit uint16) {
		out := bufpool.Get()
		defer bufpool.Put(out)
		err := wsproto.NewInflater(1<<15, true).Inflate(out, src, int64(limit))
		switch {
		case err == nil && len(out.B) > int(limit):
			t.Fatalf("%d bytes inflated, limit %d", len(out.B), limit)
		case err != nil && !errors.Is(err, wsproto.ErrInflate) && !errors.Is(err, wsproto.ErrMessageTooBig):
			t.Fatalf("error %v", err)
		}

		z, ok := wsproto.Compress(nil, src, 0)
		if !ok {
			return
		}
		back := bufpool.Get()
		defer bufpool.Put(back)
		if err := wsproto.NewInflater(1<<15, false).Inflate(back, z, int64(len(src))); err != nil || !bytes.Equal(back.B, src) {
			t.Fatalf("round trip of %d bytes: %v, equal %v", len(src), err, bytes.Equal(back.B, src))
		}
	})
}
