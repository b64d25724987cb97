package tlsconn_test

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// wakeConn is a Conn with a channel that its wake function signals.
type wakeConn struct {
	*tlsconn.Conn
	wake chan struct{}
}

func newWakeConn(h *tlsconn.Handshaker) wakeConn {
	return newWakeConnFrom(h, netip.Addr{})
}

// newWakeConnFrom is newWakeConn for a client at the address peer.
func newWakeConnFrom(h *tlsconn.Handshaker, peer netip.Addr) wakeConn {
	w := wakeConn{wake: make(chan struct{}, 1)}
	w.Conn = tlsconn.Server(serverConfig(), h, peer, func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
	return w
}

// waitDone waits, through wakes, until the handshake is over and returns its
// error.
func (w wakeConn) waitDone(t *testing.T, timeout time.Duration) error {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if done, err := w.HandshakeComplete(); done {
			return err
		}
		select {
		case <-w.wake:
		case <-deadline:
			t.Fatal("handshake still running after", timeout)
		}
	}
}

// waitCounts waits until h runs and queues the given numbers of handshakes.
func waitCounts(t *testing.T, h *tlsconn.Handshaker, running, queued int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, q := h.Counts()
		if r == running && q == queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Handshaker runs %d and queues %d handshakes, want %d and %d", r, q, running, queued)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	// Not parallel: it counts goroutines.
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name      string
		input     []byte
		goroutine bool // a handshake goroutine runs until the timeout
	}{
		{name: "silence"},
		{name: "half a ClientHello", input: hello[:len(hello)/2]},
		{name: "record header only", input: hello[:5]},
		{name: "ClientHello then silence", input: hello, goroutine: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{Timeout: timeout})
			defer h.Close()
			base := runtime.NumGoroutine()
			start := time.Now()
			c := newWakeConn(h)
			defer c.Close()
			if err := c.Feed(tc.input); err != nil {
				t.Fatal("Feed:", err)
			}
			if tc.goroutine {
				waitCounts(t, h, 1, 0)
				if n := runtime.NumGoroutine(); n > base+1 {
					t.Errorf("%d new goroutines, want 1", n-base)
				}
			} else {
				time.Sleep(timeout / 4)
				waitCounts(t, h, 0, 0)
				if n := runtime.NumGoroutine(); n > base {
					t.Errorf("%d new goroutines, want none: a handshake started without a record", n-base)
				}
			}
			if err := c.waitDone(t, 10*timeout); err != tlsconn.ErrHandshakeTimeout {
				t.Fatalf("handshake error %v, want ErrHandshakeTimeout", err)
			}
			if elapsed := time.Since(start); elapsed < timeout {
				t.Errorf("timed out after %v, want at least %v", elapsed, timeout)
			}
			waitCounts(t, h, 0, 0)
			if err := c.Feed(hello); err != tlsconn.ErrHandshakeTimeout {
				t.Errorf("Feed after the timeout: %v, want ErrHandshakeTimeout", err)
			}
		})
	}
}

// TestConcurrencyLimit fills a Handshaker's slots and queue with handshakes
// whose clients never answer, and checks that one more is refused, that the
// number of goroutines follows the slots, not the connections, and that a
// slot freed by Close goes to the oldest queued handshake.
func TestConcurrencyLimit(t *testing.T) {
	// Not parallel: it counts goroutines.
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	const running, queued = 2, 3
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: running, MaxQueued: queued})
	defer h.Close()
	base := runtime.NumGoroutine()

	conns := make([]wakeConn, running+queued+1)
	for i := range conns {
		conns[i] = newWakeConn(h)
		defer conns[i].Close()
		err := conns[i].Feed(hello)
		if i < running+queued && err != nil {
			t.Fatalf("conn %d: Feed: %v", i, err)
		}
		if i == running+queued && err != tlsconn.ErrTooManyHandshakes {
			t.Fatalf("conn %d: Feed: %v, want ErrTooManyHandshakes", i, err)
		}
	}
	waitCounts(t, h, running, queued)
	if n := runtime.NumGoroutine(); n > base+running {
		t.Errorf("%d goroutines for %d handshakes, want at most %d", n-base, len(conns), running)
	}
	if done, err := conns[len(conns)-1].HandshakeComplete(); !done || err != tlsconn.ErrTooManyHandshakes {
		t.Errorf("refused conn: HandshakeComplete: %v, %v", done, err)
	}
	// The running handshakes answer their ClientHello; queued ones do not.
	for i := range running {
		<-conns[i].wake
		if len(conns[i].Outbound()) == 0 {
			t.Errorf("running conn %d has no server flight", i)
		}
	}
	if len(conns[running].Outbound()) != 0 {
		t.Errorf("queued conn %d has output", running)
	}

	conns[0].Close() // conns[running] takes its slot
	waitCounts(t, h, running, queued-1)
	<-conns[running].wake
	if len(conns[running].Outbound()) == 0 {
		t.Errorf("conn %d has no server flight after leaving the queue", running)
	}
	conns[running+queued-1].Close() // leaves the queue
	waitCounts(t, h, running, queued-2)

	h.Close()
	waitCounts(t, h, 0, 0)
	for i, c := range conns[1 : running+queued-1] {
		if err := c.waitDone(t, 5*time.Second); err != tlsconn.ErrHandshakerClosed {
			t.Errorf("conn %d: handshake error %v, want ErrHandshakerClosed", i+1, err)
		}
	}
	// Goroutines of earlier tests may still be winding down: allow a moment.
	if err := waitGoroutines(base, 5*time.Second); err != nil {
		t.Error("after Handshaker.Close:", err)
	}
	if err := newWakeConn(h).Feed(hello); err != tlsconn.ErrHandshakerClosed {
		t.Errorf("Feed after Handshaker.Close: %v, want ErrHandshakerClosed", err)
	}
}

// TestQueuedHandshakesComplete runs more real handshakes than the Handshaker
// has slots: the surplus waits in the queue and every one succeeds.
func TestQueuedHandshakesComplete(t *testing.T) {
	t.Parallel()
	const clients = 12
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: 2, MaxQueued: clients})
	t.Cleanup(h.Close)
	var wg sync.WaitGroup
	for i := range clients {
		v := versions[i%len(versions)]
		wg.Go(func() {
			client, side := newBufPipe()
			s := newTestServer(serverConfig(), h, side)
			runEcho(t, client, s, clientConfig(v.version), payload(100))
		})
	}
	wg.Wait()
}

// TestCloseMidHandshake closes a Conn while its handshake goroutine waits
// for the client's Finished: the goroutine must exit, and wake must not be
// called again.
func TestCloseMidHandshake(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	defer h.Close()
	c := newWakeConn(h)
	if err := c.Feed(hello); err != nil {
		t.Fatal("Feed:", err)
	}
	<-c.wake // the server flight is out: the goroutine now waits
	if err := c.Close(); err != nil {
		t.Fatal("Close:", err)
	}
	waitCounts(t, h, 0, 0)
	select {
	case <-c.wake:
		t.Error("wake called after Close")
	default:
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	if err := c.Feed(hello); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Feed after Close: %v, want net.ErrClosed", err)
	}
}

// TestInputLimit feeds more than MaxInput to a handshake waiting in the
// queue. (A running handshake consumes its input as it arrives, so only a
// peer faster than the handshake goroutine can reach the limit there.)
func TestInputLimit(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	const limit = 32 << 10
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: 1, MaxInput: limit})
	defer h.Close()
	running, queued := newWakeConn(h), newWakeConn(h)
	defer running.Close()
	defer queued.Close()
	for _, c := range []wakeConn{running, queued} {
		if err := c.Feed(hello); err != nil {
			t.Fatal("Feed:", err)
		}
	}
	waitCounts(t, h, 1, 1)
	junk := make([]byte, limit/4)
	var err error
	for range 8 {
		if err = queued.Feed(junk); err != nil {
			break
		}
	}
	if err != tlsconn.ErrInputLimit {
		t.Fatalf("Feed: %v, want ErrInputLimit", err)
	}
	if err := queued.waitDone(t, 5*time.Second); err != tlsconn.ErrInputLimit {
		t.Errorf("handshake error %v, want ErrInputLimit", err)
	}
	waitCounts(t, h, 1, 0)
}

// TestGoroutineReuse runs handshakes one after the other and checks that
// they run on one goroutine, which waits for the next handshake instead of
// exiting, and exits when the Handshaker is closed or has had nothing to do
// for a while.
func TestGoroutineReuse(t *testing.T) {
	// Not parallel: it counts goroutines.
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	for _, tc := range []struct {
		name  string
		close bool // close the Handshaker, rather than wait for its goroutine to time out
	}{
		{name: "closed", close: true},
		{name: "idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
			defer h.Close()
			base := runtime.NumGoroutine()
			var ids []string
			for i := range 3 {
				// The server's first flight is written, and wake called, on
				// the handshake goroutine.
				id := make(chan string, 1)
				c := tlsconn.Server(serverConfig(), h, netip.Addr{}, func() {
					select {
					case id <- goroutineID():
					default:
					}
				})
				if err := c.Feed(hello); err != nil {
					t.Fatalf("handshake %d: Feed: %v", i, err)
				}
				ids = append(ids, <-id)
				c.Close() // the client never answers: this ends the handshake
				waitCounts(t, h, 0, 0)
			}
			if ids[1] != ids[0] || ids[2] != ids[0] {
				t.Errorf("handshakes ran on goroutines %q, want one goroutine for all", ids)
			}
			if tc.close {
				h.Close()
			}
			if err := waitGoroutines(base, 5*time.Second); err != nil {
				t.Error("the idle handshake goroutine did not exit:", err)
			}
		})
	}
}

// goroutineID returns the calling goroutine's "goroutine N" header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(string(buf), " [")
	return id
}
