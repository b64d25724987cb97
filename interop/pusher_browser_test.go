package interop

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/wssd/wssd/push"
)

// TestPusherJSChromium runs pusher-js in headless Chromium, over ws and
// wss: a page served by the test loads the pusher-js that the wssd binary
// serves at /demo/pusher.min.js, connects to an in-process push server and
// subscribes to two private channels through the test's authorization
// endpoint, which signs one with push.App.AuthorizeChannel and refuses the
// other with 403. Events the Go API triggers then reach the page: on its
// channel, not on a channel it did not join, and not when the trigger
// excludes its socket id.
func TestPusherJSChromium(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")

	forEachTransport(t, func(t *testing.T, tr transport) {
		// The wssd binary serves pusher-js, over the same transport.
		demo, spki := startDevWssd(t, tr)
		if tr.TLS {
			spki = append(spki, testSPKIHash(t))
		}
		app := push.App{ID: "42", Key: "browser-key", Secret: "browser-secret"}
		ps := newPush(t, app)
		es := startPushEngine(t, tr, ps)

		script := demo + "demo/pusher.min.js"
		auth := &authEndpoint{app: &app, refuse: "private-denied"}
		pages := httptest.NewServer(pusherPageServer(pusherPage{
			Script: script,
			Key:    app.Key, Port: es.Addr().Port(), TLS: tr.TLS,
			Channels: []string{"private-orders", "private-denied"},
		}, auth))
		t.Cleanup(pages.Close)

		browser := newBrowser(t, chromium, spki...)
		tab, _ := newTab(t, browser)
		run(t, tab, "loading the page", chromedp.Navigate(pages.URL+"/"))
		// pusher-js came from wssd (its pusher.min.js does not say its
		// version: cmd/wssd checks the file's SHA-256).
		waitJS(t, tab, "pusher-js", `typeof Pusher`, "function")
		waitJS(t, tab, "where pusher-js came from", `performance.getEntriesByType("resource").map((e) => e.name).filter((n) => n.endsWith(".js"))`, []string{script})
		waitJS(t, tab, "subscriptions", `result.subscribed`, []string{"private-orders"})
		waitJS(t, tab, "refused subscriptions", `result.errors`, map[string]any{"private-denied": map[string]any{"type": "AuthError", "status": 403}})
		socketID, err := chromedp.Run(tab, chromedp.Evaluate[string](`pusher.connection.socket_id`))
		if err != nil {
			t.Fatal(err)
		}
		want := []authRequest{{SocketID: socketID, Channel: "private-denied"}, {SocketID: socketID, Channel: "private-orders"}}
		if got := auth.seen(); !slices.Equal(got, want) {
			t.Errorf("the authorization endpoint got %+v, want %+v", got, want)
		}

		for _, tg := range []struct {
			channel, data, except string
		}{
			{"private-elsewhere", `{"id":1}`, ""}, // not subscribed
			{"private-orders", `{"id":2}`, ""},
			{"private-orders", `{"id":3}`, socketID}, // the page excluded
			{"private-denied", `{"id":4}`, ""},       // refused
			{"private-orders", `{"id":5}`, ""},
		} {
			if err := ps.Trigger(app.ID, []string{tg.channel}, "shipped", tg.data, tg.except); err != nil {
				t.Fatalf("Trigger %s %s: %v", tg.channel, tg.data, err)
			}
		}
		// One connection gets its events in order: once id 5 is there, 3
		// would have been too.
		waitJS(t, tab, "events received", `result.events`, []map[string]any{
			{"channel": "private-orders", "data": map[string]any{"id": 2}},
			{"channel": "private-orders", "data": map[string]any{"id": 5}},
		})
	})
}

// pusherPage is what the pusher-js test page is executed with.
type pusherPage struct {
	Script   string // URL of pusher-js
	Key      string
	Port     uint16
	TLS      bool
	Channels []string
}

// pusherPageServer serves the page at / and the authorization endpoint at
// POST /auth.
func pusherPageServer(p pusherPage, auth *authEndpoint) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pusherPageTemplate.Execute(w, p)
	})
	mux.Handle("POST /auth", auth)
	return mux
}

// pusherPageTemplate loads pusher-js, subscribes to the channels and keeps
// in window.result the channels subscribed, the subscription errors
// (type and status) and the "shipped" events received.
var pusherPageTemplate = template.Must(template.New("pusher").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>pusher-js</title>
<script src="{{.Script}}"></script></head>
<body>
<script>
window.result = {subscribed: [], errors: {}, events: []};
const pusher = new Pusher({{.Key}}, {
  cluster: "local", wsHost: "localhost", wsPort: {{.Port}}, wssPort: {{.Port}}, forceTLS: {{.TLS}},
  enabledTransports: ["ws"], disableStats: true,
  channelAuthorization: {endpoint: "/auth", transport: "ajax"},
});
for (const name of {{.Channels}}) {
  const ch = pusher.subscribe(name);
  ch.bind("pusher:subscription_succeeded", () => result.subscribed.push(name));
  ch.bind("pusher:subscription_error", (e) => { result.errors[name] = {type: e.type, status: e.status}; });
  ch.bind("shipped", (data) => result.events.push({channel: name, data}));
}
</script>
</body></html>
`))

// authEndpoint is an app's channel authorization endpoint, as pusher-js's
// "ajax" transport calls it: a form with socket_id and channel_name. It
// signs every channel but refuse, and records what it was asked, in order.
type authEndpoint struct {
	app    *push.App
	refuse string

	mu       sync.Mutex
	requests []authRequest
}

// authRequest is one request to an authEndpoint.
type authRequest struct {
	SocketID, Channel string
}

func (a *authEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := authRequest{SocketID: r.PostForm.Get("socket_id"), Channel: r.PostForm.Get("channel_name")}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	a.mu.Unlock()
	if req.Channel == a.refuse || !strings.HasPrefix(req.Channel, "private-") {
		http.Error(w, fmt.Sprintf("not %s", req.Channel), http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"auth": a.app.AuthorizeChannel(req.SocketID, req.Channel, "")})
}

// seen returns the requests so far, sorted by channel.
func (a *authEndpoint) seen() []authRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := slices.Clone(a.requests)
	slices.SortFunc(s, func(x, y authRequest) int { return strings.Compare(x.Channel, y.Channel) })
	return s
}
