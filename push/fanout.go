package push

import (
	"time"

	"github.com/wssd/wssd/engine"
)

// Message is an encoded frame, made once and written as it is to every
// socket it is delivered to. It is immutable.
type Message struct {
	frame []byte
	app   *App      // whose limits apply (cache TTL)
	at    time.Time // when it was made: a cache channel's TTL runs from it
}

// NewMessage wraps an encoded frame of the app's, such as one a cluster
// State received from another node, for delivery. frame must not be
// modified afterwards.
func NewMessage(app *App, frame []byte) *Message {
	return &Message{frame: frame, app: app, at: time.Now()}
}

// Frame returns the encoded frame. The slice must not be modified.
func (m *Message) Frame() []byte { return m.frame }

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

// sendEach queues the frame on each connection with Conn.Send, until the
// Server is bound to its engine.Server.
type sendEach struct{}

func (sendEach) send(m *Message, conns []*engine.Conn) {
	for _, c := range conns {
		_ = c.Send(engine.Text, m.frame)
	}
}

// senderSetter is implemented by States that deliver to this node's
// sockets (LocalState, and types embedding it): New and Bind hand them
// the sender.
type senderSetter interface{ setSender(sender) }
