package engine_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestIdleConnectionsCostNoGoroutine opens 2,000 connections and checks the
// process's goroutine count does not grow with them: an open connection
// lives in its event loop, not in a goroutine.
func TestIdleConnectionsCostNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		runtime.GC()
		before := runtime.NumGoroutine()
		const n = 2000
		conns := make([]net.Conn, 0, n)
		head := wstest.RequestHead(srv.addr, "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)
		for range n {
			c := srv.rawDial(t)
			conns = append(conns, c)
			if _, err := c.Write(head); err != nil {
				t.Fatal(err)
			}
		}
		// Every handshake is answered (a 101 is 129 bytes).
		buf := make([]byte, 129)
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil || string(buf[:12]) != "HTTP/1.1 101" {
				t.Fatalf("conn %d: %q %v", i, buf, err)
			}
		}
		after := runtime.NumGoroutine()
		if after-before > 10 {
			t.Fatalf("goroutines grew from %d to %d with %d open connections", before, after, n)
		}
		t.Logf("%d open connections: goroutines %d -> %d", n, before, after)
		// And they all still work.
		expectEchoOf(t, wstest.NewClient(conns[n-1]), wsproto.OpText, "last")
	})
}
