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
// the process), the server's counters (Stats) included. Over wss, crypto/tls allocates a small reader each time it
// reads from its transport: per record once in the client, and in the
// server once plus once more for the last read that finds the input
// drained; that is the whole wss budget for a one-record message (3). A
// 64 KiB message is checked over ws only: over wss the count follows how
// TCP happens to split its five records.
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
			// wssBudget is crypto/tls's allocations for the exchange; -1:
			// the case runs over ws only.
			wssBudget float64
		}{
			{"512 B binary", []wstest.Frame{wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{1}, 512))}, 512, 3},
			{"64 B text", []wstest.Frame{wstest.Message(wsproto.OpText, bytes.Repeat([]byte("a"), 64))}, 64, 3},
			{"64 KiB binary, spanning reads", []wstest.Frame{wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{2}, 64<<10))}, 64 << 10, -1},
			{"two fragments", []wstest.Frame{{Op: wsproto.OpText, Payload: []byte("hel")}, {Fin: true, Op: wsproto.OpContinuation, Payload: []byte("lo")}}, 5, 3},
		}
		srv := startServer(t, tr, engine.Config{EventLoops: 1, PingInterval: -1}, echo{})
		for _, tc := range cases {
			if tr.TLS && tc.wssBudget < 0 {
				continue
			}
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
					budget = tc.wssBudget
				}
				before := srv.Stats()
				if n := testing.AllocsPerRun(500, roundTrip); n > budget {
					t.Fatalf("%.2f allocations per echo, want at most %v", n, budget)
				}
				// The echoes measured were counted: counting is on the path.
				if st := srv.Stats(); st.MessagesIn-before.MessagesIn < 500 || st.MessagesOut-before.MessagesOut < 500 || st.BytesIn == before.BytesIn {
					t.Fatalf("the measured echoes were not counted: %+v, before %+v", st, before)
				}
			})
		}
	})
}

// TestCompressedEchoAllocations: a compressed 512-byte message, inflated,
// echoed and compressed again, allocates nothing of wssd's own either.
func TestCompressedEchoAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation budgets are checked without -race: sync.Pool drops items at random under it")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{EventLoops: 1, PingInterval: -1, Compression: &engine.Compression{}}, echo{})
		c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate; client_max_window_bits")})
		p := newDeflatePeer(true, false)
		msg := jsonish(512, 3)
		out := wstest.Frame{Fin: true, Rsv: 0b100, Op: wsproto.OpText, Payload: p.compress(msg)}.Bytes()
		if _, err := c.Conn.Write(out); err != nil {
			t.Fatal(err)
		}
		h, _, err := c.ReadFrame(0)
		if err != nil || h.Rsv == 0 {
			t.Fatalf("first echo: %v, RSV %03b", err, h.Rsv)
		}
		in := make([]byte, wsproto.HeaderSize(int(h.Length), false)+int(h.Length))
		roundTrip := func() {
			if _, err := c.Conn.Write(out); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c.Conn, in); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			roundTrip()
		}
		budget := 0.0
		if tr.TLS {
			budget = 3 // crypto/tls's, as in TestEchoAllocations
		}
		before := srv.Stats()
		if n := testing.AllocsPerRun(500, roundTrip); n > budget {
			t.Fatalf("%.2f allocations per compressed echo, want at most %v", n, budget)
		}
		if st := srv.Stats(); st.CompressedIn-before.CompressedIn < 500 || st.CompressedOut-before.CompressedOut < 500 {
			t.Fatalf("the measured compressed echoes were not counted: %+v, before %+v", st, before)
		}
	})
}
