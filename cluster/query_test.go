package cluster_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
)

// TestQueries: whichever node answers, counts, occupancy, members and user
// lists are the cluster's; a node killed stops being waited for once it is
// dead.
func TestQueries(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	member := func(n *node, uid string, channels ...string) *pushtest.Client {
		t.Helper()
		cl := n.dial()
		g := n.gateway()
		if uid != "" {
			if err := g.BindUID(cl.ID, uid); err != nil {
				t.Fatal(err)
			}
		}
		for _, ch := range channels {
			if err := g.JoinGroup(cl.ID, ch); err != nil {
				t.Fatal(err)
			}
		}
		return cl
	}
	a1 := member(a, "u1", "presence-room")
	member(a, "u2", "presence-room")
	b1 := member(b, "u1", "presence-room", "pub")
	member(b, "u3", "presence-room")
	member(c, "", "pub")

	room := push.ChannelInfo{Occupied: true, SubscriptionCount: 4, UserCount: 3}
	pub := push.ChannelInfo{Occupied: true, SubscriptionCount: 2}
	members := []push.Member{{UserID: "u1"}, {UserID: "u2"}, {UserID: "u3"}}
	check := func(t *testing.T, n *node, conns int, room push.ChannelInfo, members []push.Member, u1 []string) {
		t.Helper()
		st := n.st
		if got := st.Connections(testApp.ID); got != conns {
			t.Errorf("Connections = %d, want %d", got, conns)
		}
		if got := st.Channel(testApp.ID, "presence-room"); got != room {
			t.Errorf("Channel(presence-room) = %+v, want %+v", got, room)
		}
		if got := st.Channels(testApp.ID, "presence-"); !reflect.DeepEqual(got, map[string]push.ChannelInfo{"presence-room": room}) {
			t.Errorf("Channels(presence-) = %+v", got)
		}
		if got := st.Members(testApp.ID, "presence-room"); !reflect.DeepEqual(got, members) {
			t.Errorf("Members = %+v, want %+v", got, members)
		}
		var ids []string
		for _, m := range members {
			ids = append(ids, m.UserID)
		}
		if got := st.SubscriberUsers(testApp.ID, "presence-room"); !slices.Equal(got, ids) {
			t.Errorf("SubscriberUsers = %v, want %v", got, ids)
		}
		got, _ := st.UserSockets(testApp.ID, "u1")
		slices.Sort(got)
		if !slices.Equal(got, u1) {
			t.Errorf("UserSockets(u1) = %v, want %v", got, u1)
		}
		if !st.UserOnline(testApp.ID, "u1") || st.UserOnline(testApp.ID, "nobody") {
			t.Errorf("UserOnline(u1), UserOnline(nobody) = %v, %v", st.UserOnline(testApp.ID, "u1"), st.UserOnline(testApp.ID, "nobody"))
		}
	}
	u1 := []string{a1.ID, b1.ID}
	slices.Sort(u1)
	for _, n := range nodes {
		t.Run(n.st.ID(), func(t *testing.T) {
			check(t, n, 5, room, members, u1)
			if got := n.st.Channel(testApp.ID, "pub"); got != pub {
				t.Errorf("Channel(pub) = %+v, want %+v", got, pub)
			}
			if got := n.st.Channels(testApp.ID, ""); !reflect.DeepEqual(got, map[string]push.ChannelInfo{"presence-room": room, "pub": pub}) {
				t.Errorf("Channels() = %+v", got)
			}
			if got := n.st.SubscriberUsers(testApp.ID, "pub"); !slices.Equal(got, []string{"u1"}) {
				t.Errorf("SubscriberUsers(pub) = %v, want [u1]", got)
			}
			if s := n.st.Stats(); s.QueryTimeouts != 0 {
				t.Errorf("%d queries timed out", s.QueryTimeouts)
			}
		})
	}

	t.Run("dead", func(t *testing.T) {
		b.nc.Close() // killed: no goodbye, no answers
		before := a.st.Stats().QueryTimeouts
		want := push.ChannelInfo{Occupied: true, SubscriptionCount: 2, UserCount: 2}
		if got := a.st.Channel(testApp.ID, "presence-room"); got != want {
			t.Errorf("Channel while b is silent = %+v, want what a and c have, %+v", got, want)
		}
		if got := a.st.Stats().QueryTimeouts; got != before+1 {
			t.Errorf("QueryTimeouts = %d, want %d", got, before+1)
		}
		waitFor(t, "b dead", func() bool { return slices.Equal(a.st.Nodes(), []uint16{1, 3}) })
		check(t, a, 3, want, members[:2], []string{a1.ID})
		if got := a.st.Stats().QueryTimeouts; got != before+1 {
			t.Errorf("QueryTimeouts = %d after b's death, want %d", got, before+1)
		}
	})
}

// TestUserOnlineFromBucket: UserOnline is answered from the user's entry
// in the state bucket, not by asking the nodes: a user signed in on a node
// that answers no query is online, and offline once it signed out there;
// no query times out, and UserSockets of a user of this node alone asks
// no node. Asking the nodes (the old way), b's silence made the user
// offline, after QueryTimeout.
func TestUserOnlineFromBucket(t *testing.T) {
	cfg := testConfig
	cfg.QueryTimeout = cluster.DefaultQueryTimeout
	_, nodes := startClusterWith(t, 2, cfg)
	a, b := nodes[0], nodes[1]
	x := b.dial()
	signin(x, "x")
	y := a.dial()
	signin(y, "y")
	if err := cluster.StopAnswering(b.st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user string
		want       bool
	}{{"on the silent node", "x", true}, {"on this node", "y", true}, {"nowhere", "nobody", false}} {
		if got := a.st.UserOnline(testApp.ID, tc.user); got != tc.want {
			t.Errorf("%s: UserOnline(%s) = %v, want %v", tc.name, tc.user, got, tc.want)
		}
	}
	if ids, _ := a.st.UserSockets(testApp.ID, "y"); len(ids) != 1 || ids[0] != y.ID {
		t.Errorf("UserSockets(y) = %v, want [%s]", ids, y.ID)
	}
	x.WS.Close()
	waitFor(t, "x signed out of the bucket", func() bool {
		on, err := cluster.UserNodes(a.st, testApp.ID, "x")
		return err == nil && len(on) == 0
	})
	if a.st.UserOnline(testApp.ID, "x") {
		t.Error("x signed out: still online")
	}
	if s := a.st.Stats(); s.QueryTimeouts != 0 {
		t.Errorf("%d queries timed out: the nodes were asked", s.QueryTimeouts)
	}
}
