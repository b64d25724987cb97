package bufpool_test

import (
	"testing"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/race"
)

func TestGetCap(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 6000, 8191, 8192, 8193, 65536, 65550, 1 << 20, 4 << 20, 4<<20 + 1} {
		b := bufpool.GetCap(n)
		if len(b.B) != 0 || cap(b.B) < n {
			t.Fatalf("GetCap(%d): len %d cap %d", n, len(b.B), cap(b.B))
		}
		b.B = append(b.B, make([]byte, n)...)
		bufpool.Put(b)
	}
	// Buffers of every capacity go back, whatever class they fall in.
	for _, c := range []int{0, 100, 4095, 4096, 4097, 8191, 8192, 1 << 22, 1<<22 + 1} {
		bufpool.Put(&bufpool.Buffer{B: make([]byte, 0, c)})
	}
}

func TestPoison(t *testing.T) {
	bufpool.SetPoison(true)
	defer bufpool.SetPoison(false)
	b := bufpool.GetCap(100 << 10)
	b.B = append(b.B, "secret"...)
	kept := b.B
	bufpool.Put(b)
	if string(kept) == "secret" {
		t.Fatal("released buffer not overwritten")
	}
}

// TestAllocationsLargeReuse: a large buffer that goes back is what the next GetCap of
// its class returns, with no allocation.
func TestAllocationsLargeReuse(t *testing.T) {
	if race.Enabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	b := bufpool.GetCap(64 << 10)
	bufpool.Put(b)
	if n := testing.AllocsPerRun(100, func() {
		b := bufpool.GetCap(65 << 10)
		b.B = append(b.B, make([]byte, 65<<10)...)
		bufpool.Put(b)
	}); n != 0 {
		t.Fatalf("%v allocations per 65 KiB Get/Put, want 0", n)
	}
}
