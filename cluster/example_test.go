package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/push"
)

// A push server whose State is the cluster's: its triggers reach the
// subscribers of every node on the same NATS, and its queries count them
// all. Here the NATS server is embedded, on a free loopback port.
func ExampleNew() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats-server not ready")
	}

	nc, err := nats.Connect(ns.ClientURL(), nats.NoEcho()) // NoEcho: our own events do not come back
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	apps, err := push.NewApps(push.App{ID: "1", Key: "key", Secret: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	st, err := cluster.New(nc, cluster.Config{Node: 1, Apps: apps})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	srv, err := push.New(push.Config{Apps: apps, State: st, Node: 1})
	if err != nil {
		log.Fatal(err)
	}
	// srv is the engine.Server's handler: engine.New(cfg, srv), srv.Bind(es), es.Start(addr).
	fmt.Println(st.Nodes(), srv.Trigger("1", []string{"news"}, "hello", `{"n":1}`, ""))
	// Output: [1] <nil>
}

// The webhooks of a node in a cluster: its events go to the cluster's
// JetStream stream, and whichever node takes one posts it through its own
// sender, so a node's death loses none. Here one node, on an embedded NATS
// server with JetStream, posts to a local receiver.
func ExampleNewWebhooks() {
	dir, err := os.MkdirTemp("", "wssd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	got := make(chan push.WebhookBody, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b push.WebhookBody
		_ = json.NewDecoder(r.Body).Decode(&b)
		got <- b
	}))
	defer receiver.Close()
	hookURL, _ := url.Parse(receiver.URL)
	apps, err := push.NewApps(push.App{ID: "1", Key: "key", Secret: "secret", WebhookURL: hookURL})
	if err != nil {
		log.Fatal(err)
	}
	sender := push.NewWebhookSender(push.WebhookOptions{})
	defer sender.Close(context.Background())
	hooks, err := cluster.NewWebhooks(nc, cluster.WebhooksConfig{Local: push.NewWebhookHook(apps, sender)})
	if err != nil {
		log.Fatal(err) // without JetStream: use push.NewWebhookHook's hook alone
	}
	defer hooks.Close()
	// hooks is the push.Server's hook: push.Config{Apps: apps, State: st, Hook: hooks}.
	hooks.HandleEvent(push.HookEvent{Kind: push.HookChannelOccupied, App: apps.All()[0], Channel: "news"})
	b := <-got
	fmt.Println(b.Events[0].Name, b.Events[0].Channel)
	// Output: channel_occupied news
}
