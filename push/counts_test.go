package push_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// TestLocalCounts: the metrics' figures follow subscriptions as they come
// and go, count a socket once per channel, leave out internal channels
// (a signed-in user's #server-to-user-{id}) and refused subscriptions.
func TestLocalCounts(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		one := testApp
		one.Limits.MaxPresenceMembers = 1
		e := start(t, tr, push.Config{}, one)
		app := e.app()
		counts := func() push.LocalCounts {
			return e.srv.State().(interface{ LocalCounts(string) push.LocalCounts }).LocalCounts(app.ID)
		}
		a, b := e.dial(), e.dial()
		ud := `{"id":"ann"}`
		a.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": app.AuthenticateUser(a.ID, ud), "user_data": ud}})
		a.Expect("pusher:signin_success")
		steps := []struct {
			name string
			do   func()
			want push.LocalCounts
		}{
			{"signed in: internal channels only", func() {}, push.LocalCounts{Connections: 2}},
			{"a joins news", func() { a.Join("news", "") }, push.LocalCounts{Connections: 2, Channels: 1, Subscriptions: 1}},
			{"a joins news again", func() { a.Join("news", "") }, push.LocalCounts{Connections: 2, Channels: 1, Subscriptions: 1}},
			{"b joins news", func() { b.Join("news", "") }, push.LocalCounts{Connections: 2, Channels: 1, Subscriptions: 2}},
			{"a joins a presence channel", func() { a.Join("presence-p", memberOf("ann", "Ann")) }, push.LocalCounts{Connections: 2, Channels: 2, Subscriptions: 3}},
			{"b refused: presence full", func() {
				b.Subscribe("presence-p", app.AuthorizeChannel(b.ID, "presence-p", memberOf("bob", "Bob")), memberOf("bob", "Bob"))
				b.Expect("pusher:subscription_error")
			}, push.LocalCounts{Connections: 2, Channels: 2, Subscriptions: 3}},
			{"a leaves news", func() {
				a.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "news"}})
				a.Ping()
			}, push.LocalCounts{Connections: 2, Channels: 2, Subscriptions: 2}},
			{"b closes", func() { b.WS.Close() }, push.LocalCounts{Connections: 1, Channels: 1, Subscriptions: 1}},
		}
		for _, st := range steps {
			st.do()
			got := counts()
			for deadline := time.Now().Add(5 * time.Second); got != st.want && time.Now().Before(deadline); got = counts() {
				time.Sleep(10 * time.Millisecond) // a close is handled on the event loop
			}
			if got != st.want {
				t.Fatalf("%s: %+v, want %+v", st.name, got, st.want)
			}
		}
	})
}
