package engine_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestGracefulShutdown: Shutdown sends 1001 to every open connection, waits
// for the closing handshakes, tells the handler, then stops accepting.
func TestGracefulShutdown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := closeRecorder{closed: make(chan error, 16)}
		srv, err := engine.New(engine.Config{EventLoops: 2}, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addr := srv.Addr().String()
		var clients []*wstest.Client
		for range 8 {
			c, err := wstest.Dial(addr, wstest.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			clients = append(clients, c)
		}
		// A connection that never finished its upgrade is dropped too.
		half, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer half.Close()
		_, _ = half.Write([]byte("GET / HTTP/1.1\r\n"))

		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- srv.Shutdown(ctx)
		}()
		for i, c := range clients {
			code, _, err := c.ReadClose(3 * time.Second)
			if err != nil || code != wsproto.CloseGoingAway {
				t.Fatalf("client %d: close %v, %v; want 1001", i, code, err)
			}
			if err := c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9})); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		for range clients {
			if err := waitClosed(t, h.closed, time.Second); !errors.Is(err, engine.ErrServerClosed) {
				t.Fatalf("OnClose err = %v, want ErrServerClosed", err)
			}
		}
		if !wstest.NewClient(half).WaitEOF(time.Second) {
			t.Fatal("half-open connection survived the shutdown")
		}
		if err := srv.Wait(); err != nil {
			t.Fatalf("Wait after Shutdown: %v", err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatal("still accepting after Shutdown")
		}
	})
}

// TestShutdownDeadline: peers that ignore the close frame are dropped when
// the context ends, and Shutdown says so.
func TestShutdownDeadline(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, err := engine.New(engine.Config{EventLoops: 1, CloseTimeout: time.Minute}, echo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
		}
		if !c.WaitEOF(2 * time.Second) {
			t.Fatal("connection survived the shutdown")
		}
	})
}

// TestShutdownWithoutConnections: a server that never had a connection
// shuts down at once, and concurrent loops finishing their drain together
// do not trip over each other.
func TestShutdownWithoutConnections(t *testing.T) {
	for _, loops := range []int{1, 2, 8} {
		srv, err := engine.New(engine.Config{EventLoops: loops}, echo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("%d loops: Shutdown = %v", loops, err)
		}
		cancel()
	}
}

// TestShutdownManyLoops closes connections spread over many loops: every
// loop reports its drain at about the same time.
func TestShutdownManyLoops(t *testing.T) {
	for range 20 {
		srv, err := engine.New(engine.Config{EventLoops: 8}, echo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		for range 8 {
			c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		cancel()
	}
}
