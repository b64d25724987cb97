package push_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestConnectRefused: a URL without a known app or a spoken protocol
// version gets pusher:error and the close code the protocol assigns.
func TestConnectRefused(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		key := e.app().Key
		cases := []struct {
			name string
			path string
			code push.Code
		}{
			{"unknown app key", "/app/nope?protocol=7", push.CodeAppNotFound},
			{"no protocol", "/app/" + key, push.CodeNoProtocol},
			{"empty protocol", "/app/" + key + "?protocol=", push.CodeNoProtocol},
			{"protocol too old", "/app/" + key + "?protocol=3", push.CodeUnsupportedProtocol},
			{"protocol too new", "/app/" + key + "?protocol=8", push.CodeUnsupportedProtocol},
			{"protocol not a number", "/app/" + key + "?protocol=seven", push.CodeUnsupportedProtocol},
			{"not an app path", "/socket?protocol=7", push.CodePathNotFound},
			{"app path without key", "/app/?protocol=7", push.CodePathNotFound},
			{"key with a slash", "/app/" + key + "/x?protocol=7", push.CodePathNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := e.dialRaw(t, tc.path)
				if code, _ := c.ExpectError(); code != int(tc.code) {
					t.Errorf("pusher:error code %d, want %d", code, tc.code)
				}
				if code := c.ExpectClose(); code != wsproto.CloseCode(tc.code) {
					t.Errorf("close code %d, want %d", code, tc.code)
				}
			})
		}
	})
}

// TestConnectionEstablished: socket ids are \d+\.\d+ and unique, and the
// activity timeout is 120 s unless configured.
func TestConnectionEstablished(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		seen := map[string]bool{}
		for range 5 {
			c := e.dial()
			if !socketIDPattern.MatchString(c.ID) {
				t.Errorf("socket id %q", c.ID)
			}
			if seen[c.ID] {
				t.Errorf("socket id %q twice", c.ID)
			}
			seen[c.ID] = true
		}
		c := e.dialRaw(t, "/app/"+e.app().Key+"?protocol=7")
		f := c.Expect(push.EvConnectionEstablished)
		var d struct {
			ActivityTimeout int `json:"activity_timeout"`
		}
		f.Decode(t, &d)
		if d.ActivityTimeout != 120 {
			t.Errorf("activity_timeout %d", d.ActivityTimeout)
		}
		if f.Data[0] != '"' {
			t.Errorf("data is not a JSON string: %s", f.Data)
		}
	})
}

// TestBadInput: malformed, unknown and oversized messages get a clear
// pusher:error and the connection keeps working.
func TestBadInput(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		long := strings.Repeat("a", 165)
		cases := []struct {
			name string
			msg  string
			want string // in the error message
		}{
			{"not JSON", `{"event":`, "malformed"},
			{"JSON array", `[1,2]`, "not a JSON object"},
			{"JSON string", `"pusher:ping"`, "not a JSON object"},
			{"no event", `{"data":{}}`, "no event"},
			{"event not a string", `{"event":7}`, "malformed"},
			{"unknown pusher event", `{"event":"pusher:reboot","data":{}}`, "unsupported event"},
			{"unknown event", `{"event":"hello","data":{}}`, "unsupported event"},
			{"subscribe data not an object", `{"event":"pusher:subscribe","data":5}`, "malformed pusher:subscribe"},
			{"subscribe to empty name", `{"event":"pusher:subscribe","data":{"channel":""}}`, "invalid channel name"},
			{"subscribe with a space", `{"event":"pusher:subscribe","data":{"channel":"a b"}}`, "invalid channel name"},
			{"subscribe with a slash", `{"event":"pusher:subscribe","data":{"channel":"a/b"}}`, "invalid channel name"},
			{"subscribe with unicode", `{"event":"pusher:subscribe","data":{"channel":"caf\u00e9"}}`, "invalid channel name"},
			{"subscribe to an internal name", `{"event":"pusher:subscribe","data":{"channel":"#watchlist-1"}}`, "invalid channel name"},
			{"subscribe to a name too long", `{"event":"pusher:subscribe","data":{"channel":"` + long + `"}}`, "longer than 164"},
			{"subscribe to a user channel too long", `{"event":"pusher:subscribe","data":{"channel":"#server-to-user-` + strings.Repeat("u", 129) + `"}}`, "user id too long"},
			{"signin not an object", `{"event":"pusher:signin","data":"x"}`, "malformed pusher:signin"},
			{"signin bad signature", `{"event":"pusher:signin","data":{"auth":"k:00","user_data":"{\"id\":\"1\"}"}}`, "Invalid signature"},
			{"unsubscribe malformed", `{"event":"pusher:unsubscribe","data":[]}`, "malformed"},
		}
		c := e.dial()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c.SendRaw([]byte(tc.msg))
				code, msg := c.ExpectError()
				if code != 0 || !strings.Contains(msg, tc.want) {
					t.Errorf("error %d %q, want null and %q", code, msg, tc.want)
				}
			})
		}
		t.Run("binary message", func(t *testing.T) {
			if err := c.WS.Write(wstest.Message(wsproto.OpBinary, []byte(`{"event":"pusher:ping"}`))); err != nil {
				t.Fatal(err)
			}
			if _, msg := c.ExpectError(); !strings.Contains(msg, "binary") {
				t.Errorf("error %q", msg)
			}
		})
		c.Ping() // still served
	})
}

// TestSubscribePublic: Trigger reaches every subscriber once, except the
// excluded socket, with its data double-encoded.
func TestSubscribePublic(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		a, b, other := e.dial(), e.dial(), e.dial()
		if f := a.Join("news", ""); f.Text() != "{}" {
			t.Errorf("subscription_succeeded data %s", f.Data)
		}
		b.Join("news", "")
		other.Join("sport", "")
		if err := e.srv.Trigger("1", []string{"news"}, "flash", `{"x":1}`, ""); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*pushtest.Client{a, b} {
			f := c.Expect("flash")
			if f.Channel != "news" || f.Text() != `{"x":1}` || f.Data[0] != '"' {
				t.Errorf("got %s %s", f.Channel, f.Data)
			}
		}
		if err := e.srv.Trigger("1", []string{"news", "sport"}, "again", `"hi"`, a.ID); err != nil {
			t.Fatal(err)
		}
		b.Expect("again")
		other.Expect("again")
		a.Ping()
		// Unsubscribed: no more events.
		b.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "news"}})
		b.Ping()
		if err := e.srv.Trigger("1", []string{"news"}, "late", `1`, ""); err != nil {
			t.Fatal(err)
		}
		a.Expect("late")
		b.Ping()
	})
}

// TestSubscribeAuth: private and encrypted channels take the signature of
// the socket id and channel name; presence channels also that of the raw
// channel_data.
func TestSubscribeAuth(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		app := e.app()
		other := push.App{ID: "2", Key: "k2", Secret: "another secret"}
		c := e.dial()
		cd := `{"user_id":"u1","user_info":{"name":"Ann"}}`
		cases := []struct {
			name, channel, auth, channelData string
			ok                               bool
		}{
			{"private signed", "private-a", app.AuthorizeChannel(c.ID, "private-a", ""), "", true},
			{"encrypted signed", "private-encrypted-a", app.AuthorizeChannel(c.ID, "private-encrypted-a", ""), "", true},
			{"presence signed", "presence-a", app.AuthorizeChannel(c.ID, "presence-a", cd), cd, true},
			{"private without auth", "private-b", "", "", false},
			{"private signed by another secret", "private-b", "278d425bdf160c739803:" + strings.Split(other.AuthorizeChannel(c.ID, "private-b", ""), ":")[1], "", false},
			{"private with another key", "private-b", "k2:" + strings.Split(app.AuthorizeChannel(c.ID, "private-b", ""), ":")[1], "", false},
			{"private for another socket", "private-b", app.AuthorizeChannel("1234.1234", "private-b", ""), "", false},
			{"private for another channel", "private-b", app.AuthorizeChannel(c.ID, "private-c", ""), "", false},
			{"private signature not hex", "private-b", app.Key + ":zz", "", false},
			{"private signature cut", "private-b", app.AuthorizeChannel(c.ID, "private-b", "")[:40], "", false},
			{"presence channel_data changed", "presence-b", app.AuthorizeChannel(c.ID, "presence-b", cd), strings.Replace(cd, "Ann", "Bob", 1), false},
			{"presence channel_data re-encoded", "presence-b", app.AuthorizeChannel(c.ID, "presence-b", cd), `{"user_id": "u1", "user_info": {"name": "Ann"}}`, false},
			{"presence without channel_data", "presence-b", app.AuthorizeChannel(c.ID, "presence-b", ""), "", false},
			{"presence channel_data without user_id", "presence-b", app.AuthorizeChannel(c.ID, "presence-b", `{"user_info":{}}`), `{"user_info":{}}`, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c.Subscribe(tc.channel, tc.auth, tc.channelData)
				f := c.Next()
				if f.Channel != tc.channel {
					t.Fatalf("answer on %q", f.Channel)
				}
				if tc.ok {
					if f.Event != "pusher_internal:subscription_succeeded" {
						t.Fatalf("got %s %s", f.Event, f.Data)
					}
					return
				}
				if f.Event != "pusher:subscription_error" {
					t.Fatalf("got %s %s", f.Event, f.Data)
				}
				var d struct {
					Type   string `json:"type"`
					Error  string `json:"error"`
					Status int    `json:"status"`
				}
				f.Decode(t, &d)
				if d.Type != "AuthError" || d.Status < 400 {
					t.Errorf("subscription_error %+v", d)
				}
			})
		}
		info, _ := e.srv.Channel("1", "private-b")
		if info.Occupied {
			t.Error("a refused subscription occupies the channel")
		}
	})
}

// TestSubscriptionLimit: past MaxSubscriptions a subscribe gets
// subscription_error LimitReached; the connection stays.
func TestSubscriptionLimit(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		app := testApp
		app.Limits.MaxSubscriptions = 3
		e := start(t, tr, push.Config{}, app)
		c := e.dial()
		for i := range 3 {
			c.Join(fmt.Sprint("c", i), "")
		}
		c.Join("c1", "") // again: no new subscription
		c.Subscribe("c3", "", "")
		f := c.Expect("pusher:subscription_error")
		var d struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		f.Decode(t, &d)
		if d.Type != "LimitReached" || d.Status != 429 {
			t.Errorf("%+v", d)
		}
		c.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "c0"}})
		c.Join("c3", "")
	})
}

// TestSubscribeFlood: a burst of subscribes in one write is answered one
// by one, the app's MaxSubscriptions (100) succeeding and the rest refused,
// and the connection goes on.
func TestSubscribeFlood(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		c := e.dial()
		var burst []wstest.Frame
		for i := range 300 {
			burst = append(burst, wstest.Message(wsproto.OpText,
				fmt.Appendf(nil, `{"event":"pusher:subscribe","data":{"channel":"flood-%d"}}`, i)))
		}
		if err := c.WS.Write(burst...); err != nil {
			t.Fatal(err)
		}
		ok, refused := 0, 0
		for range 300 {
			switch f := c.Next(); f.Event {
			case "pusher_internal:subscription_succeeded":
				ok++
			case "pusher:subscription_error":
				refused++
			default:
				t.Fatalf("got %s", f.Event)
			}
		}
		if ok != 100 || refused != 200 {
			t.Errorf("%d succeeded, %d refused", ok, refused)
		}
		c.Ping()
		if all, _ := e.srv.Channels("1", "flood-"); len(all) != 100 {
			t.Errorf("%d channels occupied", len(all))
		}
	})
}
