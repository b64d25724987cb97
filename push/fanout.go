package push

import "github.com/wssd/wssd/engine"

// Message is an encoded frame, made once and written as it is to every
// socket it is delivered to. It is immutable.
type Message struct {
	frame []byte
	out   sender
	app   *App // whose limits apply (cache TTL)
}

// Frame returns the encoded frame. The slice must not be modified.
func (m *Message) Frame() []byte { return m.frame }

// deliver writes m to conns, which it takes over: the caller must not
// modify them afterwards.
func (m *Message) deliver(conns []*engine.Conn) {
	if len(conns) > 0 {
		m.out.send(m, conns)
	}
}

// sender writes one message to many connections: the one place that
// chooses how a fan-out reaches the event loops.
type sender interface {
	// send writes m to conns, which it owns from then on.
	send(m *Message, conns []*engine.Conn)
}

// broadcast frames the message once (and compresses it once, when the
// engine compresses) with engine.Server.Prepare, and hands it to each
// event loop once for all of that loop's connections with Broadcast. A
// connection whose queue is full is skipped and gets OnBufferFull, which
// closes it with 4100; the others are not held up by it. Messages handed
// over from one goroutine reach a connection in that order.
type broadcast struct{ es *engine.Server }

func (b broadcast) send(m *Message, conns []*engine.Conn) {
	pm, err := b.es.Prepare(engine.Text, m.frame)
	if err != nil {
		return // only for a message type other than Text or Binary
	}
	_ = b.es.Broadcast(pm, conns) // fails only once the server has stopped
}

// sendEach queues the frame on each connection with Conn.Send, before the
// Server is bound to its engine.Server.
type sendEach struct{}

func (sendEach) send(m *Message, conns []*engine.Conn) {
	for _, c := range conns {
		_ = c.Send(engine.Text, m.frame)
	}
}
