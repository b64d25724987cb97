// Package bufpool is the one place wssd takes and returns pooled byte
// buffers.
//
// Small buffers (up to 4 KiB: upgrade responses, control frames, most
// messages) come from valyala/bytebufferpool, whose calibration suits sizes
// that cluster. Larger ones come from one sync.Pool per power of two, so that
// a server echoing 64 KiB messages reuses 64 KiB buffers instead of growing
// small ones: a mix of sizes in one calibrated pool would drop the large ones.
//
// Tests can make misuse of a released buffer visible: with poisoning on, Put
// overwrites the buffer before it goes back to the pool, so a handler that
// kept a payload past its call sees garbage instead of silently reading the
// next message.
package bufpool

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// Buffer is a pooled, growable byte slice.
type Buffer = bytebufferpool.ByteBuffer

const (
	smallMax = 12 // log2 of the largest buffer bytebufferpool serves
	largeMax = 22 // log2 of the largest buffer kept at all (4 MiB)
)

var (
	small  bytebufferpool.Pool
	large  [largeMax - smallMax]sync.Pool // classes 2^13 .. 2^22
	poison atomic.Bool
)

// PoisonByte is written over released buffers while poisoning is on.
const PoisonByte = 0xDB

// Get returns an empty buffer for a small payload.
func Get() *Buffer { return small.Get() }

// GetCap returns an empty buffer with room for at least n bytes.
func GetCap(n int) *Buffer {
	if n <= 1<<smallMax {
		b := small.Get()
		if cap(b.B) < n {
			b.B = slices.Grow(b.B, n)
		}
		return b
	}
	class := bits.Len(uint(n - 1)) // 2^class ≥ n
	if class > largeMax {
		return &Buffer{B: make([]byte, 0, n)}
	}
	if v := large[class-smallMax-1].Get(); v != nil {
		return v.(*Buffer)
	}
	return &Buffer{B: make([]byte, 0, 1<<class)}
}

// Put returns b to the pool. b must not be used afterwards. A nil b is ignored.
func Put(b *Buffer) {
	if b == nil {
		return
	}
	if poison.Load() {
		Poison(b.B[:cap(b.B)])
	}
	class := bits.Len(uint(cap(b.B))) - 1 // 2^class ≤ cap
	switch {
	case class <= smallMax: // up to 8 KiB − 1: bytebufferpool decides
		small.Put(b)
		return
	case class > largeMax:
		return // too large to keep
	}
	b.B = b.B[:0]
	large[class-smallMax-1].Put(b)
}

// Poison overwrites p with PoisonByte when poisoning is on; buffers that are
// not pooled (such as an event loop's read buffer) use it at the point where
// they are released.
func Poison(p []byte) {
	if !poison.Load() {
		return
	}
	for i := range p {
		p[i] = PoisonByte
	}
}

// SetPoison turns poisoning on or off. It is meant for tests.
func SetPoison(on bool) { poison.Store(on) }
