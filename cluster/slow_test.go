package cluster_test

import (
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
)

// valve is a loopback TCP proxy to a NATS server whose client-to-server
// direction can be shut: a NATS that stops reading.
type valve struct {
	ln   net.Listener
	gate sync.RWMutex // held for writing while shut
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

func startValve(t *testing.T, target string) *valve {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &valve{ln: ln}
	v.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			v.mu.Lock()
			v.conn = append(v.conn, c, s)
			v.mu.Unlock()
			v.wg.Go(func() { v.pipe(s, c) })
			v.wg.Go(func() { _, _ = io.Copy(c, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		v.mu.Lock()
		for _, c := range v.conn {
			c.Close()
		}
		v.mu.Unlock()
		v.wg.Wait()
	})
	return v
}

// pipe copies client bytes to the server while the gate is open.
func (v *valve) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		v.gate.RLock()
		_, err = dst.Write(buf[:n])
		v.gate.RUnlock()
		if err != nil {
			return
		}
	}
}

// TestSlowNATS: when NATS stops reading, publishing drops and counts
// events instead of blocking the caller, and the node recovers when NATS
// reads again.
func TestSlowNATS(t *testing.T) {
	ns := startNATS(t)
	v := startValve(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	nc, err := nats.Connect("nats://"+v.ln.Addr().String(), nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	apps, err := push.NewApps(testApp)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.Apps, cfg.Buffer = apps, 64
	st, err := cluster.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := push.New(push.Config{Apps: apps, State: st})
	if err != nil {
		t.Fatal(err)
	}
	other := startNode(t, ns, 2, testConfig)
	waitFor(t, "both nodes live", func() bool { return len(other.st.Nodes()) == 2 })

	v.gate.Lock() // NATS reads no more
	data := strings.Repeat("x", 8<<10)
	const n = 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			_ = srv.Trigger(testApp.ID, []string{"slow"}, "ev", data, "")
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a liveness bound, not a speed one
		v.gate.Unlock()
		t.Fatal("Trigger blocked while NATS was not reading")
	}
	// A query from an event loop (UserOnline at sign-in) does not wait on
	// the stuck connection either, only for the other node's answer.
	asked := make(chan bool)
	go func() { asked <- st.UserOnline(testApp.ID, "nobody") }()
	select {
	case online := <-asked:
		if online {
			t.Error("nobody is online")
		}
	case <-time.After(30 * time.Second):
		v.gate.Unlock()
		t.Fatal("UserOnline blocked while NATS was not reading")
	}
	dropped := st.Stats().PublishDropped
	v.gate.Unlock()
	if dropped == 0 {
		t.Errorf("no event dropped: %+v", st.Stats())
	}
	waitFor(t, "every event sent or dropped", func() bool {
		s := st.Stats()
		return s.Published+s.PublishDropped >= n
	})

	// Delivery resumes.
	cl := other.dial()
	cl.Join("after", "")
	other.follow("after", true)
	if err := srv.Trigger(testApp.ID, []string{"after"}, "ev", "ok", ""); err != nil {
		t.Fatal(err)
	}
	cl.ExpectEvent("ev", "after", "ok")
}

// TestFullDispatcher: a node whose dispatcher queues are full loses the
// events NATS has for it, counted as dropped and as a slow consumer, and
// goes on delivering.
func TestFullDispatcher(t *testing.T) {
	ns := startNATS(t)
	a := startNode(t, ns, 1, testConfig)
	cfg := testConfig
	cfg.Buffer = 1
	b := startNode(t, ns, 3, cfg)
	waitFor(t, "both nodes live", func() bool { return len(b.st.Nodes()) == 2 })
	cl := b.dial()
	cl.Join("burst", "")
	b.follow("burst", true)
	data := strings.Repeat("x", 1<<10)
	const n = 5000
	for range n {
		if err := a.srv.Trigger(testApp.ID, []string{"burst"}, "ev", data, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "drops counted", func() bool {
		s := b.st.Stats()
		return s.ReceiveDropped > 0 && s.SlowConsumers > 0
	})
	// The burst over, received or dropped: an event behind it could find
	// its dispatcher's queue full too.
	waitFor(t, "the burst over", func() bool {
		s := b.st.Stats()
		return s.Received+s.ReceiveDropped >= n
	})
	after := b.dial()
	after.Join("after", "")
	b.follow("after", true)
	if err := a.srv.Trigger(testApp.ID, []string{"after"}, "ev", "ok", ""); err != nil {
		t.Fatal(err)
	}
	after.ExpectEvent("ev", "after", "ok")
}

// TestStalledBucket: with NATS up but not reading (the bucket cannot
// answer), the first transition waits KVTimeout and times out, and those
// after it are decided at once, without waiting again; once NATS reads
// again the node writes its part and uses the bucket again.
func TestStalledBucket(t *testing.T) {
	ns := startNATS(t)
	v := startValve(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	nd := startNodeAt(t, "nats://"+v.ln.Addr().String(), 1, testConfig, testApp)
	c := nd.dial()
	c.Join("before", "")
	v.gate.Lock()
	for _, ch := range []string{"one", "two", "three"} {
		c.Join(ch, "")
	}
	s := nd.st.Stats()
	v.gate.Unlock()
	if s.Degraded != 3 || s.KVTimeouts != 1 {
		t.Errorf("stalled: %d transitions degraded, %d timed out; want 3 and 1", s.Degraded, s.KVTimeouts)
	}
	waitFor(t, "the part written again", func() bool {
		nodes, _, err := cluster.ChannelEntry(nd.st, testApp.ID, "three")
		return err == nil && len(nodes) == 1 && cluster.BucketAnswering(nd.st)
	})
	c.Join("after", "")
	if s := nd.st.Stats(); s.Degraded != 3 {
		t.Errorf("degraded after NATS read again: %+v", s)
	}
}

// TestDegradedOnce: the transitions a node decides alone while the bucket
// does not answer are reported once, not again when the resync then
// writes the node's part to the bucket: a user's last socket closing
// (offline, member_removed, channel_vacated) and its first signing in and
// joining (online, member_added, channel_occupied). Before, the resync
// reported each a second time.
func TestDegradedOnce(t *testing.T) {
	const presence, solo = "presence-degraded", "solo-degraded"
	type hook struct {
		kind          push.HookKind
		channel, user string
	}
	for _, tc := range []struct {
		name   string
		before bool     // x is signed in and subscribed before the stall
		hooks  []hook   // reported once each
		events []string // what x's watcher hears, the last through the bucket after the resync
	}{
		{name: "leave", before: true,
			hooks:  []hook{{push.HookMemberRemoved, presence, "x"}, {push.HookChannelVacated, presence, ""}, {push.HookChannelVacated, solo, ""}},
			events: []string{"offline", "online"}},
		{name: "join",
			hooks:  []hook{{push.HookMemberAdded, presence, "x"}, {push.HookChannelOccupied, presence, ""}, {push.HookChannelOccupied, solo, ""}},
			events: []string{"online", "offline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startNATS(t)
			v := startValve(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
			cfg := testConfig
			cfg.DeadAfter, cfg.HungAfter = 5*time.Second, 10*time.Second // the stall is not a death
			a := startNodeAt(t, "nats://"+v.ln.Addr().String(), 1, cfg, testApp)
			b := startNodeAt(t, ns.ClientURL(), 2, cfg, testApp)
			nodes := []*node{a, b}
			waitFor(t, "both nodes live", func() bool { return len(a.st.Nodes()) == 2 && len(b.st.Nodes()) == 2 })
			w := b.dial()
			signin(w, "w", "x")
			join := func() *pushtest.Client {
				x := a.dial()
				signin(x, "x")
				x.JoinPresence(presence, "x")
				x.Join(solo, "")
				x.Ping()
				return x
			}
			var x *pushtest.Client
			if tc.before {
				x = join()
				w.ExpectEvent("pusher_internal:watchlist_events", "", `{"events":[{"name":"online","user_ids":["x"]}]}`)
			}

			v.gate.Lock() // the bucket stops answering a
			if tc.before {
				x.WS.Close()
				waitFor(t, "x's sign-out and unsubscriptions decided by a", func() bool { return a.st.Stats().Degraded == 3 })
			} else {
				x = join()
			}
			if s := a.st.Stats(); s.Degraded != 3 {
				t.Errorf("%d transitions decided alone, want 3", s.Degraded)
			}
			v.gate.Unlock()
			waitFor(t, "a's part written again", func() bool {
				want := 0
				if !tc.before {
					want = 1
				}
				on, err := cluster.UserNodes(a.st, testApp.ID, "x")
				if err != nil || len(on) != want || !cluster.BucketAnswering(a.st) {
					return false
				}
				for _, ch := range []string{presence, solo} {
					if on, _, err := cluster.ChannelEntry(a.st, testApp.ID, ch); err != nil || len(on) != want {
						return false
					}
				}
				return true
			})
			for _, h := range tc.hooks {
				if n := hooks(nodes, h.kind, h.channel, h.user); n != 1 {
					t.Errorf("%s %s %s: reported %d times, want 1", h.kind, h.channel, h.user, n)
				}
			}
			if tc.before { // x's next transition goes through the bucket: after what the resync reported
				signin(a.dial(), "x")
			} else {
				x.WS.Close()
			}
			for _, ev := range tc.events {
				w.ExpectEvent("pusher_internal:watchlist_events", "", `{"events":[{"name":"`+ev+`","user_ids":["x"]}]}`)
			}
			w.Ping()
		})
	}
}

// TestResyncCost: after a transition decided alone while the bucket did
// not answer, the resync rewrites the keys so decided, not every key of
// the bucket: on a loaded cluster a full walk per node after each stall
// kept the bucket too busy to answer, and the stalls came back.
func TestResyncCost(t *testing.T) {
	ns := startNATS(t)
	v := startValve(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	cfg := testConfig
	cfg.DeadAfter, cfg.HungAfter = 5*time.Second, 10*time.Second // the stall is not a death
	a := startNodeAt(t, "nats://"+v.ln.Addr().String(), 1, cfg, testApp)
	waitFor(t, "the start's resync", func() bool { return a.st.Stats().Resyncs > 0 })
	const channels = 100
	c := a.dial()
	for i := range channels {
		c.Join("room-"+strconv.Itoa(i), "")
	}
	before := a.st.Stats()

	v.gate.Lock() // the bucket stops answering a
	late := a.dial()
	late.Join("late", "")
	late.Ping()
	if s := a.st.Stats(); s.Degraded != before.Degraded+1 {
		t.Fatalf("%d transitions decided alone, want 1", s.Degraded-before.Degraded)
	}
	v.gate.Unlock()
	waitFor(t, "the late channel written", func() bool {
		on, _, err := cluster.ChannelEntry(a.st, testApp.ID, "late")
		return err == nil && len(on) == 1 && cluster.BucketAnswering(a.st) && a.st.Stats().Resyncs > before.Resyncs
	})
	if n := a.st.Stats().ResyncKeys - before.ResyncKeys; n > 1 {
		t.Errorf("the resync after one degraded decision read %d keys of the %d in the bucket, want 1", n, channels+1)
	}
}
