package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestDevAppLoopbackOnly: without an app, wssd refuses to listen beyond
// loopback, where its development app's demo would sign anyone in.
func TestDevAppLoopbackOnly(t *testing.T) {
	cases := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:0", true}, {"[::1]:0", true}, {"localhost:0", true},
		{":8282", false}, {"0.0.0.0:8282", false}, {"192.0.2.1:8282", false},
	}
	for _, tc := range cases {
		t.Run(tc.listen, func(t *testing.T) {
			o, err := parseFlags([]string{"-listen", tc.listen}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := newPushServer(o, nil, nil, 0, slog.New(slog.DiscardHandler))
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok=%v", err, tc.ok)
			}
			if ps != nil {
				ps.stop(t.Context())
			}
		})
	}
}

// TestBinaryPushDev runs the binary as make run does: the development app
// is generated, kept, and reused; its demo page, pusher-js and auth
// endpoint are served on the WebSocket's port, and what the endpoint signs
// lets a client join the demo's presence channel.
func TestBinaryPushDev(t *testing.T) {
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	file := filepath.Join(t.TempDir(), "dev", "app.json")
	p := startWSSD(t, "-dev-app", file)
	dev := p.next("development app (for development only: its demo signs anyone in)")
	key, _ := dev["key"].(string)
	if key == "" || dev["secret"] == "" || dev["app_id"] == "" {
		t.Fatalf("development app line %v", dev)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("app file: %v %v", st, err)
	}
	base := "http://" + p.addr
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "wssd demo chat") {
		t.Fatalf("demo page: %d", code)
	}
	code, js := get("/demo/pusher.min.js")
	sums, _ := os.ReadFile("web/vendor/pusher-js/SHA256SUMS")
	sum := sha256.Sum256([]byte(js))
	if code != 200 || !strings.HasPrefix(string(sums), hex.EncodeToString(sum[:])) {
		t.Fatalf("pusher-js: %d, not the vendored file", code)
	}
	if code, body := get("/demo/config"); code != 200 || !strings.Contains(body, key) {
		t.Fatalf("config: %d %s", code, body)
	}

	c := pushtest.Dial(t, p.addr, pushtest.Options{Key: key})
	auth := func(channel string) (int, map[string]string) {
		resp, err := http.PostForm(base+"/demo/auth", url.Values{"socket_id": {c.ID}, "channel_name": {channel}, "name": {"Ann"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := auth("private-other"); code != http.StatusForbidden {
		t.Fatalf("auth for another channel: %d, want 403", code)
	}
	code, a := auth("presence-demo")
	if code != 200 {
		t.Fatalf("auth: %d", code)
	}
	c.Subscribe("presence-demo", a["auth"], a["channel_data"])
	if f := c.Expect("pusher_internal:subscription_succeeded"); !strings.Contains(f.Text(), `"ann"`) {
		t.Fatalf("subscribe: %s", f.Data)
	}

	// The same file serves the same app after a restart.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if f := c.Next(); f.Event != "pusher:error" {
		t.Fatalf("on SIGTERM: %s, want pusher:error 4200 first", f.Event)
	}
	if code := c.ExpectClose(); code != wsproto.CloseCode(push.CodeReconnect) {
		t.Fatalf("on SIGTERM: close %v, want 4200", code)
	}
	_ = p.cmd.Wait()
	again := startWSSD(t, "-dev-app", file)
	if d := again.next("development app (for development only: its demo signs anyone in)"); d["key"] != key {
		t.Fatalf("restarted with key %v, want %s", d["key"], key)
	}
}

// TestBinaryPushApp: an app from flags, its webhooks posted to -webhook-url
// and signed with its secret; no demo without the development app.
func TestBinaryPushApp(t *testing.T) {
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	var mu sync.Mutex
	var got []push.WebhookEvent
	creds := push.Credentials{ID: "42", Key: "app-key", Secret: "app-secret"}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Pusher-Key") != creds.Key || !creds.ValidSignature(body, r.Header.Get("X-Pusher-Signature")) {
			t.Errorf("webhook with key %q and a bad signature", r.Header.Get("X-Pusher-Key"))
		}
		var b push.WebhookBody
		_ = json.Unmarshal(body, &b)
		mu.Lock()
		got = append(got, b.Events...)
		mu.Unlock()
	}))
	t.Cleanup(hooks.Close)
	p := startWSSD(t, "-app-id", creds.ID, "-app-key", creds.Key, "-app-secret", creds.Secret, "-webhook-url", hooks.URL+"/pusher")
	if app := p.next("app"); app["app_id"] != creds.ID || app["webhooks"] != true {
		t.Fatalf("app line %v", app)
	}
	resp, err := http.Get("http://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / without the development app: %d, want 404", resp.StatusCode)
	}
	c := pushtest.Dial(t, p.addr, pushtest.Options{Key: creds.Key, Secret: creds.Secret})
	c.Join("news", "")
	// A trigger through the HTTP API on the same port, signed as the SDKs sign.
	body := `{"name":"update","channels":["news"],"data":"{\"n\":1}"}`
	query := creds.SignQuery("POST", "/apps/42/events", nil, []byte(body), time.Now())
	res, err := http.Post("http://"+p.addr+"/apps/42/events?"+query, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("trigger: %d", res.StatusCode)
	}
	c.ExpectEvent("update", "news", `{"n":1}`)
	m := scrape(t, p.metrics)
	for name, want := range map[string]float64{
		`wssd_push_connections{app="42"}`:                                          1,
		`wssd_push_subscriptions{app="42"}`:                                        1,
		`wssd_api_requests_total{route="POST /apps/{app_id}/events",status="200"}`: 1,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	ready, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 200 {
		t.Fatalf("/readyz: %d", ready.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0].Name != push.WebhookChannelOccupied || got[0].Channel != "news" {
		t.Fatalf("webhook %+v", got[0])
	}
}
