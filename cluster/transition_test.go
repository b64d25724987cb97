package cluster_test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
)

// localMember says whether the node's own LocalState has user in the
// channel.
func (n *node) localMember(channel, user string) bool {
	return slices.ContainsFunc(n.st.LocalState.Members(testApp.ID, channel), func(m push.Member) bool { return m.UserID == user })
}

// TestMemberOnce: a user with tabs on three nodes is added once, to the
// watchers of every node, when its first tab joins, and removed once when
// its last tab anywhere leaves; a presence subscription_succeeded lists
// the members of every node. Per node (the old decision), the second tab
// is added again and the first tab's close removes the user while the
// others remain.
func TestMemberOnce(t *testing.T) {
	_, nodes := startCluster(t, 3)
	const ch = "presence-tabs"
	var watchers []*pushtest.Client
	for i, nd := range nodes {
		w := nd.dial()
		ids := w.JoinPresence(ch, "w"+strconv.Itoa(i))
		if len(ids) != i+1 {
			t.Fatalf("watcher %d's subscription_succeeded lists %v, want the %d watchers of every node", i, ids, i+1)
		}
		for _, prev := range watchers {
			prev.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"w`+strconv.Itoa(i)+`"}`)
		}
		watchers = append(watchers, w)
	}
	var tabs []*pushtest.Client
	for _, nd := range nodes {
		tab := nd.dial()
		tab.JoinPresence(ch, "u")
		tab.Ping() // its join is over, hooks included
		tabs = append(tabs, tab)
	}
	for i, nd := range nodes[:2] { // the first two tabs close: u remains
		tabs[i].WS.Close()
		waitFor(t, "tab closed", func() bool { return !nd.localMember(ch, "u") })
	}
	tabs[2].WS.Close()
	for _, w := range watchers { // a duplicate member_added or an early member_removed would come first
		w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"u"}`)
		w.ExpectEvent("pusher_internal:member_removed", ch, `{"user_id":"u"}`)
		w.Ping()
	}
	if n := hooks(nodes, push.HookMemberAdded, ch, "u"); n != 1 {
		t.Errorf("member_added webhook events for u: %d, want 1", n)
	}
	if n := hooks(nodes, push.HookMemberRemoved, ch, "u"); n != 1 {
		t.Errorf("member_removed webhook events for u: %d, want 1", n)
	}
}

// TestOccupiedOnce: a channel with subscribers on several nodes is
// occupied once and vacated once, cluster-wide, and not while a
// subscriber remains on any node.
func TestOccupiedOnce(t *testing.T) {
	_, nodes := startCluster(t, 3)
	const ch = "room"
	var subs []*pushtest.Client
	for _, nd := range nodes {
		c := nd.dial()
		c.Join(ch, "")
		c.Ping()
		subs = append(subs, c)
	}
	if n := hooks(nodes, push.HookChannelOccupied, ch, ""); n != 1 {
		t.Errorf("channel_occupied: %d, want 1", n)
	}
	for i, c := range subs {
		c.Leave(ch)
		c.Ping() // the unsubscription is over, hooks included
		want := 0
		if i == len(subs)-1 {
			want = 1
		}
		if n := hooks(nodes, push.HookChannelVacated, ch, ""); n != want {
			t.Errorf("after %d of %d subscribers left: channel_vacated %d, want %d", i+1, len(subs), n, want)
		}
	}
	if n := hooks(nodes, push.HookChannelOccupied, ch, ""); n != 1 {
		t.Errorf("channel_occupied: %d, want 1", n)
	}
}

// TestPresenceLimit: MaxPresenceMembers holds across the nodes: a third
// user is refused on a node where the channel has no member, and a
// member's tab on another node is not a new member.
func TestPresenceLimit(t *testing.T) {
	app := testApp
	app.Limits.MaxPresenceMembers = 2
	ns := startNATS(t)
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNodeApp(t, ns, uint16(i+1), testConfig, app))
	}
	for _, nd := range nodes {
		waitFor(t, "every node live", func() bool { return len(nd.st.Nodes()) == 3 })
	}
	const ch = "presence-small"
	nodes[0].dial().JoinPresence(ch, "a")
	nodes[1].dial().JoinPresence(ch, "b")
	third := nodes[2].dial()
	sendPresence(third, ch, "c")
	if f := third.Next(); f.Event != "pusher:subscription_error" {
		t.Fatalf("a third member got %s %s, want pusher:subscription_error", f.Event, f.Text())
	}
	if ids := nodes[2].dial().JoinPresence(ch, "a"); !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("a's second tab sees %v, want [a b]", ids)
	}
}

// TestWatchlistOnce: a user signed in on two nodes goes online once and
// offline once for watchers on every node.
func TestWatchlistOnce(t *testing.T) {
	_, nodes := startCluster(t, 3)
	var watchers []*pushtest.Client
	for i, nd := range nodes {
		w := nd.dial()
		signin(w, "w"+strconv.Itoa(i), "x")
		nd.follow("#watchlist-x", true)
		watchers = append(watchers, w)
	}
	var xs []*pushtest.Client
	for _, nd := range nodes[:2] {
		x := nd.dial()
		signin(x, "x")
		x.Ping()
		xs = append(xs, x)
	}
	xs[0].WS.Close()
	waitFor(t, "x's first socket gone", func() bool {
		_, here := nodes[0].st.LocalState.UserSockets(testApp.ID, "x")
		return len(here) == 0
	})
	xs[1].WS.Close()
	for _, w := range watchers {
		w.ExpectEvent("pusher_internal:watchlist_events", "", `{"events":[{"name":"online","user_ids":["x"]}]}`)
		w.ExpectEvent("pusher_internal:watchlist_events", "", `{"events":[{"name":"offline","user_ids":["x"]}]}`)
		w.Ping()
	}
}

// TestDeadNode: a node that vanishes without a goodbye (its NATS
// connection closed) has its members removed once DeadAfter has passed,
// member_removed delivered to the others and reported once, and the
// channels where it was the last node vacated once.
func TestDeadNode(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const ch = "presence-dead"
	wa, wb := a.dial(), b.dial()
	wa.JoinPresence(ch, "wa")
	wb.JoinPresence(ch, "wb")
	wa.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"wb"}`)
	d := c.dial()
	d.JoinPresence(ch, "d")
	solo := c.dial()
	solo.Join("solo", "")
	solo.Ping()
	for _, w := range []*pushtest.Client{wa, wb} {
		w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"d"}`)
	}
	c.nc.Close() // no goodbye: the others hear nothing more from it
	for _, w := range []*pushtest.Client{wa, wb} {
		w.ExpectEvent("pusher_internal:member_removed", ch, `{"user_id":"d"}`)
	}
	waitFor(t, "solo vacated", func() bool { return hooks(nodes[:2], push.HookChannelVacated, "solo", "") > 0 })
	for _, w := range []*pushtest.Client{wa, wb} {
		w.Ping()
	}
	live := nodes[:2] // the dead node's own hook fires when its clients go, at the test's end
	if n := hooks(live, push.HookMemberRemoved, ch, "d"); n != 1 {
		t.Errorf("member_removed webhook events for d: %d, want 1", n)
	}
	if n := hooks(live, push.HookChannelVacated, "solo", ""); n != 1 {
		t.Errorf("channel_vacated for solo: %d, want 1", n)
	}
	if n := hooks(live, push.HookChannelVacated, ch, ""); n != 0 {
		t.Errorf("channel_vacated for %s while members remain: %d", ch, n)
	}
	nodesOf, members, err := cluster.ChannelEntry(a.st, testApp.ID, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nodesOf, []uint16{1, 2}) || len(members) != 2 {
		t.Errorf("the bucket holds nodes %v, members %v: want nodes [1 2], members wa and wb", nodesOf, members)
	}
}

// TestConcurrentJoins: many users join a presence channel on several nodes
// at once, some on two nodes, then leave at once: each is added once and
// removed once, the channel occupied and vacated once, and the bucket ends
// as the sockets are.
func TestConcurrentJoins(t *testing.T) {
	_, nodes := startCluster(t, 3)
	const ch = "presence-crowd"
	const users = 30
	type tab struct {
		n    *node
		id   string
		user string
	}
	var tabs []tab
	for i := range users {
		user := "u" + strconv.Itoa(i)
		on := []*node{nodes[i%3]}
		if i%2 == 0 {
			on = append(on, nodes[(i+1)%3])
		}
		for _, nd := range on {
			tabs = append(tabs, tab{n: nd, id: nd.dial().ID, user: user})
		}
	}
	all := func(f func(tb tab) error) {
		var wg sync.WaitGroup
		errs := make(chan error, len(tabs))
		for _, tb := range tabs {
			wg.Go(func() { errs <- f(tb) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	all(func(tb tab) error {
		g := tb.n.gateway()
		if err := g.BindUID(tb.id, tb.user); err != nil {
			return err
		}
		return g.JoinGroup(tb.id, ch)
	})
	for i := range users {
		if n := hooks(nodes, push.HookMemberAdded, ch, "u"+strconv.Itoa(i)); n != 1 {
			t.Errorf("u%d added %d times", i, n)
		}
	}
	if n := hooks(nodes, push.HookChannelOccupied, ch, ""); n != 1 {
		t.Errorf("occupied %d times", n)
	}
	nodesOf, members, err := cluster.ChannelEntry(nodes[0].st, testApp.ID, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nodesOf, []uint16{1, 2, 3}) || len(members) != users {
		t.Fatalf("the bucket holds nodes %v and %d members, want [1 2 3] and %d", nodesOf, len(members), users)
	}
	for i := range users {
		want := []uint16{uint16(i%3 + 1)}
		if i%2 == 0 {
			want = append(want, uint16((i+1)%3+1))
			slices.Sort(want)
		}
		if got := members["u"+strconv.Itoa(i)]; !slices.Equal(got, want) {
			t.Errorf("u%d on nodes %v, want %v", i, got, want)
		}
	}
	for _, nd := range nodes {
		if got := nd.st.Members(testApp.ID, ch); len(got) != users {
			t.Errorf("node %d lists %d members, want %d", nd.st.Nodes()[0], len(got), users)
		}
	}
	all(func(tb tab) error { return tb.n.gateway().LeaveGroup(tb.id, ch) })
	for i := range users {
		if n := hooks(nodes, push.HookMemberRemoved, ch, "u"+strconv.Itoa(i)); n != 1 {
			t.Errorf("u%d removed %d times", i, n)
		}
	}
	if n := hooks(nodes, push.HookChannelVacated, ch, ""); n != 1 {
		t.Errorf("vacated %d times", n)
	}
	if nodesOf, members, err := cluster.ChannelEntry(nodes[0].st, testApp.ID, ch); err != nil || len(nodesOf) != 0 || len(members) != 0 {
		t.Errorf("the bucket still holds nodes %v, members %v (%v)", nodesOf, members, err)
	}
	for _, nd := range nodes {
		if s := nd.st.Stats(); s.Degraded != 0 {
			t.Errorf("degraded decisions: %+v", s)
		}
	}
}

// TestNATSDown: with NATS gone, transitions are decided by the node alone
// and counted; once NATS is back the node writes its part of the bucket
// again and decides through it.
func TestNATSDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	ns := startNATSAt(t, port, dir)
	a := startNode(t, ns, 1, testConfig)
	before := a.dial()
	before.Join("before", "")
	if s := a.st.Stats(); s.Degraded != 0 {
		t.Fatalf("degraded with NATS up: %+v", s)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	during := a.dial()
	during.Join("during", "") // answered, within KVTimeout
	during.Ping()
	if s := a.st.Stats(); s.Degraded == 0 {
		t.Fatalf("no degraded decision counted with NATS down: %+v", s)
	}
	if n := hooks([]*node{a}, push.HookChannelOccupied, "during", ""); n != 1 {
		t.Errorf("channel_occupied decided locally: %d, want 1", n)
	}
	startNATSAt(t, port, dir)
	waitFor(t, "the node's part of the bucket written again", func() bool {
		nodesOf, _, err := cluster.ChannelEntry(a.st, testApp.ID, "during")
		return err == nil && slices.Equal(nodesOf, []uint16{1})
	})
	degraded := a.st.Stats().Degraded
	after := a.dial()
	after.Join("after", "")
	after.Ping()
	if s := a.st.Stats(); s.Degraded != degraded {
		t.Errorf("degraded after NATS came back: %+v", s)
	}
	if nodesOf, _, err := cluster.ChannelEntry(a.st, testApp.ID, "after"); err != nil || !slices.Equal(nodesOf, []uint16{1}) {
		t.Errorf("after: the bucket lists %v (%v), want [1]", nodesOf, err)
	}
}

// TestInterestBeforeSucceeded: an event published on another node right
// after a node's first subscriber of a channel got subscription_succeeded
// reaches it: the node subscribed to the channel's subject, and NATS has
// that subscription, before the answer.
func TestInterestBeforeSucceeded(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	c := b.dial()
	for i := range 20 {
		ch := "fresh-" + strconv.Itoa(i)
		c.Join(ch, "")
		if err := a.srv.Trigger(testApp.ID, []string{ch}, "ev", "x", ""); err != nil {
			t.Fatal(err)
		}
		c.ExpectEvent("ev", ch, "x")
	}
}

// TestStalledNode: a node whose NATS connection stalls (up, but carrying
// nothing from it: a hung or overloaded process) is suspected after
// DeadAfter but not taken for dead, and its members stay; only past
// HungAfter are they removed, and heard again, it is told so and writes
// its part back, and its members are added again. Before probes, the
// stall past DeadAfter removed them; without the revival its member would
// stay missing.
func TestStalledNode(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	a := nodes[0]
	v := startValve(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	c := startNodeAt(t, "nats://"+v.ln.Addr().String(), 3, testConfig, testApp)
	waitFor(t, "c live", func() bool { return len(a.st.Nodes()) == 3 })
	const ch = "presence-stall"
	w := a.dial()
	w.JoinPresence(ch, "w")
	d := c.dial()
	d.JoinPresence(ch, "d")
	w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"d"}`)

	v.gate.Lock() // c's heartbeats and probe answers stop reaching NATS
	stall := testConfig.DeadAfter + (testConfig.HungAfter-testConfig.DeadAfter)/2
	waitFor(t, "c suspected", func() bool { return a.st.Stats().Suspected > 0 })
	time.Sleep(stall - testConfig.DeadAfter)
	if got := a.st.Nodes(); len(got) != 3 {
		t.Errorf("stalled for %v (DeadAfter %v, HungAfter %v): Nodes = %v, want c still there", stall, testConfig.DeadAfter, testConfig.HungAfter, got)
	}
	v.gate.Unlock()
	w.Ping() // no member_removed came first
	waitFor(t, "c heard again", func() bool {
		_, members, err := cluster.ChannelEntry(a.st, testApp.ID, ch)
		return err == nil && slices.Equal(members["d"], []uint16{3}) && len(a.st.Nodes()) == 3
	})

	v.gate.Lock() // now past HungAfter
	w.ExpectEvent("pusher_internal:member_removed", ch, `{"user_id":"d"}`)
	v.gate.Unlock()
	w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"d"}`)
	w.Ping()
	waitFor(t, "d back in the bucket", func() bool {
		_, members, err := cluster.ChannelEntry(a.st, testApp.ID, ch)
		return err == nil && slices.Equal(members["d"], []uint16{3})
	})
}

// TestSilentNodeAnswers: a node whose heartbeats are lost while it answers
// probes (heartbeats dropped by a full queue, or late behind other
// traffic) is never taken for dead, its members stay, and the probes that
// found it alive are counted.
func TestSilentNodeAnswers(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	const ch = "presence-silent"
	w := a.dial()
	w.JoinPresence(ch, "w")
	b.dial().JoinPresence(ch, "s")
	w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"s"}`)
	cluster.Stall(b.st, true, false)
	waitFor(t, "a probe answered", func() bool { return a.st.Stats().ProbesAnswered > 0 })
	time.Sleep(2 * testConfig.DeadAfter)
	if got := a.st.Nodes(); len(got) != 2 {
		t.Errorf("silent for %v, answering probes: Nodes = %v, want b still there", 2*testConfig.DeadAfter, got)
	}
	cluster.Stall(b.st, false, false)
	w.Ping()
	if st := a.st.Stats(); st.Suspected == 0 || st.ProbesAnswered == 0 {
		t.Errorf("Stats: %d suspected, %d probes answered; want both counted", st.Suspected, st.ProbesAnswered)
	}
}

// TestRestartedNode: a node killed and started again at once, under the
// same number and before the others take it for dead, removes what its
// previous instance left in the bucket when it starts: its member is
// removed once, not kept as a ghost.
func TestRestartedNode(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	a := nodes[0]
	c := startNode(t, ns, 3, testConfig)
	waitFor(t, "c live", func() bool { return len(a.st.Nodes()) == 3 })
	const ch = "presence-restart"
	w := a.dial()
	w.JoinPresence(ch, "w")
	c.dial().JoinPresence(ch, "ghost")
	w.ExpectEvent("pusher_internal:member_added", ch, `{"user_id":"ghost"}`)
	c.nc.Close()
	again := startNode(t, ns, 3, testConfig)
	w.ExpectEvent("pusher_internal:member_removed", ch, `{"user_id":"ghost"}`)
	w.Ping()
	live := []*node{nodes[0], nodes[1], again}
	if n := hooks(live, push.HookMemberRemoved, ch, "ghost"); n != 1 {
		t.Errorf("member_removed webhook events for the ghost: %d, want 1", n)
	}
	_, members, err := cluster.ChannelEntry(a.st, testApp.ID, ch)
	if err != nil || len(members) != 1 || members["w"] == nil {
		t.Errorf("the bucket holds members %v (%v), want w alone", members, err)
	}
}

// TestInterestBeforeSignin: an event sent from another node to a user
// right after its sign-in succeeded reaches it: the node subscribed to the
// user's #server-to-user channel, and NATS has that subscription, before
// the answer. Subscribed in the background (the old way), some are lost.
func TestInterestBeforeSignin(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	for i := range 100 {
		user := "fresh-" + strconv.Itoa(i)
		c := a.dial()
		signin(c, user)
		if err := b.srv.SendToUser(testApp.ID, user, "ev", "x"); err != nil {
			t.Fatal(err)
		}
		c.ExpectEvent("ev", "#server-to-user-"+user, "x")
		c.WS.Close()
	}
}

// TestWatchlistRace: a watched user who signs in on another node right
// after the watcher's sign-in is reported online to the watcher, by the
// sign-in's report or by the event (a watchlist channel's subscription is
// not waited for at sign-in; the report asks after it on the same
// connection).
func TestWatchlistRace(t *testing.T) {
	_, nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	for i := range 50 {
		x := "x-" + strconv.Itoa(i)
		w := a.dial()
		signin(w, "w-"+strconv.Itoa(i), x)
		xc := b.dial()
		signin(xc, x)
		for {
			f := w.Next()
			if f.Event == "pusher_internal:watchlist_events" && strings.Contains(f.Text(), `"online"`) && strings.Contains(f.Text(), `"`+x+`"`) {
				break
			}
		}
		w.WS.Close()
		xc.WS.Close()
	}
}
