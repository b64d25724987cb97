package push_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// BenchmarkTriggerFanout: one Trigger to a channel of n subscribers on
// loopback, until the last one has read it (ws, clients in process; the
// allocations counted are the clients' too).
func BenchmarkTriggerFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			as, _ := push.NewApps(testApp)
			srv, _ := push.New(push.Config{Apps: as})
			es := wstest.StartServerWith(b, wstest.Transports[0], "127.0.0.1:0", engine.Config{}, srv, 5*time.Second, srv.Bind)
			got := make(chan struct{}, n)
			var wg sync.WaitGroup
			b.Cleanup(wg.Wait) // last: after the connections below are closed
			for range n {
				cl := pushtest.Dial(b, es.Addr().String(), pushtest.Options{Key: testApp.Key}) // closed when b ends
				cl.Join("fan", "")
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if _, _, err := cl.WS.ReadMessage(time.Minute); err != nil {
							return
						}
						got <- struct{}{}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := srv.Trigger("1", []string{"fan"}, "tick", `{"n":1}`, ""); err != nil {
					b.Fatal(err)
				}
				for range n {
					<-got
				}
			}
		})
	}
}

// BenchmarkOpen: one client at a time opens a connection to an app, reads
// pusher:connection_established and closes, over ws and wss (TLS 1.3,
// ECDSA P-256, as testpki's certificate is). The client is in process: its
// CPU and allocations are counted too; a -memprofile tells them apart.
func BenchmarkOpen(b *testing.B) {
	for _, tr := range wstest.Transports {
		b.Run(tr.Name, func(b *testing.B) {
			as, _ := push.NewApps(testApp)
			srv, _ := push.New(push.Config{Apps: as})
			es := wstest.StartServerWith(b, tr, "127.0.0.1:0", engine.Config{}, srv, 5*time.Second, srv.Bind)
			opts := wstest.DialOptions{Path: "/app/" + testApp.Key + "?protocol=7"}
			if tr.TLS {
				opts.TLS = testpki.Get().ClientConfig()
			}
			addr := es.Addr().String()
			b.ReportAllocs()
			for b.Loop() {
				c, err := wstest.Dial(addr, opts)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.ReadMessage(5 * time.Second); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
