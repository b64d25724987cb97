package tlsconn

import (
	"slices"
	"sync"
)

const (
	// minBufSize is the capacity of a freshly allocated buffer: enough for a
	// ClientHello or a few small records without growing.
	minBufSize = 4 << 10

	// maxPooledBufSize is the largest buffer returned to the pool; larger
	// ones, grown by bulk transfers, are left to the garbage collector so the
	// pool does not pin them. It holds a 64 KiB message's records.
	maxPooledBufSize = 128 << 10

	// recordOverhead bounds what a TLS record adds to its plaintext: header,
	// content type, explicit nonce and AEAD tag.
	recordOverhead = 5 + 1 + 8 + 16
	maxPlaintext   = 16 << 10 // a record's plaintext, at most
)

// bufPool holds *[]byte of length zero. Pointers avoid an allocation on Put.
var bufPool = sync.Pool{
	New: func() any {
		b := make([]byte, 0, minBufSize)
		return &b
	},
}

// poisonReleased makes release zero released buffers, so that tests catch
// callers that keep a slice past the point where it stops being valid (as
// tls.QUICConn.NextEvent does). It is set only by tests, before they start.
var poisonReleased bool

// queue is a FIFO byte buffer backed by a pooled slice. Appending never moves
// or overwrites bytes already in it, so a slice returned by bytes stays valid
// until the next discard. The zero value is empty and holds no memory.
type queue struct {
	buf *[]byte // nil when empty
	off int     // bytes of *buf already consumed
}

// len returns the number of unconsumed bytes.
func (q *queue) len() int {
	if q.buf == nil {
		return 0
	}
	return len(*q.buf) - q.off
}

// bytes returns the unconsumed bytes, aliasing the buffer.
func (q *queue) bytes() []byte {
	if q.buf == nil {
		return nil
	}
	return (*q.buf)[q.off:]
}

// write appends a copy of b. If the buffer must grow, append copies it to a
// new array and the old one is left to the garbage collector, never pooled,
// since callers may still hold slices of it.
func (q *queue) write(b []byte) {
	if len(b) == 0 {
		return
	}
	if q.buf == nil {
		q.buf = bufPool.Get().(*[]byte)
	}
	*q.buf = append(*q.buf, b...)
}

// reserve makes room for n more bytes in one step, so that a large write
// made of many records does not grow the buffer record by record.
func (q *queue) reserve(n int) {
	if q.buf == nil {
		q.buf = bufPool.Get().(*[]byte)
	}
	if free := cap(*q.buf) - len(*q.buf); free < n {
		*q.buf = slices.Grow(*q.buf, n)
	}
}

// read copies unconsumed bytes into p and consumes them.
func (q *queue) read(p []byte) int {
	n := copy(p, q.bytes())
	q.discard(n)
	return n
}

// discard consumes up to n bytes. Once the queue is empty its buffer goes
// back to the pool, which invalidates every slice returned by bytes.
func (q *queue) discard(n int) {
	if q.buf == nil || n <= 0 {
		return
	}
	q.off += n
	if q.off >= len(*q.buf) {
		q.release()
		return
	}
	// Reclaim the consumed prefix once it dominates the buffer. Callers'
	// slices are already invalid after a discard.
	if rest := len(*q.buf) - q.off; q.off >= minBufSize && q.off >= rest {
		copy(*q.buf, (*q.buf)[q.off:])
		*q.buf = (*q.buf)[:rest]
		q.off = 0
	}
}

// release empties the queue and returns its buffer to the pool.
func (q *queue) release() {
	if q.buf == nil {
		return
	}
	b := q.buf
	q.buf, q.off = nil, 0
	if cap(*b) > maxPooledBufSize {
		return
	}
	if poisonReleased {
		clear(*b)
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
