package cluster_test

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/internal/logtest"
)

// TestRegistry: nodes appear with their first heartbeat, leave at once
// when they close, and die when silent for DeadAfter; each change is
// notified.
func TestRegistry(t *testing.T) {
	ns := startNATS(t)
	cfg := testConfig
	cfg.DeadAfter, cfg.HungAfter = time.Minute, 2*time.Minute // only a goodbye can remove a node here
	a := startNode(t, ns, 7, cfg)
	if got := a.st.Nodes(); !slices.Equal(got, []uint16{7}) {
		t.Fatalf("alone: Nodes = %v", got)
	}
	changed := a.st.NodesChanged()
	b := startNode(t, ns, 3, cfg)
	<-changed
	waitFor(t, "b seen", func() bool { return slices.Equal(a.st.Nodes(), []uint16{3, 7}) })
	waitFor(t, "a seen", func() bool { return slices.Equal(b.st.Nodes(), []uint16{3, 7}) })

	changed = a.st.NodesChanged()
	b.st.Close()
	<-changed
	if got := a.st.Nodes(); !slices.Equal(got, []uint16{7}) {
		t.Errorf("after b's goodbye: Nodes = %v", got)
	}

	d := startNode(t, ns, 9, testConfig) // dead after testConfig's DeadAfter
	e := startNode(t, ns, 4, testConfig)
	waitFor(t, "e seen", func() bool { return slices.Equal(d.st.Nodes(), []uint16{4, 7, 9}) })
	changed = d.st.NodesChanged()
	e.nc.Close() // killed: silent, no goodbye
	<-changed
	if got := d.st.Nodes(); !slices.Equal(got, []uint16{7, 9}) {
		t.Errorf("after e's death: Nodes = %v", got)
	}
}

// TestSameNodeNumber: two live instances with one number are an error in
// the log of each node that sees them.
func TestSameNodeNumber(t *testing.T) {
	ns := startNATS(t)
	log, buf := logtest.New()
	cfg := testConfig
	cfg.Logger = log
	a := startNode(t, ns, 5, cfg)
	startNode(t, ns, 5, testConfig)
	const want = "TWO NODES WITH THE SAME NUMBER"
	waitFor(t, "the error logged", func() bool { return strings.Contains(buf.String(), want) })
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("not logged as an error:\n%s", buf)
	}
	if got := a.st.Nodes(); !slices.Equal(got, []uint16{5}) {
		t.Errorf("Nodes = %v, want [5]", got)
	}
}

// TestConfig: New refuses what would not work.
func TestConfig(t *testing.T) {
	ns := startNATS(t)
	nc := startNode(t, ns, 1, testConfig).nc
	apps := startNode(t, ns, 2, testConfig).srv.Apps()
	for _, tc := range []struct {
		name string
		cfg  cluster.Config
	}{
		{"no apps", cluster.Config{}},
		{"wildcard prefix", cluster.Config{Apps: apps, Prefix: "a.*"}},
		{"empty token", cluster.Config{Apps: apps, Prefix: "a..b"}},
		{"space", cluster.Config{Apps: apps, Prefix: "a b"}},
		{"dead before a heartbeat", cluster.Config{Apps: apps, HeartbeatInterval: time.Second, DeadAfter: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, err := cluster.New(nc, tc.cfg); err == nil {
				st.Close()
				t.Fatal("New accepted it")
			}
		})
	}
}

// TestGreetingToNewcomer: a node that hears a new instance greets it on
// that instance's own subject, not on the heartbeat subject every node
// reads: when many nodes come back at once, n nodes greeting n others
// would otherwise put n² heartbeats in every node's queue.
func TestGreetingToNewcomer(t *testing.T) {
	ns := startNATS(t)
	obs, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	var broadcast atomic.Int32
	sub, err := obs.Subscribe(cluster.DefaultPrefix+".hb", func(*nats.Msg) { broadcast.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	// One heartbeat each at start, then none: the others come from greetings.
	cfg.HeartbeatInterval, cfg.DeadAfter, cfg.HungAfter = time.Hour, 2*time.Hour, 3*time.Hour
	a := startNode(t, ns, 1, cfg)
	b := startNode(t, ns, 2, cfg)
	waitFor(t, "each knows the other", func() bool {
		return len(a.st.Nodes()) == 2 && len(b.st.Nodes()) == 2
	})
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := broadcast.Load(); n != 2 {
		t.Errorf("heartbeats on the subject every node reads: %d, want 2 (one per start)", n)
	}
}

// TestLivenessConnection: with Config.Liveness, the heartbeats and probes
// travel on that connection alone: the node lives while it is up, even
// with its other connection closed, and dies with it.
func TestLivenessConnection(t *testing.T) {
	ns := startNATS(t)
	a := startNode(t, ns, 1, testConfig)
	lc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	cfg := testConfig
	cfg.Liveness = lc
	b := startNode(t, ns, 2, cfg)
	waitFor(t, "b live", func() bool { return len(a.st.Nodes()) == 2 })
	b.nc.Close()
	time.Sleep(2 * testConfig.DeadAfter)
	if got := a.st.Nodes(); len(got) != 2 {
		t.Fatalf("b's event connection closed, its liveness connection up: Nodes = %v, want b live", got)
	}
	lc.Close()
	waitFor(t, "b dead", func() bool { return len(a.st.Nodes()) == 1 })
	if st := a.st.Stats(); st.Suspected == 0 {
		t.Errorf("Stats.Suspected = 0: b died without being suspected first")
	}
}
