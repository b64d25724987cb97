package tlsconn_test

import (
	"crypto/tls"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// raceEnabled reports whether the test binary was built with -race, under
// which sync.Pool drops items at random and allocations are not meaningful.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "-race" && s.Value == "true"
	})
}()

// handshake runs a handshake between a crypto/tls client with cfg and a
// testServer, driving the server from the calling goroutine.
func handshake(tb testing.TB, h *tlsconn.Handshaker, cfg *tls.Config) (*testServer, *tls.Conn) {
	tb.Helper()
	client, side := newBufPipe()
	s := newTestServer(serverConfig(), h, side)
	tc := tls.Client(client, cfg)
	clientErr := make(chan error, 1)
	go func() { clientErr <- tc.Handshake() }()
	timeout := time.After(10 * time.Second)
	for {
		over := s.step()
		if s.hsDone && s.hsErr == nil {
			break
		}
		if over {
			tb.Fatalf("handshake failed: %v, %v", s.hsErr, s.err)
		}
		select {
		case <-side.ready():
		case <-s.wake:
		case <-timeout:
			tb.Fatal("handshake timed out")
		}
	}
	if err := <-clientErr; err != nil {
		tb.Fatal("client:", err)
	}
	return s, tc
}

// roundTrip has the client send msg, the server echo it, and the client read
// it back into buf, all on the calling goroutine.
func roundTrip(tb testing.TB, s *testServer, tc *tls.Conn, msg, buf []byte) {
	if _, err := tc.Write(msg); err != nil {
		tb.Fatal(err)
	}
	s.in, _ = s.side.drain(s.in[:0])
	if err := s.conn.Feed(s.in); err != nil {
		tb.Fatal(err)
	}
	pt, err := s.conn.AppendPlaintext(s.pt[:0])
	if err != nil || len(pt) != len(msg) {
		tb.Fatalf("AppendPlaintext: %d bytes, %v", len(pt), err)
	}
	s.pt = pt
	if _, err := s.conn.Write(pt); err != nil {
		tb.Fatal(err)
	}
	s.flush()
	if _, err := io.ReadFull(tc, buf); err != nil {
		tb.Fatal(err)
	}
}

// mallocs returns the average number of heap allocations made by op over
// runs calls, each prepared by an unmeasured call of prep. Like
// testing.AllocsPerRun, it rounds down, absorbing rare refills of the
// buffer pool after a garbage collection.
func mallocs(runs int, prep, op func()) uint64 {
	var before, after runtime.MemStats
	var total uint64
	for range runs {
		prep()
		runtime.ReadMemStats(&before)
		op()
		runtime.ReadMemStats(&after)
		total += after.Mallocs - before.Mallocs
	}
	return total / uint64(runs)
}

// TestSteadyStateAllocs checks the allocation budget of an established Conn
// for 512 B records. Encrypting allocates nothing. Decrypting allocates what
// crypto/tls itself does: it boxes a small reader each time it reads from its
// transport (readFromUntil), once for the record and once for the probe that
// finds no more input.
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not meaningful under the race detector")
	}
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	defer h.Close()
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			s, tc := handshake(t, h, clientConfig(v.version))
			defer s.conn.Close()
			msg, buf := payload(512), make([]byte, 512)
			s.in, s.pt = make([]byte, 0, 4096), make([]byte, 0, 4096)
			roundTrip(t, s, tc, msg, buf) // the client reads its session tickets

			decrypt := mallocs(100, func() { tc.Write(msg) }, func() {
				s.in, _ = s.side.drain(s.in[:0])
				s.conn.Feed(s.in)
				s.pt, _ = s.conn.AppendPlaintext(s.pt[:0])
			})
			encrypt := mallocs(100, func() {}, func() {
				s.conn.Write(msg)
				s.conn.DiscardOutbound(len(s.conn.Outbound())) // as if sent
			})
			if encrypt != 0 || decrypt > 2 {
				t.Errorf("allocations per 512 B record: %v to encrypt, %v to decrypt; want 0 and at most 2", encrypt, decrypt)
			}
		})
	}
}

// heapPerItem returns the growth of the live heap per item kept by n calls
// of newItem, after garbage collection.
func heapPerItem(n int, newItem func() any) float64 {
	keep := make([]any, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = newItem()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestIdleMemory measures the heap kept by an idle, handshaken Conn (TLS
// 1.3, ECDSA) against a bare tls.Conn over an in-memory pipe, and checks the
// adapter adds little.
func TestIdleMemory(t *testing.T) {
	// Not parallel: it measures the heap.
	n := 2000
	if raceEnabled || testing.Short() {
		n = 200
	}
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	defer h.Close()
	cfg := clientConfig(tls.VersionTLS13)

	adapter := heapPerItem(n, func() any {
		s, tc := handshake(t, h, cfg)
		tc.Close()
		return s.conn
	})
	bare := heapPerItem(n, func() any {
		client, server := newBufPipe()
		tc, ts := tls.Client(client, cfg), tls.Server(server, serverConfig())
		serverErr := make(chan error, 1)
		go func() { serverErr <- ts.Handshake() }()
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-serverErr; err != nil {
			t.Fatal(err)
		}
		client.p.free()
		return ts
	})
	t.Logf("idle heap per connection over %d: adapter %.0f B, bare tls.Conn %.0f B (ratio %.2f)",
		n, adapter, bare, adapter/bare)
	if !raceEnabled && adapter > bare+1024 {
		t.Errorf("an idle Conn keeps %.0f B, more than 1 KiB above a bare tls.Conn's %.0f B", adapter, bare)
	}
}
