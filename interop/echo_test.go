package interop

import (
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/wssd/wssd/push"
)

// echoChecks are the checks node/echo.mjs runs, in its order.
var echoChecks = []string{"public-listen", "private", "encrypted", "presence", "whisper", "to-others"}

// echoMasterKey is the stand-in Laravel app's encryption master key
// (PUSHER_ENCRYPTION_MASTER_KEY_BASE64 in a Laravel .env).
var echoMasterKey = []byte("laravel's encryption master key!")

// TestLaravelEcho drives Laravel Echo 2.5.0 (broadcaster "pusher", with
// pusher-js 8.6.0) in Node against the push server, over ws and wss, as a
// Laravel front end uses it: channel().listen() of events named as Laravel
// broadcasts them (App\Events\OrderShipped listened as OrderShipped,
// broadcastAs() names with a leading dot), private() and notification()
// authorized by a stand-in for Laravel's /broadcasting/auth with bearer
// tokens (a refused channel reports 403), encryptedPrivate() decrypting an
// event encrypted as Laravel's broadcaster encrypts it, join() with here, joining and
// leaving carrying Laravel's user_info, whisper() on presence and private
// channels, and toOthers() (a trigger that excludes the sender's socket).
func TestLaravelEcho(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		app := push.App{ID: "7", Key: "echo-key", Secret: "echo-secret", ClientEvents: true}
		ps := newPush(t, app)
		es := startPushEngine(t, tr, ps)
		control := startControl(t, ps, app.ID, map[string]http.Handler{
			"POST /broadcasting/auth": laravelAuth{app: &app, masterKey: echoMasterKey},
		})
		cfg, _ := json.Marshal(map[string]any{
			"key": app.Key, "host": "localhost", "port": es.Addr().Port(), "tls": tr.TLS, "control": control,
			"masterKey": base64.StdEncoding.EncodeToString(echoMasterKey),
		})
		runNodeChecks(t, tr, node, "echo.mjs", cfg, "laravel-echo", "2.5.0", echoChecks)
	})
}

// laravelUser is a user of the stand-in Laravel app.
type laravelUser struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// laravelTokens are the stand-in app's bearer tokens.
var laravelTokens = map[string]laravelUser{
	"ann-token": {ID: 1, Name: "Ann"},
	"bob-token": {ID: 2, Name: "Bob"},
}

// laravelAuth stands in for Laravel's POST /broadcasting/auth
// (Broadcast::routes() and routes/channels.php): the user is the bearer
// token's, and guests get 403; private-App.Models.User.{id} is only for
// user {id}; presence- channels get channel_data with the user's numeric
// id as user_id and {id, name} as user_info, as Laravel encodes what the
// channel's callback returns; other private- channels are for any user,
// private-encrypted- ones with their shared_secret derived from masterKey
// (what pusher-php-server adds when Laravel has an encryption master key).
// With csrf set, it also wants that X-CSRF-TOKEN, as Laravel's web
// middleware does (Echo sends the page's csrf-token meta tag). Its users
// are those of laravelTokens unless users is set.
type laravelAuth struct {
	app       *push.App
	masterKey []byte
	csrf      string
	users     map[string]laravelUser // bearer token → user
}

func (a laravelAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.csrf != "" && r.Header.Get("X-CSRF-TOKEN") != a.csrf {
		http.Error(w, "CSRF token mismatch", 419) // Laravel's status for it
		return
	}
	users := a.users
	if users == nil {
		users = laravelTokens
	}
	user, ok := users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok {
		http.Error(w, "guest", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	socketID, channel := r.PostForm.Get("socket_id"), r.PostForm.Get("channel_name")
	var channelData string
	switch {
	case strings.HasPrefix(channel, "private-App.Models.User."):
		if channel != "private-App.Models.User."+strconv.Itoa(user.ID) {
			http.Error(w, "not your channel", http.StatusForbidden)
			return
		}
	case strings.HasPrefix(channel, "presence-"):
		b, _ := json.Marshal(map[string]any{"user_id": user.ID, "user_info": user})
		channelData = string(b)
	case !strings.HasPrefix(channel, "private-"):
		http.Error(w, "not a private channel", http.StatusForbidden)
		return
	}
	res := map[string]string{"auth": a.app.AuthorizeChannel(socketID, channel, channelData)}
	if channelData != "" {
		res["channel_data"] = channelData
	}
	if strings.HasPrefix(channel, "private-encrypted-") {
		res["shared_secret"] = push.SharedSecret(channel, a.masterKey)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// TestLaravelEchoChromium runs Laravel Echo's browser build (its IIFE, as
// a page includes it) with the pusher-js that the wssd binary serves, in
// two headless Chromium tabs, over ws and wss, against the push server:
// Ann's and Bob's pages, each with its bearer token and the page's CSRF
// token, join a presence channel (here, joining, leaving carry Laravel's
// user_info), Ann's whisper reaches Bob only, with her user_id, and an
// App\Events\OrderShipped triggered on Bob's private channel reaches
// his listen('OrderShipped') and not Ann's page.
func TestLaravelEchoChromium(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")
	requireNode(t) // for node_modules/laravel-echo
	echoJS, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "laravel-echo", "dist", "echo.iife.js"))
	if err != nil {
		t.Fatal(err)
	}

	forEachTransport(t, func(t *testing.T, tr transport) {
		demo, spki := startDevWssd(t, tr)
		if tr.TLS {
			spki = append(spki, testSPKIHash(t))
		}
		app := push.App{ID: "7", Key: "echo-key", Secret: "echo-secret", ClientEvents: true}
		ps := newPush(t, app)
		es := startPushEngine(t, tr, ps)

		const csrf = "csrf-of-the-page"
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = echoPage.Execute(w, map[string]any{
				"Script": demo + "demo/pusher.min.js", "Key": app.Key, "Port": es.Addr().Port(), "TLS": tr.TLS, "CSRF": csrf,
			})
		})
		mux.HandleFunc("GET /echo.iife.js", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write(echoJS)
		})
		mux.Handle("POST /broadcasting/auth", laravelAuth{app: &app, csrf: csrf})
		pages := httptest.NewServer(mux)
		t.Cleanup(pages.Close)

		browser := newBrowser(t, chromium, spki...)
		ann, _ := newTab(t, browser)
		bob, closeBob := newTab(t, browser)
		annUser := map[string]any{"id": 1, "name": "Ann"}
		bobUser := map[string]any{"id": 2, "name": "Bob"}

		run(t, ann, "Ann's page", chromedp.Navigate(pages.URL+"/?token=ann-token"))
		waitJS(t, ann, "Ann's here", `result.here`, []any{annUser})
		waitJS(t, ann, "Ann's own channel", `result.subscribed`, true)
		run(t, bob, "Bob's page", chromedp.Navigate(pages.URL+"/?token=bob-token"))
		waitJS(t, bob, "Bob's here", `result.here`, []any{annUser, bobUser})
		waitJS(t, bob, "Bob's own channel", `result.subscribed`, true)
		waitJS(t, ann, "Ann's joining", `result.joining`, []any{bobUser})

		run(t, ann, "Ann whispers", chromedp.Evaluate[chromedp.Void](`whisper({name: "Ann"})`))
		waitJS(t, bob, "Bob's whispers", `result.whispers`, []any{map[string]any{"data": map[string]any{"name": "Ann"}, "user_id": "1"}})

		if err := ps.Trigger(app.ID, []string{"private-App.Models.User.2"}, `App\Events\OrderShipped`, `{"order":{"id":7}}`, ""); err != nil {
			t.Fatal(err)
		}
		waitJS(t, bob, "Bob's events", `result.events`, []any{map[string]any{"order": map[string]any{"id": 7}}})

		closeBob()
		waitJS(t, ann, "Ann's leaving", `result.leaving`, []any{bobUser})
		// Ann's page got neither her own whisper nor Bob's event.
		waitJS(t, ann, "Ann's whispers and events", `[result.whispers, result.events]`, []any{[]any{}, []any{}})
	})
}

// echoPage is a Laravel-style page: the csrf-token meta tag, pusher-js as
// window.Pusher, Echo's IIFE build, and an Echo with the bearer token of
// the page's ?token=. It keeps what Echo reported in window.result and
// offers whisper(data) on the presence channel.
var echoPage = template.Must(template.New("echo").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>laravel-echo</title>
<meta name="csrf-token" content="{{.CSRF}}">
<script src="{{.Script}}"></script>
<script src="/echo.iife.js"></script></head>
<body>
<script>
const token = new URLSearchParams(location.search).get("token");
window.result = {here: null, joining: [], leaving: [], whispers: [], events: [], subscribed: false};
const echo = new Echo.default({
  broadcaster: "pusher", key: {{.Key}}, cluster: "mt1",
  wsHost: "localhost", wsPort: {{.Port}}, wssPort: {{.Port}}, forceTLS: {{.TLS}},
  enabledTransports: ["ws", "wss"], disableStats: true,
  bearerToken: token,
});
const byID = (users) => [...users].sort((a, b) => a.id - b.id);
const chat = echo.join("chat.1")
  .here((users) => { result.here = byID(users); })
  .joining((user) => result.joining.push(user))
  .leaving((user) => result.leaving.push(user))
  .listenForWhisper("typing", (data, meta) => result.whispers.push({data, user_id: meta && meta.user_id}));
window.whisper = (data) => { chat.whisper("typing", data); };
const id = {"ann-token": 1, "bob-token": 2}[token];
echo.private("App.Models.User." + id)
  .subscribed(() => { result.subscribed = true; })
  .listen("OrderShipped", (e) => result.events.push(e));
</script>
</body></html>
`))
