package cluster_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/cluster"
)

// BenchmarkDelivery: triggers on one node to a subscriber read by a
// WebSocket client of the same node (local) or of another (nats, through
// the embedded NATS server): one op is one event from Trigger to the
// client, so allocations count the client's reads too. At most window
// events are in flight, so that the bounded queues never overflow; the
// paced cases have one, as under a modest trigger rate, where each event
// wakes every goroutine and thread on its way by itself. cpu-µs/op is the
// CPU of the whole test process (both nodes, the NATS server, the client)
// per event: run with -cpu 1,2 to see what GOMAXPROCS costs.
func BenchmarkDelivery(b *testing.B) {
	for _, tc := range []struct {
		name   string
		remote bool
		window int
	}{{"local", false, 1024}, {"nats", true, 1024}, {"local-paced", false, 1}, {"nats-paced", true, 1}} {
		b.Run(tc.name, func(b *testing.B) {
			_, nodes := startCluster(b, 2)
			pub, sub := nodes[0], nodes[0]
			if tc.remote {
				sub = nodes[1]
			}
			cl := sub.dial()
			cl.Join("bench", "")
			sub.follow("bench", true)
			inFlight := make(chan struct{}, tc.window)
			done := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			go func() {
				for range b.N {
					if _, _, err := cl.WS.ReadMessage(30 * time.Second); err != nil {
						done <- err
						return
					}
					<-inFlight
				}
				done <- nil
			}()
			for range b.N {
				inFlight <- struct{}{}
				if err := pub.srv.Trigger(testApp.ID, []string{"bench"}, "ev", `{"n":1}`, ""); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			if s := pub.st.Stats(); s.PublishDropped > 0 {
				b.Fatalf("%d events dropped", s.PublishDropped)
			}
		})
	}
}

// BenchmarkTransition: one op is a socket joining a channel and leaving it
// again through the Gateway, on a node of two (embedded NATS server with
// JetStream on loopback). "first": the socket is the node's only
// subscriber, so both are local transitions (a state bucket read and write
// each, and the NATS subscription in place before the join returns);
// "other": another socket of the node stays subscribed, so neither touches
// the bucket; "presence-tab": the user has another socket in the presence
// channel here, so the join reads the bucket for the members and the leave
// touches nothing.
func BenchmarkTransition(b *testing.B) {
	for _, tc := range []struct {
		name, channel string
		stay          bool
	}{{"first", "bench", false}, {"other", "bench", true}, {"presence-tab", "presence-bench", true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, nodes := startCluster(b, 2)
			nd := nodes[0]
			g := nd.gateway()
			sock, stay := nd.dial(), nd.dial()
			for _, id := range []string{sock.ID, stay.ID} {
				if err := g.BindUID(id, "u"); err != nil {
					b.Fatal(err)
				}
			}
			if tc.stay {
				if err := g.JoinGroup(stay.ID, tc.channel); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := g.JoinGroup(sock.ID, tc.channel); err != nil {
					b.Fatal(err)
				}
				if err := g.LeaveGroup(sock.ID, tc.channel); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if s := nd.st.Stats(); s.Degraded > 0 {
				b.Fatalf("%d decisions degraded", s.Degraded)
			}
		})
	}
}

// BenchmarkUserOnline: one op is a UserOnline on node 1 of three (default
// QueryTimeout, embedded NATS with JetStream on loopback) for a user
// signed in on node 3 ("remote"), on node 1 ("local"), nowhere
// ("nobody"), and nowhere while node 2 answers no query ("silent": asking
// the nodes waits QueryTimeout).
func BenchmarkUserOnline(b *testing.B) {
	for _, tc := range []struct {
		name, user string
		silent     bool
	}{{"remote", "x", false}, {"local", "y", false}, {"nobody", "nobody", false}, {"silent", "nobody", true}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := testConfig
			cfg.QueryTimeout = cluster.DefaultQueryTimeout
			_, nodes := startClusterWith(b, 3, cfg)
			signin(nodes[2].dial(), "x")
			signin(nodes[0].dial(), "y")
			if tc.silent {
				if err := cluster.StopAnswering(nodes[1].st); err != nil {
					b.Fatal(err)
				}
			}
			want := tc.user != "nobody"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if nodes[0].st.UserOnline(testApp.ID, tc.user) != want {
					b.Fatalf("UserOnline(%s) != %v", tc.user, want)
				}
			}
		})
	}
}

// BenchmarkSignIn: one op is a Gateway BindUID of a new socket of node 1
// (of two) to a user signed in nowhere: a state bucket read and write,
// and the node's first subscriber of the user's #server-to-user channel.
// Dialling and closing the socket are not timed.
func BenchmarkSignIn(b *testing.B) {
	_, nodes := startCluster(b, 2)
	nd := nodes[0]
	g := nd.gateway()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		c := nd.dial()
		b.StartTimer()
		if err := g.BindUID(c.ID, "u"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.WS.Close()
		b.StartTimer()
	}
	b.StopTimer()
	if s := nd.st.Stats(); s.Degraded > 0 {
		b.Fatalf("%d decisions degraded", s.Degraded)
	}
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
