package cluster_test

import (
	"testing"
	"time"
)

// TestCacheChannel: a cache channel's last event is kept by every node,
// so a node whose first socket joins it replays it; live events reach
// each subscriber once.
func TestCacheChannel(t *testing.T) {
	ns, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	live := b.dial()
	live.Join("cache-x", "")
	live.Expect("pusher:cache_miss")
	if err := a.srv.Trigger(testApp.ID, []string{"cache-x"}, "ev", "1", ""); err != nil {
		t.Fatal(err)
	}
	live.ExpectEvent("ev", "cache-x", "1")
	if err := a.srv.Trigger(testApp.ID, []string{"cache-x"}, "ev", "2", live.ID); err != nil {
		t.Fatal(err)
	}
	// b has the second event as the last, though its socket was excepted.
	waitFor(t, "every node has the last event", func() bool {
		for _, n := range nodes {
			if m, ok := n.st.Last(testApp.ID, "cache-x"); !ok || !jsonHas(m.Frame(), `"data":"2"`) {
				return false
			}
		}
		return true
	})
	for _, n := range []*node{c, b} { // c: no subscriber before; b: one
		late := n.dial()
		late.Join("cache-x", "")
		late.ExpectEvent("ev", "cache-x", "2")
		late.Ping()
	}
	live.Ping()
	if err := c.srv.Trigger(testApp.ID, []string{"cache-x"}, "ev", "3", ""); err != nil {
		t.Fatal(err)
	}
	live.ExpectEvent("ev", "cache-x", "3")
	live.Ping()

	// A node that starts now gets the last event from the others.
	d := startNode(t, ns, 4, testConfig)
	waitFor(t, "the new node synced", func() bool {
		m, ok := d.st.Last(testApp.ID, "cache-x")
		return ok && jsonHas(m.Frame(), `"data":"3"`)
	})
	first := d.dial()
	first.Join("cache-x", "")
	first.ExpectEvent("ev", "cache-x", "3")
	first.Ping()
}

// TestCacheSyncWaits: a node that starts while the others are slow to
// answer (a whole -procs fleet starting at once, a loaded machine) waits
// for their cache for up to DeadAfter, not the QueryTimeout that bounds
// what event loops wait for: 32 workers started together timed out on each
// other at 200 ms and began with none of the cache.
func TestCacheSyncWaits(t *testing.T) {
	ns, nodes := startCluster(t, 2)
	if err := nodes[0].srv.Trigger(testApp.ID, []string{"cache-sync"}, "ev", "1", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both nodes keep the event", func() bool {
		for _, n := range nodes {
			if _, ok := n.st.Last(testApp.ID, "cache-sync"); !ok {
				return false
			}
		}
		return true
	})
	cfg := testConfig
	cfg.QueryTimeout = time.Microsecond // no answer can come so soon
	d := startNode(t, ns, 3, cfg)
	waitFor(t, "the new node synced", func() bool {
		m, ok := d.st.Last(testApp.ID, "cache-sync")
		return ok && jsonHas(m.Frame(), `"data":"1"`)
	})
}
