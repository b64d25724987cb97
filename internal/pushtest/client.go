// Package pushtest is a Pusher Channels (protocol 7) client for wssd's
// tests: it speaks the protocol as pusher-js does, over a raw
// internal/wstest connection, and fails the test it belongs to when the
// server says something else than expected.
//
// It builds its JSON and signs its subscriptions itself (HMAC-SHA256 of
// the app's secret, as an app's back end signs them) and does not import
// package push, so that push's own tests can use it and a bug in push's
// encoding or signing cannot hide behind the same code on both sides.
package pushtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// Options tunes Dial and Connect.
type Options struct {
	// Key names the app in the request path; Key and Secret sign the
	// subscriptions to private and presence channels and the sign-ins.
	Key, Secret string
	// Path replaces the request's path and query, for a test of a bad one:
	// "/app/{Key}?protocol=7&client=js&version=8.6.0&flash=false", as
	// pusher-js asks, when empty.
	Path string
	// TLS, when not nil, dials wss.
	TLS *tls.Config
	// Timeout bounds the handshake and each read; 5 s when zero.
	Timeout time.Duration
}

// Client is one Pusher connection. It is not safe for concurrent use; its
// checks fail the test it was dialed for, or the one last given to Attach.
// A test that reads from a goroutine of its own uses WS, which returns
// errors instead.
type Client struct {
	// WS is the raw connection, for what the protocol methods do not say:
	// a binary frame, a burst of frames in one write, a dropped TCP
	// connection.
	WS *wstest.Client
	// ID is the socket id of connection_established (Dial sets it; after
	// Connect, the test sets it if it needs one).
	ID string

	t testing.TB
	o Options
}

// Dial connects to addr as pusher-js does and reads
// pusher:connection_established, whose socket id it keeps in ID. It fails
// t on any error, and closes the connection when t ends.
func Dial(t testing.TB, addr string, o Options) *Client {
	t.Helper()
	c := Connect(t, addr, o)
	var d struct {
		SocketID string `json:"socket_id"`
	}
	c.Expect("pusher:connection_established").Decode(t, &d)
	if d.SocketID == "" {
		t.Fatal("connection_established without a socket_id")
	}
	c.ID = d.SocketID
	return c
}

// Connect is Dial without reading anything after the WebSocket handshake:
// for a test of what the server sends first (a pusher:error for a bad
// path, connection_established's other fields).
func Connect(t testing.TB, addr string, o Options) *Client {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	path := o.Path
	if path == "" {
		path = "/app/" + url.PathEscape(o.Key) + "?protocol=7&client=js&version=8.6.0&flash=false"
	}
	ws, err := wstest.Dial(addr, wstest.DialOptions{Path: path, TLS: o.TLS, Timeout: o.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &Client{WS: ws, t: t, o: o}
}

// Attach makes t the test that c's checks fail from now on: a client that
// lives for a whole test is lent to each of its subtests in turn. The
// connection is still closed when the test c was dialed for ends.
func (c *Client) Attach(t testing.TB) { c.t = t }

// Frame is a message from the server.
type Frame struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	// Data is as received: a JSON string holding JSON text for most
	// events (Pusher encodes data twice), an object for some pusher:error.
	Data   json.RawMessage `json:"data"`
	UserID string          `json:"user_id"`
}

// Text returns the contents of the data string, or Data itself when it is
// not a string.
func (f Frame) Text() string {
	var s string
	if json.Unmarshal(f.Data, &s) == nil {
		return s
	}
	return string(f.Data)
}

// Decode unmarshals Text into v, failing t if it is not JSON that fits.
func (f Frame) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(f.Text()), v); err != nil {
		t.Fatalf("%s data %s: %v", f.Event, f.Data, err)
	}
}

// Send sends v, encoded as JSON, in a text message.
func (c *Client) Send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.SendRaw(b)
}

// SendRaw sends b as it is in a text message.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	if err := c.WS.Write(wstest.Message(wsproto.OpText, b)); err != nil {
		c.t.Fatal(err)
	}
}

// Trigger sends event on channel with data (a client event, when the
// event's name starts with "client-").
func (c *Client) Trigger(channel, event string, data any) {
	c.t.Helper()
	c.Send(map[string]any{"event": event, "channel": channel, "data": data})
}

// Next reads the next message. It answers the pings of the engine's
// heartbeat on the way, and fails the test on a timeout, a close or any
// other message that is not text holding a JSON object.
func (c *Client) Next() Frame {
	c.t.Helper()
	op, b, err := c.WS.ReadMessage(c.o.Timeout)
	for err == nil && op == wsproto.OpPing {
		_ = c.WS.Write(wstest.Message(wsproto.OpPong, b))
		op, b, err = c.WS.ReadMessage(c.o.Timeout)
	}
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	if op != wsproto.OpText {
		c.t.Fatalf("got a %v message", op)
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("server sent %q: %v", b, err)
	}
	return f
}

// Expect reads the next message and fails the test unless it is event.
func (c *Client) Expect(event string) Frame {
	c.t.Helper()
	f := c.Next()
	if f.Event != event {
		c.t.Fatalf("got %s %s %s, want %s", f.Event, f.Channel, f.Data, event)
	}
	return f
}

// ExpectEvent reads the next message and fails the test unless it is
// event on channel with data (compared with Text).
func (c *Client) ExpectEvent(event, channel, data string) {
	c.t.Helper()
	f := c.Next()
	if f.Event != event || f.Channel != channel || f.Text() != data {
		c.t.Fatalf("got %s %q %s, want %s %q %s", f.Event, f.Channel, f.Text(), event, channel, data)
	}
}

// ExpectError reads a pusher:error and returns its code (0 for null) and
// message.
func (c *Client) ExpectError() (int, string) {
	c.t.Helper()
	f := c.Expect("pusher:error")
	var d struct {
		Message string `json:"message"`
		Code    *int   `json:"code"`
	}
	f.Decode(c.t, &d)
	if d.Code == nil {
		return 0, d.Message
	}
	return *d.Code, d.Message
}

// ExpectClose reads until the server's close frame, skipping anything
// before it, answers it with the same code, so that the server closes the
// TCP connection now rather than at its close timeout, and returns the
// code.
func (c *Client) ExpectClose() wsproto.CloseCode {
	c.t.Helper()
	code, _, err := c.WS.ReadClose(c.o.Timeout)
	if err != nil {
		c.t.Fatalf("waiting for close: %v", err)
	}
	_ = c.WS.Write(wstest.Message(wsproto.OpClose, []byte{byte(code >> 8), byte(code)}))
	return code
}

// Ping sends a pusher:ping and fails the test unless pusher:pong is the
// next message. The server answers after everything queued for the client
// before the ping, so Ping both waits for what was sent earlier and checks
// that nothing else was waiting; it also shows that the server still
// answers.
func (c *Client) Ping() {
	c.t.Helper()
	c.Send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.Next(); f.Event != "pusher:pong" {
		c.t.Fatalf("got %s %s %s, want pusher:pong", f.Event, f.Channel, f.Data)
	}
}

// Subscribe sends a pusher:subscribe to channel with auth and
// channelData, each left out when empty, and reads nothing.
func (c *Client) Subscribe(channel, auth, channelData string) {
	c.t.Helper()
	d := map[string]any{"channel": channel}
	if auth != "" {
		d["auth"] = auth
	}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.Send(map[string]any{"event": "pusher:subscribe", "data": d})
}

// Join subscribes to channel, signed with Auth when it is a private or
// presence channel, and fails the test unless
// pusher_internal:subscription_succeeded for channel is the next message,
// which it returns.
func (c *Client) Join(channel, channelData string) Frame {
	c.t.Helper()
	auth := ""
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		auth = c.Auth(channel, channelData)
	}
	c.Subscribe(channel, auth, channelData)
	f := c.Expect("pusher_internal:subscription_succeeded")
	if f.Channel != channel {
		c.t.Fatalf("subscription_succeeded for %q, want %q", f.Channel, channel)
	}
	return f
}

// JoinPresence joins the presence channel as userID, with no user_info,
// and returns the ids of the members that subscription_succeeded lists.
func (c *Client) JoinPresence(channel, userID string) []string {
	c.t.Helper()
	cd, err := json.Marshal(map[string]string{"user_id": userID})
	if err != nil {
		c.t.Fatal(err)
	}
	var d struct {
		Presence struct {
			IDs []string `json:"ids"`
		} `json:"presence"`
	}
	c.Join(channel, string(cd)).Decode(c.t, &d)
	return d.Presence.IDs
}

// Leave sends a pusher:unsubscribe from channel; the server answers none.
func (c *Client) Leave(channel string) {
	c.t.Helper()
	c.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": channel}})
}

// SignIn sends a pusher:signin with userData (JSON with at least an "id"),
// signed, and fails the test unless pusher:signin_success is the next
// message.
func (c *Client) SignIn(userData string) {
	c.t.Helper()
	c.Send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"user_data": userData, "auth": c.userAuth(userData)}})
	c.Expect("pusher:signin_success")
}

// Auth returns the auth of a subscription of this socket to channel with
// channelData (empty for a private channel), as the app's authorization
// endpoint makes it: "key:" and the hex HMAC-SHA256, keyed with the
// secret, of "socket_id:channel[:channel_data]".
func (c *Client) Auth(channel, channelData string) string {
	s := c.ID + ":" + channel
	if channelData != "" {
		s += ":" + channelData
	}
	return c.sign(s)
}

// userAuth is the auth of a pusher:signin with userData: the same HMAC
// of "socket_id::user::user_data".
func (c *Client) userAuth(userData string) string { return c.sign(c.ID + "::user::" + userData) }

func (c *Client) sign(s string) string {
	m := hmac.New(sha256.New, []byte(c.o.Secret))
	m.Write([]byte(s))
	return c.o.Key + ":" + hex.EncodeToString(m.Sum(nil))
}
