package push

import (
	"log/slog"
	"sync"
	"time"

	"github.com/wssd/wssd/engine"
)

// Socket is one client connection, known to clients and the APIs by its
// socket id. Its methods are safe for concurrent use.
type Socket struct {
	id   string
	app  *App
	conn *engine.Conn
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool               // gone: no more subscriptions
	channels map[string]*Member // subscribed channels; the member on presence ones
	user     *user              // signed in, or nil
	watching []string           // the watchlist's user ids
	tokens   float64            // client events that may be sent now
	refill   time.Time          // when tokens was last refilled
	rejected int                // client events refused in a row
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
