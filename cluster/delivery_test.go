package cluster_test

import (
	"strconv"
	"testing"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
)

// TestDelivery: events published on one node reach the subscribers of
// every node exactly once, in order, except the sockets named.
func TestDelivery(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("trigger", func(t *testing.T) {
		subs := []*pushtest.Client{a.dial(), b.dial(), c.dial()}
		for _, cl := range subs {
			cl.Join("news", "")
		}
		for _, n := range nodes {
			n.follow("news", true)
		}
		for _, ev := range []string{"one", "end"} {
			if err := a.srv.Trigger(testApp.ID, []string{"news"}, ev, ev, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range subs { // "end" right after "one": no second copy
			cl.ExpectEvent("one", "news", "one")
			cl.ExpectEvent("end", "news", "end")
			cl.Ping()
		}
	})

	t.Run("echo", func(t *testing.T) { // b's connection echoes: its own event comes back
		onB, onA := b.dial(), a.dial()
		onB.Join("echo", "")
		onA.Join("echo", "")
		a.follow("echo", true)
		b.follow("echo", true)
		for _, ev := range []string{"one", "end"} {
			if err := b.srv.Trigger(testApp.ID, []string{"echo"}, ev, ev, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range []*pushtest.Client{onB, onA} {
			cl.ExpectEvent("one", "echo", "one")
			cl.ExpectEvent("end", "echo", "end")
		}
		// a's "end" after b's echo of "one", had b delivered it again.
		if err := a.srv.Trigger(testApp.ID, []string{"echo"}, "last", "", ""); err != nil {
			t.Fatal(err)
		}
		onB.ExpectEvent("last", "echo", "")
	})

	t.Run("member", func(t *testing.T) { // what a transition publishes
		watcher, joiner := b.dial(), a.dial()
		if err := b.gateway().BindUID(watcher.ID, "w"); err != nil {
			t.Fatal(err)
		}
		if err := b.gateway().JoinGroup(watcher.ID, "presence-m"); err != nil {
			t.Fatal(err)
		}
		b.follow("presence-m", true)
		if err := a.gateway().BindUID(joiner.ID, "j"); err != nil {
			t.Fatal(err)
		}
		if err := a.gateway().JoinGroup(joiner.ID, "presence-m"); err != nil {
			t.Fatal(err)
		}
		watcher.ExpectEvent("pusher_internal:member_added", "presence-m", `{"user_id":"j"}`)
		watcher.Ping()
	})

	t.Run("except", func(t *testing.T) {
		b1, b2, c1 := b.dial(), b.dial(), c.dial()
		for _, cl := range []*pushtest.Client{b1, b2, c1} {
			cl.Join("except", "")
		}
		b.follow("except", true)
		c.follow("except", true)
		if err := a.srv.Trigger(testApp.ID, []string{"except"}, "ev", "x", b1.ID); err != nil {
			t.Fatal(err)
		}
		if err := a.srv.Trigger(testApp.ID, []string{"except"}, "end", "y", ""); err != nil {
			t.Fatal(err)
		}
		b1.ExpectEvent("end", "except", "y")
		for _, cl := range []*pushtest.Client{b2, c1} {
			cl.ExpectEvent("ev", "except", "x")
			cl.ExpectEvent("end", "except", "y")
		}
	})

	t.Run("all", func(t *testing.T) {
		all := []*pushtest.Client{a.dial(), b.dial(), b.dial(), c.dial()}
		if err := b.gateway().SendToAll("hello", "everyone", all[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := b.gateway().SendToAll("end", "z"); err != nil {
			t.Fatal(err)
		}
		all[0].ExpectEvent("end", "", "z")
		for _, cl := range all[1:] {
			cl.ExpectEvent("hello", "", "everyone")
			cl.ExpectEvent("end", "", "z")
		}
	})

	t.Run("user", func(t *testing.T) {
		ua, uc1, uc2, other := a.dial(), c.dial(), c.dial(), b.dial()
		bind := func(n *node, cl *pushtest.Client, uid string) {
			t.Helper()
			if err := n.gateway().BindUID(cl.ID, uid); err != nil {
				t.Fatal(err)
			}
		}
		bind(a, ua, "u1")
		bind(c, uc1, "u1")
		bind(c, uc2, "u1")
		bind(b, other, "u2")
		a.follow("#server-to-user-u1", true)
		c.follow("#server-to-user-u1", true)
		b.follow("#server-to-user-u1", false) // u1 has no socket on b
		if err := b.srv.SendToUser(testApp.ID, "u1", "dm", "hi"); err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*pushtest.Client{ua, uc1, uc2} {
			cl.ExpectEvent("dm", "#server-to-user-u1", "hi")
			cl.Ping()
		}
		other.Ping()
	})

	t.Run("order", func(t *testing.T) {
		const n = 1000
		subs := []*pushtest.Client{a.dial(), b.dial(), c.dial()}
		for _, cl := range subs {
			cl.Join("ordered", "")
		}
		for _, nd := range nodes {
			nd.follow("ordered", true)
		}
		for i := range n {
			if err := a.srv.Trigger(testApp.ID, []string{"ordered"}, "seq", strconv.Itoa(i), ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range subs {
			for i := range n {
				cl.ExpectEvent("seq", "ordered", strconv.Itoa(i))
			}
		}
		for _, nd := range nodes {
			if s := nd.st.Stats(); s.PublishDropped+s.ReceiveDropped > 0 {
				t.Errorf("node %v dropped events: %+v", nd.st.ID(), s)
			}
		}
	})
}

// TestInterest: a node without subscribers to a channel receives none of
// its events, and leaves its subject when its last subscriber leaves.
func TestInterest(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	onB1, onB2 := b.dial(), b.dial()
	onB1.Join("lonely", "")
	onB2.Join("lonely", "")
	onC := c.dial()
	onC.Join("marker", "")
	b.follow("lonely", true)
	c.follow("marker", true)
	before := c.st.Stats().Received
	for i := range 10 {
		if err := a.srv.Trigger(testApp.ID, []string{"lonely"}, "ev", strconv.Itoa(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.srv.Trigger(testApp.ID, []string{"marker"}, "end", "", ""); err != nil {
		t.Fatal(err)
	}
	onC.ExpectEvent("end", "marker", "")
	for i := range 10 {
		onB1.ExpectEvent("ev", "lonely", strconv.Itoa(i))
		onB2.ExpectEvent("ev", "lonely", strconv.Itoa(i))
	}
	if got := c.st.Stats().Received - before; got != 1 {
		t.Errorf("node c received %d events, want 1 (the marker alone)", got)
	}
	if c.st.Stats().Subscriptions != 1 {
		t.Errorf("node c holds %d channel subscriptions, want 1", c.st.Stats().Subscriptions)
	}

	onB1.Leave("lonely")
	onB1.Ping()
	b.follow("lonely", true) // one subscriber left
	onB2.Leave("lonely")
	onB2.Ping()
	b.follow("lonely", false)
	if err := a.srv.Trigger(testApp.ID, []string{"lonely"}, "ev", "late", ""); err != nil {
		t.Fatal(err)
	}
	onB3 := b.dial() // on no channel: b's events all reach it, on none
	before = b.st.Stats().Received
	if err := b.gateway().SendToAll("end", "", onB3.ID); err != nil {
		t.Fatal(err)
	}
	onC.ExpectEvent("end", "", "")
	if err := a.gateway().SendToAll("end", "", onC.ID); err != nil {
		t.Fatal(err)
	}
	onB3.ExpectEvent("end", "", "")
	if got := b.st.Stats().Received - before; got != 1 {
		t.Errorf("node b received %d events after leaving, want 1 (the marker alone)", got)
	}
	if s := b.st.Stats(); s.Subscriptions != 0 {
		t.Errorf("node b holds %d channel subscriptions, want 0", s.Subscriptions)
	}
}

// TestChannelNames: names with the bytes subjects give a meaning to reach
// their own channel's subscribers only.
func TestChannelNames(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	names := []string{"a", "a.b", "a.b.c", "a-b", "a=b", "a@b", "a,b", "a;b", "a.", ".a", "..", "a_b", "YQ", "YS5i"}
	subs := make(map[string]*pushtest.Client)
	for _, name := range names {
		cl := b.dial()
		cl.Join(name, "")
		subs[name] = cl
		b.follow(name, true)
	}
	// Wildcards and bytes no client may use, from the Go side.
	app, _ := a.srv.Apps().ByID(testApp.ID)
	for _, name := range []string{"*", ">", "a.*", "a.>", "a b", "a\x00b", "a\r\nb"} {
		a.st.Publish(testApp.ID, name, push.NewMessage(app, []byte(`{"event":"wild"}`)), nil)
	}
	for _, name := range names {
		if err := a.srv.Trigger(testApp.ID, []string{name}, "ev", name, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		subs[name].ExpectEvent("ev", name, name)
		subs[name].Ping()
	}
}
