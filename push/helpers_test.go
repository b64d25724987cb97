package push_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
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

// frame is a server message with its data decoded once.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// inner is the data's JSON text: the contents of a data string.
func (f frame) inner() string {
	var s string
	if err := json.Unmarshal(f.Data, &s); err == nil {
		return s
	}
	return string(f.Data)
}

func (f frame) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(f.inner()), v); err != nil {
		t.Fatalf("%s data %s: %v", f.Event, f.Data, err)
	}
}

type client struct {
	t  testing.TB
	c  *wstest.Client
	id string
}

// dial connects to path and query as is.
func (e *env) dialRaw(path string) (*client, error) {
	o := wstest.DialOptions{Path: path}
	if e.tr.TLS {
		o.TLS = testpki.Get().ClientConfig()
	}
	c, err := wstest.Dial(e.es.Addr().String(), o)
	if err != nil {
		return nil, err
	}
	cl := &client{t: e.t, c: c}
	e.t.Cleanup(func() { c.Close() })
	return cl, nil
}

// dial connects as pusher-js does and reads connection_established.
func (e *env) dial() *client {
	e.t.Helper()
	c, err := e.dialRaw("/app/" + url.PathEscape(e.app().Key) + "?protocol=7&client=js&version=8.6.0&flash=false")
	if err != nil {
		e.t.Fatal(err)
	}
	f := c.expect(push.EvConnectionEstablished)
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	f.decode(e.t, &d)
	c.id = d.SocketID
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if err := c.c.Write(wstest.Message(wsproto.OpText, b)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next message, failing on a close or a timeout.
func (c *client) next() frame {
	c.t.Helper()
	op, b, err := c.c.ReadMessage(5 * time.Second)
	for err == nil && op == wsproto.OpPing { // the engine's heartbeat
		_ = c.c.Write(wstest.Message(wsproto.OpPong, b))
		op, b, err = c.c.ReadMessage(5 * time.Second)
	}
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	if op != wsproto.OpText {
		c.t.Fatalf("got a %v message", op)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("server sent %q: %v", b, err)
	}
	return f
}

func (c *client) expect(event string) frame {
	c.t.Helper()
	f := c.next()
	if f.Event != event {
		c.t.Fatalf("got %s %s %s, want %s", f.Event, f.Channel, f.Data, event)
	}
	return f
}

// expectError reads a pusher:error and returns its code (0 for null) and
// message.
func (c *client) expectError() (int, string) {
	c.t.Helper()
	f := c.expect(push.EvError)
	var d struct {
		Message string `json:"message"`
		Code    *int   `json:"code"`
	}
	f.decode(c.t, &d)
	if d.Code == nil {
		return 0, d.Message
	}
	return *d.Code, d.Message
}

// expectClose reads until the close frame and returns its code.
func (c *client) expectClose() wsproto.CloseCode {
	c.t.Helper()
	code, _, err := c.c.ReadClose(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for close: %v", err)
	}
	// Answer, so that the server closes now, not at its close timeout.
	_ = c.c.Write(wstest.Message(wsproto.OpClose, []byte{byte(code >> 8), byte(code)}))
	return code
}

// sync makes sure everything sent to c before now has arrived: a
// pusher:ping is answered after what was already queued.
func (c *client) sync() {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	c.expect("pusher:pong")
}

// quiet checks that nothing but the pong of a sync is waiting.
func (c *client) quiet() {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.next(); f.Event != "pusher:pong" {
		c.t.Fatalf("unexpected %s %s %s", f.Event, f.Channel, f.Data)
	}
}

func (c *client) subscribe(channel string, auth string, channelData string) {
	c.t.Helper()
	d := map[string]any{"channel": channel}
	if auth != "" {
		d["auth"] = auth
	}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": d})
}

// join subscribes with a valid signature and reads subscription_succeeded.
func (c *client) join(app *push.App, channel, channelData string) frame {
	c.t.Helper()
	auth := ""
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		auth = app.AuthorizeChannel(c.id, channel, channelData)
	}
	c.subscribe(channel, auth, channelData)
	f := c.expect("pusher_internal:subscription_succeeded")
	if f.Channel != channel {
		c.t.Fatalf("subscription_succeeded for %q, want %q", f.Channel, channel)
	}
	return f
}

func (c *client) trigger(channel, event string, data any) {
	c.t.Helper()
	c.send(map[string]any{"event": event, "channel": channel, "data": data})
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
