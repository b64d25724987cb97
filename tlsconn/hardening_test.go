package tlsconn_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// TestHandshakeSlotsPerIPShare: one address that sends ClientHellos and then
// nothing fills its share of the running and queued slots and no more, so a
// client from another address still gets a handshake; an IPv6 client counts
// with its /64.
func TestHandshakeSlotsPerIPShare(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	const running, queued, perIP = 16, 64, 8 // 8: the default share of 80 slots
	for _, tc := range []struct {
		name             string
		attacker, honest netip.Addr
		sharesWith       bool // honest counts against the attacker's share
	}{
		{"IPv4", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), false},
		{"IPv4-mapped IPv6", netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("192.0.2.1"), true},
		{"IPv6 other /64", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:0:1::1"), false},
		{"IPv6 same /64", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: running, MaxQueued: queued})
			defer h.Close()
			admitted := 0
			for i := range 5 * running { // five times the running slots: enough to lock everyone out without a share
				c := newWakeConnFrom(h, tc.attacker)
				defer c.Close()
				switch err := c.Feed(hello); {
				case err == nil:
					admitted++
				case !errors.Is(err, tlsconn.ErrTooManyPerIP):
					t.Fatalf("attacker conn %d: Feed: %v, want nil or ErrTooManyPerIP", i, err)
				}
			}
			if admitted != perIP {
				t.Errorf("one address got %d handshakes running or queued, want its share of %d", admitted, perIP)
			}
			honest := newWakeConnFrom(h, tc.honest)
			defer honest.Close()
			err := honest.Feed(hello)
			if tc.sharesWith {
				if !errors.Is(err, tlsconn.ErrTooManyPerIP) {
					t.Fatalf("client in the attacker's share: Feed: %v, want ErrTooManyPerIP", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("client from another address: Feed: %v, want its handshake queued", err)
			}
			waitCounts(t, h, perIP+1, 0) // it runs at once
		})
	}
}

// TestHandshakeSlotsPerIPShareReturned: a closed or failed handshake gives
// its slot in the share back.
func TestHandshakeSlotsPerIPShareReturned(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	peer := netip.MustParseAddr("192.0.2.7")
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: 1, MaxPerIP: 2})
	defer h.Close()
	running, queued, refused := newWakeConnFrom(h, peer), newWakeConnFrom(h, peer), newWakeConnFrom(h, peer)
	defer running.Close()
	defer queued.Close()
	defer refused.Close()
	for _, c := range []wakeConn{running, queued} {
		if err := c.Feed(hello); err != nil {
			t.Fatal("Feed:", err)
		}
	}
	if err := refused.Feed(hello); !errors.Is(err, tlsconn.ErrTooManyPerIP) {
		t.Fatalf("third handshake: Feed: %v, want ErrTooManyPerIP", err)
	}
	queued.Close()  // leaves the queue
	running.Close() // its goroutine exits
	waitCounts(t, h, 0, 0)
	for i := range 2 {
		c := newWakeConnFrom(h, peer)
		defer c.Close()
		if err := c.Feed(hello); err != nil {
			t.Fatalf("handshake %d after the others ended: Feed: %v", i, err)
		}
	}
}

// TestWaitingHandshakeInputBound: a handshake whose goroutine does not run
// yet, queued or with its first record just complete, buffers at most
// MaxWaitingInput (one first record and a little more), not MaxInput.
func TestWaitingHandshakeInputBound(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	if tlsconn.MaxWaitingInput > 18<<10 {
		t.Fatalf("MaxWaitingInput is %d: more than a first record and a little more", tlsconn.MaxWaitingInput)
	}
	for _, tc := range []struct {
		name  string
		first []byte // fed at once
		chunk int    // then fed in chunks of this size until Feed fails
	}{
		{name: "first record with 64 KiB behind it", first: append(hello[:len(hello):len(hello)], make([]byte, 64<<10)...)},
		{name: "queued, fed 1 KiB at a time", first: hello, chunk: 1 << 10},
		{name: "queued, fed 16 KiB at a time", first: hello, chunk: 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{MaxConcurrent: 1})
			defer h.Close()
			blocker := newWakeConn(h) // holds the only slot, waiting for its client
			defer blocker.Close()
			if err := blocker.Feed(hello); err != nil {
				t.Fatal("Feed:", err)
			}
			waitCounts(t, h, 1, 0)
			c := newWakeConn(h)
			defer c.Close()
			err := c.Feed(tc.first)
			most, mostCap := c.Buffered()
			for fed := len(tc.first); err == nil && tc.chunk > 0 && fed < 1<<20; fed += tc.chunk {
				err = c.Feed(make([]byte, tc.chunk))
				n, capacity := c.Buffered()
				most, mostCap = max(most, n), max(mostCap, capacity)
			}
			if !errors.Is(err, tlsconn.ErrInputLimit) {
				t.Errorf("Feed: %v, want ErrInputLimit", err)
			}
			if most > tlsconn.MaxWaitingInput {
				t.Errorf("buffered %d bytes before the handshake ran, want at most %d", most, tlsconn.MaxWaitingInput)
			}
			if mostCap > 2*tlsconn.MaxWaitingInput {
				t.Errorf("input buffer grew to %d bytes, want at most %d", mostCap, 2*tlsconn.MaxWaitingInput)
			}
			t.Logf("buffered at most %d bytes in a buffer of %d before ErrInputLimit (MaxWaitingInput %d)", most, mostCap, tlsconn.MaxWaitingInput)
		})
	}
}

// TestHandshakerCloseDoesNotWait: Close returns while a handshake goroutine
// is blocked in GetCertificate; Wait gives up when its context ends and
// returns once the callback has returned, after which the goroutine has
// sent nothing.
func TestHandshakerCloseDoesNotWait(t *testing.T) {
	t.Parallel()
	hello := recordClientHello(t, clientConfig(tls.VersionTLS13))
	entered, release := make(chan struct{}), make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			close(entered)
			<-release
			leaf := testPKI().leaf
			return &leaf, nil
		},
	}
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	wake := make(chan struct{}, 1)
	c := tlsconn.Server(cfg, h, netip.Addr{}, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	defer c.Close()
	if err := c.Feed(hello); err != nil {
		t.Fatal("Feed:", err)
	}
	<-entered
	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Handshaker.Close still waiting for a blocked GetCertificate after 5 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with GetCertificate blocked: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := h.Wait(context.Background()); err != nil {
		t.Fatal("Wait:", err)
	}
	if done, err := c.HandshakeComplete(); !done || !errors.Is(err, tlsconn.ErrHandshakerClosed) {
		t.Errorf("HandshakeComplete: %v, %v, want ErrHandshakerClosed", done, err)
	}
	if out := c.Outbound(); len(out) != 0 {
		t.Errorf("the handshake sent %d bytes after Close", len(out))
	}
}
