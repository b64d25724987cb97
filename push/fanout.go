package push

import (
	"sync"

	"github.com/wssd/wssd/engine"
)

// Message is an encoded frame, made once and written as it is to every
// socket it is delivered to. It is immutable.
type Message struct {
	frame []byte
	out   sender
	app   *App // whose limits apply (cache TTL)
}

// Frame returns the encoded frame. The slice must not be modified.
func (m *Message) Frame() []byte { return m.frame }

// deliver writes m to conns. conns may be reused once it returns.
func (m *Message) deliver(conns []*engine.Conn) {
	if len(conns) > 0 {
		m.out.send(m, conns)
	}
}

// sender writes one message to many connections: the one place that
// chooses how a fan-out reaches the event loops.
type sender interface {
	send(m *Message, conns []*engine.Conn)
}

// sendEach queues the frame on each connection with Conn.Send, which
// copies it into the connection's queue. A connection whose queue is full
// gets ErrBufferFull, and OnBufferFull closes it; the others are not held
// up by it.
type sendEach struct{}

func (sendEach) send(m *Message, conns []*engine.Conn) {
	for _, c := range conns {
		_ = c.Send(engine.Text, m.frame)
	}
}

// connsPool recycles the slices fan-outs collect connections into.
var connsPool = sync.Pool{New: func() any { s := make([]*engine.Conn, 0, 64); return &s }}

func getConns() *[]*engine.Conn { return connsPool.Get().(*[]*engine.Conn) }

func putConns(p *[]*engine.Conn) {
	clear(*p) // drop the references
	*p = (*p)[:0]
	if cap(*p) <= 1<<16 {
		connsPool.Put(p)
	}
}
