package engine_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/race"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestEchoAllocations: echoing a message in steady state allocates nothing
// of wssd's own, client and server together (testing.AllocsPerRun counts
// the process). Over wss, crypto/tls allocates a small reader each time it
// reads from its transport: once in the client, and twice in the server,
// whose last read finds the input drained; that is the whole wss budget.
func TestEchoAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation budgets are checked without -race: sync.Pool drops items at random under it")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		cases := []struct {
			name string
			msg  []wstest.Frame
			size int
		}{
			{"512 B binary", []wstest.Frame{wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{1}, 512))}, 512},
			{"64 B text", []wstest.Frame{wstest.Message(wsproto.OpText, bytes.Repeat([]byte("a"), 64))}, 64},
			{"two fragments", []wstest.Frame{{Op: wsproto.OpText, Payload: []byte("hel")}, {Fin: true, Op: wsproto.OpContinuation, Payload: []byte("lo")}}, 5},
		}
		srv := startServer(t, tr, engine.Config{EventLoops: 1, PingInterval: -1}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := srv.dial(t, wstest.DialOptions{})
				var out []byte
				for _, f := range tc.msg {
					out = append(out, f.Bytes()...)
				}
				in := make([]byte, wsproto.HeaderSize(tc.size, false)+tc.size)
				roundTrip := func() {
					if _, err := c.Conn.Write(out); err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadFull(c.Conn, in); err != nil {
						t.Fatal(err)
					}
				}
				for range 100 { // warm pools and buffers
					roundTrip()
				}
				budget := 0.0
				if tr.TLS {
					budget = 3
				}
				if n := testing.AllocsPerRun(500, roundTrip); n > budget {
					t.Fatalf("%.2f allocations per echo, want at most %v", n, budget)
				}
			})
		}
	})
}
