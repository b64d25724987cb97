package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// pusherAPIChecks are the checks node/pusher_api.mjs runs, in its order.
var pusherAPIChecks = []string{
	"trigger", "trigger-batch", "channels", "channel", "users", "send-to-user",
	"terminate-user-connections", "data-too-large", "bad-secret", "gateway",
}

// phpChecks are the checks php/gateway.php runs, in its order.
var phpChecks = []string{"bind-uid", "is-uid-online", "send-to-uid", "bad-secret"}

// apiApp is the app of the API tests.
var apiApp = push.App{ID: "77", Key: "api-key", Secret: "api-secret"}

// startPushAPI starts a push server whose HTTP API the engine serves on
// the WebSocket's port, and returns the engine and the app's base URL
// (http or https, on localhost, which the test certificate names).
func startPushAPI(t *testing.T, tr transport) (*engine.Server, string) {
	t.Helper()
	apps, err := push.NewApps(apiApp)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{EventLoops: 2, HTTPHandler: ps.API(push.APIConfig{})}
	es := wstest.StartServerWith(t, tr, "127.0.0.1:0", cfg, ps, 10*time.Second, ps.Bind)
	scheme := "http"
	if tr.TLS {
		scheme = "https"
	}
	return es, fmt.Sprintf("%s://localhost:%d", scheme, es.Addr().Port())
}

// runReport runs cmd, a script printing a scriptReport on its last line,
// and checks as subtests that it ran and passed each of checks.
func runReport(t *testing.T, cmd *exec.Cmd, checks []string) scriptReport {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	return checkReport(t, out, runErr, stderr.String(), checks)
}

// checkReport is runReport's check of what the script printed, out on
// standard output and stderr on standard error, and of runErr, how it
// ended, for a script that already ran.
func checkReport(t *testing.T, out []byte, runErr error, stderr string, checks []string) scriptReport {
	t.Helper()
	var rep scriptReport
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("no JSON report on the script's last line: %v (%v)\nstderr:\n%s", err, runErr, stderr)
	}
	t.Logf("%s %s", rep.Client, rep.Version)
	if runErr != nil {
		t.Logf("%v\nstderr:\n%s", runErr, stderr)
	}
	got := map[string]scriptResult{}
	for _, r := range rep.Results {
		got[r.Name] = r
	}
	for _, name := range checks {
		t.Run(name, func(t *testing.T) {
			r, ok := got[name]
			if !ok {
				t.Fatal("the script did not run this check")
			}
			if !r.OK {
				t.Error(r.Error)
			}
		})
	}
	if len(got) != len(checks) {
		t.Errorf("the script ran %d checks, the test lists %d", len(got), len(checks))
	}
	return rep
}

// TestPusherAPI drives Pusher's official Node server SDK (pusher 5.3.4)
// against the HTTP API on the WebSocket's port, ws/http and wss/https:
// trigger with socket_id exclusion and info, triggerBatch, the channel
// queries, sendToUser, terminateUserConnections, a 413 and a 401, and
// the Gateway facade through the SDK's generic post and get; pusher-js
// 8.6.0 subscribers check what arrives.
func TestPusherAPI(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	requireComponent(t, "Node.js (node)", err)
	requireComponent(t, "the npm packages of interop/node", installNodeModules(t))
	forEachTransport(t, func(t *testing.T, tr transport) {
		es, _ := startPushAPI(t, tr)
		cfg, _ := json.Marshal(map[string]any{
			"appId": apiApp.ID, "key": apiApp.Key, "secret": apiApp.Secret,
			"host": "localhost", "port": es.Addr().Port(), "tls": tr.TLS,
		})
		ctx, cancel := context.WithTimeout(t.Context(), 2*scriptTimeout)
		defer cancel()
		cmd := command(ctx, nodeDir, node, "pusher_api.mjs", string(cfg))
		cmd.Env = os.Environ()
		if tr.TLS {
			cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+caFile(t))
		}
		runReport(t, cmd, pusherAPIChecks)
	})
}

// TestGatewayPHP runs a PHP script that uses only php-cli, php-curl and
// hash_hmac, as a GatewayWorker back end would: it binds a connection the
// test holds to a uid, asks whether the uid is online, and sends to it;
// the connection must receive the event.
func TestGatewayPHP(t *testing.T) {
	t.Parallel()
	php := requirePHP(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		es, base := startPushAPI(t, tr)
		o := wstest.DialOptions{Path: "/app/" + apiApp.Key + "?protocol=7&client=php-test"}
		if tr.TLS {
			o.TLS = clientTLS()
		}
		c, err := wstest.Dial(es.Addr().String(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var established struct {
			Event string `json:"event"`
			Data  string `json:"data"`
		}
		readPusher(t, c, &established)
		var conn struct {
			SocketID string `json:"socket_id"`
		}
		if err := json.Unmarshal([]byte(established.Data), &conn); err != nil || established.Event != "pusher:connection_established" {
			t.Fatalf("first message %+v (%v)", established, err)
		}

		cfg := map[string]any{"appId": apiApp.ID, "key": apiApp.Key, "secret": apiApp.Secret,
			"base": base, "socketId": conn.SocketID, "uid": "php-user"}
		if tr.TLS {
			cfg["cafile"] = caFile(t)
		}
		arg, _ := json.Marshal(cfg)
		ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
		defer cancel()
		runReport(t, command(ctx, "php", php, "gateway.php", string(arg)), phpChecks)

		var ev struct {
			Event   string `json:"event"`
			Channel string `json:"channel"`
			Data    string `json:"data"`
		}
		readPusher(t, c, &ev)
		if ev.Event != "from-php" || ev.Channel != "#server-to-user-php-user" || ev.Data != `{"text":"hello from PHP"}` {
			t.Errorf("the subscriber got %+v, want from-php on #server-to-user-php-user", ev)
		}
	})
}

// requirePHP returns the path of php, once it has checked that its curl
// extension is there; without either the test is skipped, or fails in CI.
func requirePHP(t *testing.T) string {
	t.Helper()
	php := requireProgram(t, "php", "PHP (php-cli)", "--version")
	_, err := runOutput(t, 30*time.Second, ".", php, "-r", `exit(function_exists("curl_init") ? 0 : 1);`)
	requireComponent(t, "php-curl", err)
	return php
}

// readPusher reads the next text message of c, answering pings, into v.
func readPusher(t *testing.T, c *wstest.Client, v any) {
	t.Helper()
	for {
		op, b, err := c.ReadMessage(10 * time.Second)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		if op == wsproto.OpPing {
			_ = c.Write(wstest.Message(wsproto.OpPong, b))
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		return
	}
}
