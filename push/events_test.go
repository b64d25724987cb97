package push_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestClientEvents: client-* events go to the channel's other
// subscribers, on private and presence channels only, when the app allows
// them, with user_id on presence channels.
func TestClientEvents(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		hooks := hookRec{ch: make(chan push.HookEvent, 16)}
		e := start(t, tr, push.Config{Hook: hooks})
		a, b := e.dial(), e.dial()
		for _, ch := range []string{"public", "private-p", "private-encrypted-e"} {
			a.Join(ch, "")
			b.Join(ch, "")
		}
		a.Join("presence-r", memberOf("ann", "Ann"))
		b.Join("presence-r", memberOf("bob", "Bob"))
		a.Expect("pusher_internal:member_added")

		b.Trigger("private-p", "client-typing", map[string]any{"who": "bob"})
		f := a.Expect("client-typing")
		if f.Channel != "private-p" || !jsonEq(f.Text(), `{"who":"bob"}`) || f.UserID != "" {
			t.Errorf("got %+v", f)
		}
		b.Ping() // never echoed

		b.Trigger("presence-r", "client-hi", "text")
		f = a.Expect("client-hi")
		if f.UserID != "bob" || f.Text() != "text" {
			t.Errorf("got %+v (data %s)", f, f.Data)
		}
		h := <-hooks.ch
		for h.Kind != push.HookClientEvent {
			h = <-hooks.ch
		}
		if h.Channel != "private-p" || h.Event != "client-typing" || h.SocketID != b.ID {
			t.Errorf("hook %+v", h)
		}

		refused := []struct {
			name, channel, event string
			data                 any
			want                 string
		}{
			{"public channel", "public", "client-x", "1", "private and presence channels only"},
			{"encrypted channel", "private-encrypted-e", "client-x", "1", "private and presence channels only"},
			{"not subscribed", "private-other", "client-x", "1", "not joined"},
			{"data too large", "private-p", "client-x", strings.Repeat("x", 10<<10+1), "larger than"},
			{"name too long", "private-p", "client-" + strings.Repeat("x", 200), "1", "longer than 200"},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				b.Trigger(tc.channel, tc.event, tc.data)
				if code, msg := b.ExpectError(); code != 0 || !strings.Contains(msg, tc.want) {
					t.Errorf("error %d %q, want %q", code, msg, tc.want)
				}
			})
		}
		a.Ping()
	})
}

// TestClientEventsDisabled: an app without client events refuses them.
func TestClientEventsDisabled(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{}, testApp) // ClientEvents false
		a, b := e.dial(), e.dial()
		a.Join("private-p", "")
		b.Join("private-p", "")
		b.Trigger("private-p", "client-x", "1")
		if _, msg := b.ExpectError(); !strings.Contains(msg, "not enabled") {
			t.Errorf("error %q", msg)
		}
		a.Ping()
	})
}

// TestClientEventRateLimit: past the app's client events per second the
// events are refused with pusher:error 4301, and a client that goes on
// for another second's worth is closed with 4301.
func TestClientEventRateLimit(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		app := testApp
		app.ClientEvents = true
		app.Limits.ClientEventsPerSecond = 3
		e := start(t, tr, push.Config{}, app)
		a, b := e.dial(), e.dial()
		a.Join("private-p", "")
		b.Join("private-p", "")
		// Sent in one write, the burst is judged at one instant.
		var burst []wstest.Frame
		for range 3 + 3 + 1 {
			burst = append(burst, wstest.Message(wsproto.OpText, []byte(`{"event":"client-x","channel":"private-p","data":"1"}`)))
		}
		if err := b.WS.Write(burst...); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			a.Expect("client-x")
		}
		for range 3 {
			if code, _ := b.ExpectError(); code != int(push.CodeClientEventRateLimited) {
				t.Errorf("code %d", code)
			}
		}
		if code, _ := b.ExpectError(); code != int(push.CodeClientEventRateLimited) {
			t.Errorf("code %d", code)
		}
		if code := b.ExpectClose(); code != wsproto.CloseCode(push.CodeClientEventRateLimited) {
			t.Errorf("close %d", code)
		}
		a.Ping()
	})
}

// TestSigninWatchlistSendToUser: pusher:signin with a valid signature
// succeeds, joins #server-to-user-{id} (SendToUser reaches every tab),
// reports the watchlist's online users and then their comings and goings;
// TerminateUserConnections closes the user's tabs with 4009.
func TestSigninWatchlistSendToUser(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		app := e.app()
		signin := func(c *pushtest.Client, userData string) {
			t.Helper()
			c.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{
				"auth": app.AuthenticateUser(c.ID, userData), "user_data": userData}})
			f := c.Expect("pusher:signin_success")
			var d struct {
				UserData string `json:"user_data"`
			}
			f.Decode(t, &d)
			if d.UserData != userData {
				t.Errorf("signin_success user_data %q", d.UserData)
			}
		}
		bob := e.dial()
		signin(bob, `{"id":"bob"}`)

		ann := e.dial()
		signin(ann, `{"id":"ann","watchlist":["bob","carl"]}`)
		var w struct {
			Events []struct {
				Name    string   `json:"name"`
				UserIDs []string `json:"user_ids"`
			} `json:"events"`
		}
		ann.Expect("pusher_internal:watchlist_events").Decode(t, &w)
		if len(w.Events) != 1 || w.Events[0].Name != "online" || strings.Join(w.Events[0].UserIDs, ",") != "bob" {
			t.Errorf("watchlist %+v", w)
		}
		// pusher-js joins its user channel after signin_success.
		ann.Subscribe("#server-to-user-ann", "", "")
		ann.Expect("pusher_internal:subscription_succeeded")
		ann.Subscribe("#server-to-user-bob", "", "")
		ann.Expect("pusher:subscription_error")

		carl1 := e.dial()
		signin(carl1, `{"id":"carl"}`)
		ann.Expect("pusher_internal:watchlist_events").Decode(t, &w)
		if w.Events[0].Name != "online" || w.Events[0].UserIDs[0] != "carl" {
			t.Errorf("watchlist %+v", w)
		}
		carl2 := e.dial()
		signin(carl2, `{"id":"carl"}`)
		ann.Ping() // a second tab is no news

		if err := e.srv.SendToUser("1", "carl", "note", `{"n":1}`); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*pushtest.Client{carl1, carl2} {
			f := c.Expect("note")
			if f.Channel != "#server-to-user-carl" || f.Text() != `{"n":1}` {
				t.Errorf("got %+v", f)
			}
		}
		ann.Ping()
		bob.Ping()

		n, err := e.srv.TerminateUserConnections("1", "carl")
		if err != nil || n != 2 {
			t.Fatalf("terminated %d: %v", n, err)
		}
		for _, c := range []*pushtest.Client{carl1, carl2} {
			if code, _ := c.ExpectError(); code != int(push.CodeUnauthorized) {
				t.Errorf("code %d", code)
			}
			if code := c.ExpectClose(); code != wsproto.CloseCode(push.CodeUnauthorized) {
				t.Errorf("close %d", code)
			}
		}
		ann.Expect("pusher_internal:watchlist_events").Decode(t, &w)
		if w.Events[0].Name != "offline" || w.Events[0].UserIDs[0] != "carl" {
			t.Errorf("watchlist %+v", w)
		}

		// Signing in again as someone else is refused.
		bob.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{
			"auth": app.AuthenticateUser(bob.ID, `{"id":"eve"}`), "user_data": `{"id":"eve"}`}})
		if _, msg := bob.ExpectError(); !strings.Contains(msg, "another user") {
			t.Errorf("error %q", msg)
		}
		for _, ud := range []string{`{"id":""}`, `{"name":"x"}`, `[]`} {
			bob.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{
				"auth": app.AuthenticateUser(bob.ID, ud), "user_data": ud}})
			if _, msg := bob.ExpectError(); !strings.Contains(msg, "user_data") {
				t.Errorf("%s: error %q", ud, msg)
			}
		}
	})
}

// TestPresenceWithSignin: a presence subscription without channel_data
// takes the signed-in user as the member (pusher-js 8).
func TestPresenceWithSignin(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		app := e.app()
		c := e.dial()
		ud := `{"id":"ann","user_info":{"name":"Ann"}}`
		c.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": app.AuthenticateUser(c.ID, ud), "user_data": ud}})
		c.Expect("pusher:signin_success")
		f := c.Join("presence-s", "")
		if !strings.Contains(f.Text(), `"ann":{"name":"Ann"}`) {
			t.Errorf("presence %s", f.Text())
		}
	})
}

// TestCacheChannels: a cache channel replays its last event to a new
// subscriber, or sends pusher:cache_miss (and reports it) when it has none.
func TestCacheChannels(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		hooks := hookRec{ch: make(chan push.HookEvent, 16)}
		e := start(t, tr, push.Config{Hook: hooks})
		for _, ch := range []string{"cache-a", "private-cache-a", "presence-cache-a", "private-encrypted-cache-a"} {
			t.Run(ch, func(t *testing.T) {
				cd := ""
				if strings.HasPrefix(ch, "presence-") {
					cd = memberOf("u", "U")
				}
				c := e.dial()
				c.Join(ch, cd)
				if f := c.Expect("pusher:cache_miss"); f.Channel != ch {
					t.Errorf("cache_miss on %q", f.Channel)
				}
				if err := e.srv.Trigger("1", []string{ch}, "price", `{"p":1}`, ""); err != nil {
					t.Fatal(err)
				}
				if err := e.srv.Trigger("1", []string{ch}, "price", `{"p":2}`, ""); err != nil {
					t.Fatal(err)
				}
				c.Expect("price")
				c.Expect("price")
				late := e.dial()
				late.Join(ch, strings.Replace(cd, `"u"`, `"v"`, 1))
				if f := late.Expect("price"); f.Text() != `{"p":2}` || f.Channel != ch {
					t.Errorf("replayed %+v", f)
				}
				late.Ping()
			})
		}
		found := false
		for len(hooks.ch) > 0 {
			if h := <-hooks.ch; h.Kind == push.HookCacheMiss && h.Channel == "cache-a" {
				found = true
			}
		}
		if !found {
			t.Error("no cache_miss hook")
		}
	})
}

// TestSubscriptionCount: with the app's SubscriptionCount on, subscribers
// get pusher_internal:subscription_count after the count changed.
func TestSubscriptionCount(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		app := testApp
		app.SubscriptionCount = true
		app.Limits.SubscriptionCountInterval = 10 * time.Millisecond
		e := start(t, tr, push.Config{}, app)
		a, b := e.dial(), e.dial()
		a.Join("room", "")
		b.Join("room", "")
		var d struct {
			N int `json:"subscription_count"`
		}
		for d.N != 2 { // one event per interval, the count as it is then
			a.Expect("pusher_internal:subscription_count").Decode(t, &d)
		}
	})
}

// TestSlowSubscriber: a subscriber that does not read is closed with 4100
// once its queue is full, and the others get every event.
func TestSlowSubscriber(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		as, _ := push.NewApps(testApp)
		srv, _ := push.New(push.Config{Apps: as})
		// The close timeout leaves the slow reader time to read its backlog
		// and see the close frame queued behind it.
		es := startEngine(t, tr, engine.Config{MaxQueuedBytes: 1 << 20, CloseTimeout: 30 * time.Second}, srv)
		e := &env{t: t, tr: tr, srv: srv, es: es}
		slow, fast := e.dial(), e.dial()
		slow.Join("feed", "")
		fast.Join("feed", "")
		data := `"` + strings.Repeat("x", 8<<10) + `"`
		// 16 MB in rounds the fast subscriber reads before the next: more
		// than the kernel's buffers and the slow one's queue hold.
		for range 40 {
			for range 50 {
				if err := srv.Trigger("1", []string{"feed"}, "tick", data, ""); err != nil {
					t.Fatal(err)
				}
			}
			for range 50 {
				fast.Expect("tick")
			}
		}
		// The slow one reads now: some ticks, then close 4100.
		for {
			h, p, err := slow.WS.ReadFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("no close frame: %v", err)
			}
			if h.Op == wsproto.OpClose {
				if code := wsproto.CloseCode(uint16(p[0])<<8 | uint16(p[1])); code != wsproto.CloseCode(push.CodeOverCapacity) {
					t.Errorf("close %d, want 4100", code)
				}
				break
			}
		}
	})
}
