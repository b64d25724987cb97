package push_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/push"
)

// A Pusher-compatible server for one app: pusher-js connects with
// new Pusher("app-key", {wsHost: "127.0.0.1", wsPort: port, forceTLS: false}),
// and the back end triggers events through the Go API.
func Example() {
	apps, err := push.NewApps(push.App{ID: "1", Key: "app-key", Secret: "app-secret", ClientEvents: true})
	if err != nil {
		log.Fatal(err)
	}
	ps, err := push.New(push.Config{Apps: apps})
	if err != nil {
		log.Fatal(err)
	}
	es, err := engine.New(engine.Config{}, ps) // the push server is the engine's handler
	if err != nil {
		log.Fatal(err)
	}
	ps.Bind(es) // fan-outs frame each event once
	if err := es.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = es.Shutdown(ctx)
	}()

	// What an authorization endpoint returns for socket 1234.1234.
	app, _ := apps.ByID("1")
	fmt.Println(app.AuthorizeChannel("1234.1234", "private-orders", ""))

	// Send to every subscriber of two channels; nobody is subscribed yet.
	if err := ps.Trigger("1", []string{"orders", "private-orders"}, "created", `{"id":7}`, ""); err != nil {
		log.Fatal(err)
	}
	info, _ := ps.Channel("1", "orders")
	fmt.Println("occupied:", info.Occupied)
	// Output:
	// app-key:aee0dd3c5a4d4d09589f58efe4b7918a33af7c29fb581abeaa760e3de848f92b
	// occupied: false
}

// The GatewayWorker facade: bind a connection to a uid, put it in a group,
// and send to both.
func ExampleGateway() {
	apps, _ := push.NewApps(push.App{ID: "1", Key: "app-key", Secret: "app-secret"})
	ps, _ := push.New(push.Config{Apps: apps})
	g, err := ps.Gateway("1")
	if err != nil {
		log.Fatal(err)
	}
	// socketID comes from the client's pusher:connection_established.
	socketID := "1.1"
	if err := g.BindUID(socketID, "42"); err != nil {
		fmt.Println(err) // no such connection in this example
	}
	fmt.Println(g.IsUIDOnline("42"), g.GroupCount("room"))
	_ = g.SendToUID("42", "notice", `{"text":"hello"}`)
	// Output:
	// push: unknown socket "1.1"
	// false 0
}
