package push

import (
	"log/slog"
	"sync"

	"github.com/wssd/wssd/engine"
)

// Socket is one client connection, known to clients and the APIs by its
// socket id. Its methods are safe for concurrent use. It is kept small:
// there is one per connection, hundreds of thousands per process.
type Socket struct {
	id   string
	app  *App
	conn *engine.Conn
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool         // gone: no more subscriptions
	rejected int32        // client events refused in a row
	channels []membership // subscribed channels, in no order
	user     *user        // signed in, or nil
	tokens   float64      // client events that may be sent now
	refill   int64        // when tokens was last refilled, Unix nanoseconds
}

// membership is a channel a socket joined, with its presence member (nil
// on other channels). A socket is in a handful of channels: a slice holds
// one in 24 bytes where a map took ~200.
type membership struct {
	name   string
	member *Member
}

// channel returns the socket's membership of the channel, or nil. Called
// with mu.
func (s *Socket) channel(name string) *membership {
	for i := range s.channels {
		if s.channels[i].name == name {
			return &s.channels[i]
		}
	}
	return nil
}

// leave removes the channel from the socket's and reports whether it was
// one. Called with mu.
func (s *Socket) leave(name string) bool {
	for i := range s.channels {
		if s.channels[i].name == name {
			last := len(s.channels) - 1
			s.channels[i] = s.channels[last]
			s.channels[last] = membership{}
			s.channels = s.channels[:last]
			return true
		}
	}
	return false
}

// user is who a socket signed in as.
type user struct {
	id   string
	data string // user_data as received
	info []byte // its user_info, for presence channels joined without channel_data
}

// ID returns the socket id ("1.2").
func (s *Socket) ID() string { return s.id }

// App returns the socket's app.
func (s *Socket) App() *App { return s.app }

// UserID returns the user the socket signed in as, or "".
func (s *Socket) UserID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == nil {
		return ""
	}
	return s.user.id
}

// send queues one frame for this socket alone.
func (s *Socket) send(frame []byte) { _ = s.conn.Send(engine.Text, frame) }
