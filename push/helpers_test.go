package push_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// testApp is the app of the auth-signature docs' worked examples.
var testApp = push.App{ID: "1", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}

// env is a push server on an engine on a free loopback port.
type env struct {
	t   *testing.T
	tr  wstest.Transport
	srv *push.Server
	es  *engine.Server
}

// hook records hook events.
type hookRec struct{ ch chan push.HookEvent }

func (h hookRec) HandleEvent(e push.HookEvent) {
	select {
	case h.ch <- e:
	default:
	}
}

func start(t *testing.T, tr wstest.Transport, cfg push.Config, apps ...push.App) *env {
	t.Helper()
	if len(apps) == 0 {
		a := testApp
		a.ClientEvents = true
		apps = []push.App{a}
	}
	as, err := push.NewApps(apps...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Apps = as
	srv, err := push.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, tr: tr, srv: srv, es: startEngine(t, tr, engine.Config{}, srv)}
}

// app returns the server's copy of the first app (defaults filled in).
func (e *env) app() *push.App { return e.srv.Apps().All()[0] }

// options reach e's server as app, over e's transport.
func (e *env) options(app *push.App) pushtest.Options {
	o := pushtest.Options{Key: app.Key, Secret: app.Secret}
	if e.tr.TLS {
		o.TLS = testpki.Get().ClientConfig()
	}
	return o
}

// dial connects to the first app as pusher-js does and reads
// connection_established.
func (e *env) dial() *pushtest.Client {
	e.t.Helper()
	return e.dialAs(e.app())
}

// dialAs is dial connecting to app.
func (e *env) dialAs(app *push.App) *pushtest.Client {
	e.t.Helper()
	return pushtest.Dial(e.t, e.es.Addr().String(), e.options(app))
}

// dialRaw connects to path and query as is, for t, and reads nothing.
func (e *env) dialRaw(t testing.TB, path string) *pushtest.Client {
	t.Helper()
	o := e.options(e.app())
	o.Path = path
	return pushtest.Connect(t, e.es.Addr().String(), o)
}

func jsonEq(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

// startEngine starts an engine for srv, bound to it before it starts.
func startEngine(t *testing.T, tr wstest.Transport, cfg engine.Config, srv *push.Server) *engine.Server {
	t.Helper()
	return wstest.StartServerWith(t, tr, "127.0.0.1:0", cfg, srv, 5*time.Second, srv.Bind)
}
