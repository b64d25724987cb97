package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/metrics"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestPushSeries: the push series count the app's connections, channels
// and subscriptions as a client makes them, and the API's answers.
func TestPushSeries(t *testing.T) {
	apps, err := push.NewApps(push.App{ID: "7", Key: "key-7", Secret: "secret-7"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	api := ps.API(push.APIConfig{})
	srv := wstest.StartServerWith(t, wstest.Transports[0], "127.0.0.1:0", engine.Config{PingInterval: -1, HTTPHandler: api}, ps, 5*time.Second, ps.Bind)
	reg := metrics.New(srv)
	if err := reg.RegisterPush(ps, api, nil); err != nil {
		t.Fatal(err)
	}
	c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Path: "/app/key-7?protocol=7"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadMessage(2 * time.Second); err != nil { // connection_established
		t.Fatal(err)
	}
	for _, ch := range []string{"a", "b"} {
		if err := c.Write(wstest.Message(wsproto.OpText, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+ch+`"}}`))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(2 * time.Second); err != nil { // subscription_succeeded
			t.Fatal(err)
		}
	}
	if got := wstest.HTTPStatus(t, "http://"+srv.Addr().String()+"/apps/7/channels"); got != 401 {
		t.Fatalf("unsigned API request: %d, want 401", got)
	}
	want := `
# HELP wssd_push_channels Occupied channels, by app.
# TYPE wssd_push_channels gauge
wssd_push_channels{app="7"} 2
# HELP wssd_push_connections Pusher protocol connections, by app.
# TYPE wssd_push_connections gauge
wssd_push_connections{app="7"} 1
# HELP wssd_push_subscriptions Channel subscriptions, by app.
# TYPE wssd_push_subscriptions gauge
wssd_push_subscriptions{app="7"} 2
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want), "wssd_push_channels", "wssd_push_connections", "wssd_push_subscriptions"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg.Gatherer(), "wssd_api_requests_total"); err != nil || n != 1 {
		t.Fatalf("%d API series (%v), want the one 401", n, err)
	}
}
