package push_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/wssd/wssd/push"
)

// A sender posts an app's webhooks to its backend, which checks them with
// the app's secret.
func ExampleNewWebhookSender() {
	app := push.Credentials{ID: "1", Key: "app-key", Secret: "app-secret"}
	got := make(chan string, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !app.ValidSignature(body, r.Header.Get("X-Pusher-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		got <- r.Header.Get("X-Pusher-Key")
	}))
	defer backend.Close()

	hooks := push.NewWebhookSender(push.WebhookOptions{})
	u, _ := url.Parse(backend.URL)
	target := &push.WebhookTarget{Credentials: app, URL: u, Events: []push.WebhookName{push.WebhookChannelOccupied}}
	hooks.Enqueue(target, push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "news"})
	fmt.Println("signed by", <-got)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hooks.Close(ctx)
	fmt.Printf("%+v\n", hooks.Stats())
	// Output:
	// signed by app-key
	// {Delivered:1 Retried:0 Dropped:0 Failed:0 Cancelled:0}
}

// Send posts an event whose delay was settled elsewhere (a cluster's
// queue) at once, and says when the target has it: the caller may then
// forget the event.
func ExampleWebhookSender_Send() {
	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer backend.Close()
	hooks := push.NewWebhookSender(push.WebhookOptions{})
	defer hooks.Close(context.Background())
	u, _ := url.Parse(backend.URL)
	target := &push.WebhookTarget{Credentials: push.Credentials{ID: "1", Key: "app-key", Secret: "app-secret"}, URL: u}
	done := make(chan bool, 1)
	hooks.Send(target, push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: "news"}, time.Now(), func(delivered bool) { done <- delivered })
	fmt.Println("delivered:", <-done)
	// Output: delivered: true
}
