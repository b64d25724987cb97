package push_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestTriggerLimits: Trigger and TriggerBatch check the app's limits
// before anything is sent.
func TestTriggerLimits(t *testing.T) {
	e := start(t, wstest.Transports[0], push.Config{})
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("c", i)
	}
	cases := []struct {
		name     string
		app      string
		channels []string
		event    string
		data     string
		want     error
	}{
		{"ok", "1", []string{"a", "private-b", "presence-c"}, "e", "{}", nil},
		{"100 channels", "1", many[:100], "e", "{}", nil},
		{"10 KiB of data", "1", []string{"a"}, "e", strings.Repeat("x", 10<<10), nil},
		{"unknown app", "9", []string{"a"}, "e", "{}", push.ErrUnknownApp},
		{"no channel", "1", nil, "e", "{}", push.ErrInvalidChannel},
		{"101 channels", "1", many, "e", "{}", push.ErrLimit},
		{"data too large", "1", []string{"a"}, "e", strings.Repeat("x", 10<<10+1), push.ErrLimit},
		{"bad channel name", "1", []string{"a b"}, "e", "{}", push.ErrInvalidChannel},
		{"internal channel name", "1", []string{"#server-to-user-1"}, "e", "{}", push.ErrInvalidChannel},
		{"channel name too long", "1", []string{strings.Repeat("a", 165)}, "e", "{}", push.ErrInvalidChannel},
		{"no event name", "1", []string{"a"}, "", "{}", push.ErrInvalidEvent},
		{"event name too long", "1", []string{"a"}, strings.Repeat("e", 201), "{}", push.ErrInvalidEvent},
		{"encrypted among others", "1", []string{"private-encrypted-a", "b"}, "e", "{}", push.ErrEncryptedMulti},
		{"encrypted alone", "1", []string{"private-encrypted-a"}, "e", "{}", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.srv.Trigger(tc.app, tc.channels, tc.event, tc.data, "")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("batch of 11", func(t *testing.T) {
		batch := make([]push.BatchEvent, 11)
		for i := range batch {
			batch[i] = push.BatchEvent{Channel: "a", Name: "e", Data: "1"}
		}
		if err := e.srv.TriggerBatch("1", batch); !errors.Is(err, push.ErrLimit) {
			t.Errorf("error %v", err)
		}
		batch = batch[:10]
		batch[9].Channel = "bad name"
		if err := e.srv.TriggerBatch("1", batch); !errors.Is(err, push.ErrInvalidChannel) {
			t.Errorf("error %v", err)
		}
	})
}

// TestTriggerBatch: each event goes to its channel, excluding its socket.
func TestTriggerBatch(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		a, b := e.dial(), e.dial()
		a.Join("x", "")
		b.Join("x", "")
		b.Join("y", "")
		err := e.srv.TriggerBatch("1", []push.BatchEvent{
			{Channel: "x", Name: "one", Data: "1", SocketID: b.ID},
			{Channel: "y", Name: "two", Data: "2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		a.Expect("one")
		b.Expect("two")
		a.Ping()
		b.Ping()
	})
}

// TestChannelsInfo: channel info, the channels list by prefix and the
// users of presence channels, across several apps.
func TestChannelsInfo(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		a1 := testApp
		a2 := push.App{ID: "2", Key: "key2", Secret: "secret2"}
		e := start(t, tr, push.Config{}, a1, a2)
		c1, c2 := e.dial(), e.dial()
		c1.Join("presence-room", memberOf("u1", "A"))
		c2.Join("presence-room", memberOf("u2", "B"))
		c1.Expect("pusher_internal:member_added")
		c1.Join("news", "")
		c1.Join("private-x", "")
		// An app-2 connection on a channel of the same name.
		app2, _ := e.srv.Apps().ByID("2")
		c3 := e.dialAs(app2)
		c3.Join("news", "")

		info, _ := e.srv.Channel("1", "presence-room")
		if info != (push.ChannelInfo{Occupied: true, SubscriptionCount: 2, UserCount: 2}) {
			t.Errorf("presence-room %+v", info)
		}
		if info, _ := e.srv.Channel("1", "news"); info.SubscriptionCount != 1 {
			t.Errorf("news %+v", info)
		}
		if info, _ := e.srv.Channel("1", "empty"); info.Occupied {
			t.Errorf("empty %+v", info)
		}
		all, _ := e.srv.Channels("1", "")
		if got := slices.Sorted(mapKeys(all)); fmt.Sprint(got) != "[news presence-room private-x]" {
			t.Errorf("channels %v", got)
		}
		pres, _ := e.srv.Channels("1", "presence-")
		if len(pres) != 1 {
			t.Errorf("presence channels %v", pres)
		}
		users, err := e.srv.Users("1", "presence-room")
		if err != nil || len(users) != 2 || string(users[0].Info) != `{"name":"A"}` {
			t.Errorf("users %+v %v", users, err)
		}
		if _, err := e.srv.Users("1", "news"); !errors.Is(err, push.ErrNotPresence) {
			t.Errorf("users of news: %v", err)
		}
		if _, err := e.srv.Channels("9", ""); !errors.Is(err, push.ErrUnknownApp) {
			t.Errorf("unknown app: %v", err)
		}
		if err := e.srv.Trigger("2", []string{"news"}, "e", "2", ""); err != nil {
			t.Fatal(err)
		}
		c3.Expect("e")
		c1.Ping() // app 1's news did not get app 2's event
	})
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestGateway: the GatewayWorker facade over a real connection.
func TestGateway(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		g, err := e.srv.Gateway("1")
		if err != nil {
			t.Fatal(err)
		}
		a, a2, b := e.dial(), e.dial(), e.dial()
		for _, step := range []error{
			g.BindUID(a.ID, "10"), g.BindUID(a2.ID, "10"), g.BindUID(b.ID, "20"),
			g.JoinGroup(a.ID, "room"), g.JoinGroup(b.ID, "room"), g.JoinGroup(a2.ID, "lobby"),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		if !g.IsUIDOnline("10") || g.IsUIDOnline("30") {
			t.Error("IsUIDOnline")
		}
		if ids := g.UIDSocketIDs("10"); len(ids) != 2 || !slices.Contains(ids, a.ID) || !slices.Contains(ids, a2.ID) {
			t.Errorf("UIDSocketIDs %v", ids)
		}
		if n := g.GroupCount("room"); n != 2 {
			t.Errorf("GroupCount %d", n)
		}
		if n := g.TotalCount(); n != 3 {
			t.Errorf("TotalCount %d", n)
		}
		if uids := g.GroupUIDs("room"); fmt.Sprint(uids) != "[10 20]" {
			t.Errorf("GroupUIDs %v", uids)
		}

		if err := g.SendToUID("10", "dm", `"hi"`); err != nil {
			t.Fatal(err)
		}
		a.Expect("dm")
		a2.Expect("dm")
		b.Ping()

		if err := g.SendToGroup("room", "say", "1", b.ID); err != nil {
			t.Fatal(err)
		}
		if f := a.Expect("say"); f.Channel != "room" {
			t.Errorf("channel %q", f.Channel)
		}
		b.Ping()
		if err := g.SendToGroups([]string{"room", "lobby"}, "both", "1"); err != nil {
			t.Fatal(err)
		}
		a.Expect("both")
		a2.Expect("both")
		b.Expect("both")

		if err := g.SendToAll("all", "1", a.ID); err != nil {
			t.Fatal(err)
		}
		a2.Expect("all")
		if f := b.Expect("all"); f.Channel != "" {
			t.Errorf("channel %q", f.Channel)
		}
		a.Ping()

		if err := g.LeaveGroup(a.ID, "room"); err != nil {
			t.Fatal(err)
		}
		if n := g.GroupCount("room"); n != 1 {
			t.Errorf("GroupCount after leave %d", n)
		}
		if err := g.CloseSocket(b.ID); err != nil {
			t.Fatal(err)
		}
		if code, _ := b.ExpectError(); code != int(push.CodeUnauthorized) {
			t.Errorf("code %d", code)
		}
		b.ExpectClose()
		waitFor(t, "uid 20 offline", func() bool { return !g.IsUIDOnline("20") })
		if n := g.GroupCount("room"); n != 0 {
			t.Errorf("GroupCount after close %d", n)
		}

		for name, err := range map[string]error{
			"BindUID unknown":   g.BindUID("1.1", "x"),
			"JoinGroup unknown": g.JoinGroup("1.1", "x"),
			"CloseSocket":       g.CloseSocket("1.1"),
		} {
			if !errors.Is(err, push.ErrUnknownSocket) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if err := g.JoinGroup(a.ID, "bad name"); !errors.Is(err, push.ErrInvalidChannel) {
			t.Errorf("JoinGroup bad name: %v", err)
		}
		if _, err := e.srv.Gateway("9"); !errors.Is(err, push.ErrUnknownApp) {
			t.Errorf("Gateway unknown app: %v", err)
		}
	})
}

// TestCloseAll: every connection is closed with the code, in batches.
func TestCloseAll(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		var cs []*pushtest.Client
		for range 5 {
			cs = append(cs, e.dial())
		}
		if err := e.srv.CloseAll(t.Context(), push.CodeReconnect, 2, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if code, _ := c.ExpectError(); code != int(push.CodeReconnect) {
				t.Errorf("code %d", code)
			}
			if code := c.ExpectClose(); code != wsproto.CloseCode(push.CodeReconnect) {
				t.Errorf("close %d", code)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		e.dial()
		e.dial()
		if err := e.srv.CloseAll(ctx, push.CodeReconnect, 1, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("CloseAll with a done context: %v", err)
		}
	})
}
