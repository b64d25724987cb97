package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// pusherChecks are the checks node/pusher.mjs runs, in its order.
var pusherChecks = []string{
	"public", "private", "encrypted", "presence-two-tabs",
	"client-events", "signin-watchlist", "send-to-user",
}

// TestPusherJS drives pusher-js 8.6.0 in Node against the push server,
// over ws and wss: channels of every kind authorized by Pusher's own Node
// SDK, presence across two tabs, client events, sign-in with a watchlist,
// and events the Go API triggers and sends to a user.
func TestPusherJS(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		app := push.App{ID: "42", Key: "interop-key", Secret: "interop-secret", ClientEvents: true}
		ps := newPush(t, app)
		es := startPushEngine(t, tr, ps)
		control := startControl(t, ps, app.ID, nil)

		cfg, _ := json.Marshal(map[string]any{
			"appId": app.ID, "key": app.Key, "secret": app.Secret,
			"masterKey": base64.StdEncoding.EncodeToString([]byte("an encryption master key of 32 b")),
			"host":      "localhost", "port": es.Addr().Port(), "tls": tr.TLS, "control": control,
		})
		runNodeChecks(t, tr, node, "pusher.mjs", cfg, "pusher-js", "8.6.0", pusherChecks)
	})
}

// runNodeChecks runs the script in interop/node with the JSON config as
// its argument (over wss, Node trusts the test CA through
// NODE_EXTRA_CA_CERTS), reads the JSON report on its last line, and turns
// each of the checks, which the script must run all and only, into a
// subtest. The report must name client at version.
func runNodeChecks(t *testing.T, tr transport, node, script string, cfg []byte, client, version string, checks []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*scriptTimeout)
	defer cancel()
	cmd := command(ctx, nodeDir, node, script, string(cfg))
	cmd.Env = os.Environ()
	if tr.TLS {
		cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+caFile(t))
	}
	if rep := runReport(t, cmd, checks); rep.Client != client || rep.Version != version {
		t.Errorf("%s %s, want %s %s", rep.Client, rep.Version, client, version)
	}
}

// newPush returns a push server for the apps.
func newPush(t *testing.T, apps ...push.App) *push.Server {
	t.Helper()
	a, err := push.NewApps(apps...)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := push.New(push.Config{Apps: a})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// startPushEngine starts an engine with ps as its handler, bound to it,
// and shuts it down when the test ends.
func startPushEngine(t *testing.T, tr transport, ps *push.Server) *engine.Server {
	t.Helper()
	cfg := engine.Config{
		EventLoops: 2,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return wstest.StartServerWith(t, tr, "127.0.0.1:0", cfg, ps, 10*time.Second, ps.Bind)
}

// startControl serves the script's requests to trigger events through the
// Go API, standing in for the HTTP API: POST /trigger and POST /user, and
// the routes given (patterns of http.ServeMux).
func startControl(t *testing.T, ps *push.Server, appID string, routes map[string]http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("POST /trigger", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Channels []string `json:"channels"`
			Event    string   `json:"event"`
			Data     string   `json:"data"`
			SocketID string   `json:"socket_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := ps.Trigger(appID, req.Channels, req.Event, req.Data, req.SocketID); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /user", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			UserID string `json:"user_id"`
			Event  string `json:"event"`
			Data   string `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := ps.SendToUser(appID, req.UserID, req.Event, req.Data); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	return serveHTTP(t, mux)
}

// serveHTTP serves h on a free loopback port until the test ends and
// returns its base URL, http://127.0.0.1:port.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String()
}
