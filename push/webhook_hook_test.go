package push_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// TestWebhookHook: a real push server's channel and presence transitions
// reach the app's webhook URL, signed, filtered by its WebhookEvents; an
// app without a URL sends nothing.
func TestWebhookHook(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		r := newHookReceiver(t, nil)
		u, _ := url.Parse(r.srv.URL + "/hooks")
		hooked := push.App{ID: "1", Key: r.app.Key, Secret: r.app.Secret, WebhookURL: u,
			WebhookEvents: []push.WebhookName{push.WebhookChannelOccupied, push.WebhookMemberAdded}}
		quiet := push.App{ID: "2", Key: "quiet-key", Secret: "quiet-secret"}
		apps, err := push.NewApps(hooked, quiet)
		if err != nil {
			t.Fatal(err)
		}
		sender := push.NewWebhookSender(push.WebhookOptions{Delay: 50 * time.Millisecond})
		t.Cleanup(func() { closeSender(t, sender) })
		e := start(t, tr, push.Config{Hook: push.NewWebhookHook(apps, sender)}, hooked, quiet)

		c := e.dial()
		c.Join("presence-room", `{"user_id":"u1","user_info":{"name":"Ann"}}`)
		waitFor(t, "two webhook events", func() bool { return len(r.events()) >= 2 })
		// One transition, two events, in one batch: their order is not the
		// contract (Pusher's webhooks promise none within a batch).
		got := map[push.WebhookName]push.WebhookEvent{}
		for _, ev := range r.events() {
			got[ev.Name] = ev
		}
		if got[push.WebhookChannelOccupied].Channel != "presence-room" || got[push.WebhookMemberAdded].UserID != "u1" {
			t.Fatalf("events %+v", r.events())
		}
		c.WS.Close()
		// channel_vacated and member_removed are filtered out: nothing more comes.
		time.Sleep(200 * time.Millisecond)
		if n := len(r.events()); n != 2 {
			t.Fatalf("%d events, want the 2 the filter lets through: %+v", n, r.events())
		}
		if st := sender.Stats(); st.Delivered != 2 || st.Dropped != 0 {
			t.Fatalf("sender stats %+v", st)
		}
	})
}
