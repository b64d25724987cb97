// Package bufpool is the one place wssd takes and returns pooled byte
// buffers. It wraps valyala/bytebufferpool so that tests can make misuse of a
// released buffer visible: with poisoning on, Put overwrites the buffer before
// it goes back to the pool, so a handler that kept a payload past its call
// sees garbage instead of silently reading the next message.
package bufpool

import (
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// Buffer is a pooled, growable byte slice.
type Buffer = bytebufferpool.ByteBuffer

var (
	pool   bytebufferpool.Pool
	poison atomic.Bool
)

// PoisonByte is written over released buffers while poisoning is on.
const PoisonByte = 0xDB

// Get returns an empty buffer from the pool.
func Get() *Buffer { return pool.Get() }

// Put returns b to the pool. b must not be used afterwards. A nil b is ignored.
func Put(b *Buffer) {
	if b == nil {
		return
	}
	if poison.Load() {
		Poison(b.B[:cap(b.B)])
	}
	pool.Put(b)
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
