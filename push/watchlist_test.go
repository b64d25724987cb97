package push_test

import (
	"testing"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// slowOnline is a State whose UserOnline waits until release is closed,
// as a cluster's does while it asks the other nodes.
type slowOnline struct {
	*push.LocalState
	release chan struct{}
}

func (s slowOnline) UserOnline(app, user string) bool {
	<-s.release
	return s.LocalState.UserOnline(app, user)
}

// TestWatchlistOffLoop: the watchlist's online users are asked off the
// event loop. Signing in asked State.UserOnline once per watchlist id on
// the loop, which in a cluster waits for the other nodes' answers (up to
// 200 ms each): the connection, and every other of its loop, stood still
// meanwhile.
func TestWatchlistOffLoop(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		st := slowOnline{LocalState: push.NewLocalState(), release: make(chan struct{})}
		e := start(t, tr, push.Config{State: st})
		defer func() {
			select {
			case <-st.release:
			default:
				close(st.release)
			}
		}()
		app := e.app()
		ud := `{"id":"ann","watchlist":["bob"]}`
		ann := e.dial()
		ann.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": app.AuthenticateUser(ann.ID, ud), "user_data": ud}})
		ann.Expect("pusher:signin_success")
		ann.Ping() // answered while UserOnline still waits
		close(st.release)
		ann.Ping() // bob is offline: no watchlist event
	})
}
