package interop

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wssd/wssd/push"
)

// echoChecks are the checks node/echo.mjs runs, in its order.
var echoChecks = []string{"public-listen", "private", "presence", "whisper", "to-others"}

// TestLaravelEcho drives Laravel Echo 2.5.0 (broadcaster "pusher", with
// pusher-js 8.6.0) in Node against the push server, over ws and wss, as a
// Laravel front end uses it: channel().listen() of events named as Laravel
// broadcasts them (App\Events\OrderShipped listened as OrderShipped,
// broadcastAs() names with a leading dot), private() and notification()
// authorized by a stand-in for Laravel's /broadcasting/auth with bearer
// tokens (a refused channel reports 403), join() with here, joining and
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
			"POST /broadcasting/auth": laravelAuth{app: &app},
		})
		cfg, _ := json.Marshal(map[string]any{
			"key": app.Key, "host": "localhost", "port": es.Addr().Port(), "tls": tr.TLS, "control": control,
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
// channel's callback returns; other private- channels are for any user.
type laravelAuth struct {
	app *push.App
}

func (a laravelAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, ok := laravelTokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
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
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}
