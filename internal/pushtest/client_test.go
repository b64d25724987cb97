package pushtest_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

var app = push.App{ID: "1", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8", ClientEvents: true}

// start runs a push server for app and returns the options that reach it.
func start(t *testing.T, tr wstest.Transport) (string, pushtest.Options) {
	t.Helper()
	apps, err := push.NewApps(app)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	es := wstest.StartServerWith(t, tr, "127.0.0.1:0", engine.Config{}, srv, 5*time.Second, srv.Bind)
	o := pushtest.Options{Key: app.Key, Secret: app.Secret}
	if tr.TLS {
		o.TLS = testpki.Get().ClientConfig()
	}
	return es.Addr().String(), o
}

// TestClient: what each method sends is what push's server accepts, and
// what it reads is what the server sends, signatures included.
func TestClient(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		addr, o := start(t, tr)
		a, b := pushtest.Dial(t, addr, o), pushtest.Dial(t, addr, o)
		if a.ID == "" || a.ID == b.ID {
			t.Fatalf("socket ids %q and %q", a.ID, b.ID)
		}

		a.Join("news", "")
		a.Join("private-x", "")
		b.Join("private-x", "")
		b.Trigger("private-x", "client-hi", map[string]int{"n": 1})
		a.ExpectEvent("client-hi", "private-x", `{"n":1}`)

		var d struct {
			Presence struct {
				IDs []string `json:"ids"`
			} `json:"presence"`
		}
		a.Join("presence-r", `{"user_id":"ann"}`).Decode(t, &d)
		if len(d.Presence.IDs) != 1 || d.Presence.IDs[0] != "ann" {
			t.Fatalf("presence ids %v", d.Presence.IDs)
		}
		b.SignIn(`{"id":"bob"}`)
		a.Leave("news")
		a.Ping()
		b.Ping()

		// Signed with another secret, a subscription is refused.
		wrong := o
		wrong.Secret = "not the secret"
		w := pushtest.Dial(t, addr, wrong)
		w.Subscribe("private-x", w.Auth("private-x", ""), "")
		if f := w.Expect("pusher:subscription_error"); f.Channel != "private-x" {
			t.Fatalf("subscription_error for %q", f.Channel)
		}

		// A bad path: an error, then the close, both with the code.
		bad := o
		bad.Path = "/app/" + app.Key
		c := pushtest.Connect(t, addr, bad)
		if code, _ := c.ExpectError(); code != int(push.CodeNoProtocol) {
			t.Errorf("pusher:error code %d, want %d", code, push.CodeNoProtocol)
		}
		if code := c.ExpectClose(); code != wsproto.CloseCode(push.CodeNoProtocol) {
			t.Errorf("close code %d, want %d", code, push.CodeNoProtocol)
		}
	})
}
