package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"strings"
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

// An app's authorization endpoints, as pusher-js calls them
// (channelAuthorization and userAuthentication): check who the user is
// (here a header stands for the session), then sign.
func ExampleApp_AuthorizeChannel() {
	apps, _ := push.NewApps(push.App{ID: "1", Key: "app-key", Secret: "app-secret"})
	app, _ := apps.ByID("1")
	masterKey := []byte("32 bytes of encryption master k.")
	mux := http.NewServeMux() // served by your web app
	mux.HandleFunc("POST /pusher/auth", func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User") // your session here
		socketID, channel := r.FormValue("socket_id"), r.FormValue("channel_name")
		resp := map[string]string{}
		switch {
		case strings.HasPrefix(channel, "presence-"):
			cd, _ := json.Marshal(map[string]any{"user_id": user, "user_info": map[string]string{"name": user}})
			resp["channel_data"] = string(cd)
			resp["auth"] = app.AuthorizeChannel(socketID, channel, string(cd))
		case strings.HasPrefix(channel, "private-encrypted-"):
			resp["auth"] = app.AuthorizeChannel(socketID, channel, "")
			resp["shared_secret"] = push.SharedSecret(channel, masterKey)
		default:
			resp["auth"] = app.AuthorizeChannel(socketID, channel, "")
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	mux.HandleFunc("POST /pusher/user-auth", func(w http.ResponseWriter, r *http.Request) {
		ud, _ := json.Marshal(map[string]any{"id": r.Header.Get("X-User"), "watchlist": []string{"bob"}})
		_ = json.NewEncoder(w).Encode(map[string]string{
			"auth": app.AuthenticateUser(r.FormValue("socket_id"), string(ud)), "user_data": string(ud)})
	})
	fmt.Println(app.AuthenticateUser("1234.1234", `{"id":"12345"}`))
	// Output:
	// app-key:0df667f95dc3da186d3a20935a9e63960bdba316b4af02fa9b98138a22d3bf54
}
