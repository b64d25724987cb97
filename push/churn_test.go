package push_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestPresenceChurn: users with several tabs join and leave a presence
// channel at the same time, by unsubscribing or by dropping the TCP
// connection. However their events interleave, each user's member_added
// and member_removed hooks alternate, starting with added and ending with
// removed, and the channel is occupied and vacated alternately: the
// transitions happen exactly once each.
func TestPresenceChurn(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		hooks := hookRec{ch: make(chan push.HookEvent, 100000)}
		e := start(t, tr, push.Config{Hook: hooks})
		app := e.app()
		const ch = "presence-churn"
		const users, tabs, rounds = 6, 3, 4
		var wg sync.WaitGroup
		errs := make(chan error, users*tabs)
		for u := range users {
			for tab := range tabs {
				c := e.dial()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := churn(c, app, ch, fmt.Sprint("user", u), rounds, tab%2 == 0); err != nil {
						errs <- fmt.Errorf("user%d tab %d: %w", u, tab, err)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		waitFor(t, "the channel vacated", func() bool { info, _ := e.srv.Channel("1", ch); return !info.Occupied })

		in := map[string]bool{} // user → member now
		occupied := false
		for len(hooks.ch) > 0 {
			h := <-hooks.ch
			switch h.Kind {
			case push.HookMemberAdded:
				if in[h.UserID] {
					t.Errorf("member_added twice for %s", h.UserID)
				}
				in[h.UserID] = true
			case push.HookMemberRemoved:
				if !in[h.UserID] {
					t.Errorf("member_removed of %s, not a member", h.UserID)
				}
				in[h.UserID] = false
			case push.HookChannelOccupied:
				if occupied {
					t.Error("channel_occupied twice")
				}
				occupied = true
			case push.HookChannelVacated:
				if !occupied {
					t.Error("channel_vacated while vacant")
				}
				occupied = false
			}
		}
		for u, member := range in {
			if member {
				t.Errorf("%s is still a member", u)
			}
		}
		if len(in) != users {
			t.Errorf("%d users were members, want %d", len(in), users)
		}
	})
}

// churn joins and leaves the channel rounds times as user, then leaves by
// dropping TCP (drop) or by unsubscribing. It runs on its own goroutine,
// so it returns errors instead of failing the test.
func churn(c *pushtest.Client, app *push.App, ch, user string, rounds int, drop bool) error {
	cd := fmt.Sprintf(`{"user_id":%q}`, user)
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]any{
		"channel": ch, "auth": app.AuthorizeChannel(c.ID, ch, cd), "channel_data": cd}})
	unsub, _ := json.Marshal(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
	for i := range rounds {
		if err := c.WS.Write(wstest.Message(wsproto.OpText, sub)); err != nil {
			return err
		}
		if err := readUntil(c, "pusher_internal:subscription_succeeded"); err != nil {
			return err
		}
		if i == rounds-1 && drop {
			return c.WS.Close()
		}
		if err := c.WS.Write(wstest.Message(wsproto.OpText, unsub)); err != nil {
			return err
		}
	}
	return nil
}

// readUntil reads messages, member events of others among them, until
// event arrives.
func readUntil(c *pushtest.Client, event string) error {
	for {
		op, b, err := c.WS.ReadMessage(10 * time.Second)
		if err != nil {
			return err
		}
		if op == wsproto.OpText && strings.Contains(string(b), `"event":"`+event+`"`) {
			return nil
		}
	}
}

// TestCacheChurn: subscribers join a cache channel while events are
// triggered on it. Each gets every event from its first one on, once and
// in order, whether that first one was replayed or delivered.
func TestCacheChurn(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		const events, subscribers = 300, 12
		const ch = "cache-ticker"
		cs := make([]*pushtest.Client, subscribers)
		for i := range cs {
			cs[i] = e.dial()
		}
		var wg sync.WaitGroup
		errs := make(chan error, subscribers+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= events; n++ {
				if err := e.srv.Trigger("1", []string{ch}, "tick", fmt.Sprint(n), ""); err != nil {
					errs <- err
					return
				}
			}
		}()
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := followTicks(c, ch, events); err != nil {
					errs <- fmt.Errorf("%s: %w", c.ID, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// followTicks subscribes to the cache channel and reads ticks until the
// last, checking that each is the one after the previous.
func followTicks(c *pushtest.Client, ch string, last int) error {
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch}})
	if err := c.WS.Write(wstest.Message(wsproto.OpText, sub)); err != nil {
		return err
	}
	prev := 0
	for prev < last {
		_, b, err := c.WS.ReadMessage(10 * time.Second)
		if err != nil {
			return err
		}
		var f struct {
			Event string `json:"event"`
			Data  string `json:"data"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		if f.Event != "tick" {
			continue // subscription_succeeded, cache_miss
		}
		var n int
		if _, err := fmt.Sscan(f.Data, &n); err != nil {
			return err
		}
		if prev != 0 && n != prev+1 {
			return fmt.Errorf("tick %d after %d", n, prev)
		}
		prev = n
	}
	return nil
}
