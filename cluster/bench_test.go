package cluster_test

import (
	"testing"
	"time"
)

// BenchmarkDelivery: triggers on one node to a subscriber read by a
// WebSocket client of the same node (local) or of another (nats, through
// the embedded NATS server): one op is one event from Trigger to the
// client, so allocations count the client's reads too. At most window
// events are in flight, so that the bounded queues never overflow.
func BenchmarkDelivery(b *testing.B) {
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"local", false}, {"nats", true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, nodes := startCluster(b, 2)
			pub, sub := nodes[0], nodes[0]
			if tc.remote {
				sub = nodes[1]
			}
			cl := sub.dial()
			cl.join("bench")
			sub.follow("bench", true)
			const window = 1024
			inFlight := make(chan struct{}, window)
			done := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for range b.N {
					if _, _, err := cl.c.ReadMessage(30 * time.Second); err != nil {
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
			if s := pub.st.Stats(); s.PublishDropped > 0 {
				b.Fatalf("%d events dropped", s.PublishDropped)
			}
		})
	}
}
