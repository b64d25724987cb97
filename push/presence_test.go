package push_test

import (
	"fmt"
	"testing"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

func memberOf(id, name string) string {
	return fmt.Sprintf(`{"user_id":%q,"user_info":{"name":%q}}`, id, name)
}

// TestPresenceTabs: a user's second tab adds no member and its first tab
// leaving removes none; the last tab leaving removes the member, once.
// Webhook events follow the same transitions.
func TestPresenceTabs(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		hooks := hookRec{ch: make(chan push.HookEvent, 64)}
		e := start(t, tr, push.Config{Hook: hooks})
		const ch = "presence-room"
		watcher := e.dial()
		f := watcher.Join(ch, memberOf("w", "Watcher"))
		var d struct {
			Presence struct {
				IDs   []string                  `json:"ids"`
				Hash  map[string]map[string]any `json:"hash"`
				Count int                       `json:"count"`
			} `json:"presence"`
		}
		f.Decode(t, &d)
		if d.Presence.Count != 1 || d.Presence.IDs[0] != "w" || d.Presence.Hash["w"]["name"] != "Watcher" {
			t.Fatalf("presence %+v", d.Presence)
		}

		tab1 := e.dial()
		tab1.Join(ch, memberOf("ann", "Ann"))
		added := watcher.Expect("pusher_internal:member_added")
		var m struct {
			UserID   string         `json:"user_id"`
			UserInfo map[string]any `json:"user_info"`
		}
		added.Decode(t, &m)
		if m.UserID != "ann" || m.UserInfo["name"] != "Ann" {
			t.Errorf("member_added %s", added.Data)
		}

		tab2 := e.dial()
		f = tab2.Join(ch, memberOf("ann", "Ann"))
		f.Decode(t, &d)
		if d.Presence.Count != 2 {
			t.Errorf("second tab sees %d members", d.Presence.Count)
		}
		watcher.Ping() // no second member_added
		tab1.Ping()    // a user is not told about its own other tab

		if info, _ := e.srv.Channel("1", ch); info.UserCount != 2 || info.SubscriptionCount != 3 {
			t.Errorf("channel info %+v", info)
		}
		users, _ := e.srv.Users("1", ch)
		if len(users) != 2 || users[0].UserID != "ann" || users[1].UserID != "w" {
			t.Errorf("users %+v", users)
		}

		tab1.WS.Close()
		// Wait for the server to see tab1 go: its subscription count drops.
		waitFor(t, "two subscriptions", func() bool { info, _ := e.srv.Channel("1", ch); return info.SubscriptionCount == 2 })
		watcher.Ping() // ann still has tab2

		tab2.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
		tab2.Ping()
		removed := watcher.Expect("pusher_internal:member_removed")
		removed.Decode(t, &m)
		if m.UserID != "ann" {
			t.Errorf("member_removed %s", removed.Data)
		}
		watcher.Ping()

		watcher.WS.Close()
		waitFor(t, "the channel vacated", func() bool { info, _ := e.srv.Channel("1", ch); return !info.Occupied })

		var kinds []string
		for len(hooks.ch) > 0 {
			h := <-hooks.ch
			kinds = append(kinds, h.Kind.String()+":"+h.UserID)
		}
		want := []string{"channel_occupied:", "member_added:w", "member_added:ann", "member_removed:ann", "member_removed:w", "channel_vacated:"}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Errorf("hooks %v, want %v", kinds, want)
		}
	})
}

// TestPresenceLimits: the 101st user, a user_info over 1 KB and a user id
// over 128 bytes are refused with subscription_error.
func TestPresenceLimits(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		app := testApp
		app.Limits.MaxPresenceMembers = 2
		e := start(t, tr, push.Config{}, app)
		a := e.app()
		u1, u1b, u2, u3 := e.dial(), e.dial(), e.dial(), e.dial()
		u1.Join("presence-x", memberOf("1", ""))
		u2.Join("presence-x", memberOf("2", ""))
		u1b.Join("presence-x", memberOf("1", "")) // a known member: no new user
		cd := memberOf("3", "")
		u3.Subscribe("presence-x", a.AuthorizeChannel(u3.ID, "presence-x", cd), cd)
		f := u3.Expect("pusher:subscription_error")
		var d struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		f.Decode(t, &d)
		if d.Type != "LimitReached" {
			t.Errorf("%+v", d)
		}
		big := fmt.Sprintf(`{"user_id":"4","user_info":{"bio":"%0*d"}}`, 1100, 0)
		long := fmt.Sprintf(`{"user_id":"%0*d"}`, 129, 0)
		for _, cd := range []string{big, long} {
			u3.Subscribe("presence-y", a.AuthorizeChannel(u3.ID, "presence-y", cd), cd)
			u3.Expect("pusher:subscription_error")
		}
		if info, _ := e.srv.Channel("1", "presence-y"); info.Occupied {
			t.Error("refused members occupy presence-y")
		}
	})
}
