package push_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/push"
)

// The HTTP API on the WebSocket's port: the back end (any Pusher server
// SDK, or curl) triggers events with signed requests to the same host and
// port pusher-js connects to, and load balancers probe /readyz there.
func ExampleServer_API() {
	apps, err := push.NewApps(push.App{ID: "1", Key: "app-key", Secret: "app-secret"})
	if err != nil {
		log.Fatal(err)
	}
	ps, err := push.New(push.Config{Apps: apps})
	if err != nil {
		log.Fatal(err)
	}
	api := ps.API(push.APIConfig{})
	es, err := engine.New(engine.Config{HTTPHandler: api}, ps)
	if err != nil {
		log.Fatal(err)
	}
	ps.Bind(es)
	if err := es.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.SetReady(false) // while draining, /readyz answers 503
		_ = es.Shutdown(ctx)
	}()

	// What a server SDK sends for trigger("orders", "created", {id: 7}).
	creds := push.Credentials{ID: "1", Key: "app-key", Secret: "app-secret"}
	body := `{"name":"created","channels":["orders"],"data":"{\"id\":7}","info":"subscription_count"}`
	query := creds.SignQuery("POST", "/apps/1/events", nil, []byte(body), time.Now())
	res, err := http.Post("http://"+es.Addr().String()+"/apps/1/events?"+query, "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(answer))
	// Output:
	// 200 {"channels":{"orders":{"subscription_count":0}}}
}
