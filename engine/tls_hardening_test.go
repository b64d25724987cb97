package engine_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestHandshakeSlotsPerIPShare: five times MaxConcurrentHandshakes silent
// ClientHellos from one address (complete first record, then nothing) take
// that address's share of the running and queued slots, not all of them: a
// client from another address is still served. Behind a trusted proxy with
// the PROXY protocol, the share is the announced client's, not the
// proxy's; a trusted proxy that names no client is not counted, since it
// speaks for many. (Only wss has handshake slots.)
func TestHandshakeSlotsPerIPShare(t *testing.T) {
	const running = 16 // 64 more may queue: 80 slots, of which one address gets 8
	hello := clientHello(t)
	proxyHeader := func(client string) []byte {
		return fmt.Appendf(nil, "PROXY TCP4 %s 127.0.0.1 40000 443\r\n", client)
	}
	cases := []struct {
		name           string
		cfg            engine.Config
		attackerPrefix []byte // written before the ClientHello
		honest         *wstest.DialOptions
		wantRunning    int // of the attacker's handshakes; the others are refused or queued
		wantQueued     int
	}{
		{
			name:        "TCP peer",
			honest:      &wstest.DialOptions{LocalIP: "127.0.0.2"},
			wantRunning: 8,
		},
		{
			name:           "PROXY protocol",
			cfg:            engine.Config{ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			attackerPrefix: proxyHeader("198.51.100.1"),
			honest:         &wstest.DialOptions{PreHandshake: proxyHeader("198.51.100.2")},
			wantRunning:    8,
		},
		{
			name:        "trusted proxy without PROXY protocol",
			cfg:         engine.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			wantRunning: running,
			wantQueued:  4 * running,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.MaxConcurrentHandshakes = running
			srv := startServer(t, wss, cfg, echo{})
			conns := make([]net.Conn, 5*running)
			for i := range conns {
				conns[i] = tcpDial(srv.addr)(t)
				if _, err := conns[i].Write(append(tc.attackerPrefix[:len(tc.attackerPrefix):len(tc.attackerPrefix)], hello...)); err != nil {
					t.Fatal(err)
				}
			}
			// Running handshakes answer, queued ones wait, refused ones are closed.
			wantRefused := len(conns) - tc.wantRunning - tc.wantQueued
			var count map[sockState]int
			for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
				count = map[sockState]int{}
				for _, conn := range conns {
					count[peek(t, conn)]++
				}
				if count[sockData] >= tc.wantRunning && count[sockClosed] >= wantRefused {
					break
				}
			}
			t.Logf("silent ClientHellos from one address: %d answered, %d waiting, %d refused", count[sockData], count[sockOpen], count[sockClosed])
			if tc.honest != nil {
				c, err := srv.tryDial(t, *tc.honest)
				if err != nil {
					t.Fatalf("a client from another address was refused while one address stalls %d handshakes: %v", len(conns), err)
				}
				expectEchoOf(t, c, wsproto.OpText, "served beside the stalled handshakes")
			}
			if count[sockData] != tc.wantRunning || count[sockOpen] != tc.wantQueued || count[sockClosed] != wantRefused {
				t.Errorf("the one address's %d handshakes: %d run, %d queued, %d refused; want %d, %d, %d",
					len(conns), count[sockData], count[sockOpen], count[sockClosed], tc.wantRunning, tc.wantQueued, wantRefused)
			}
		})
	}
}

// TestShutdownHonoursContextWhileGetCertificateBlocks: Shutdown returns
// once its context ends although a handshake goroutine is blocked in
// GetCertificate; the goroutine ends when the callback returns.
func TestShutdownHonoursContextWhileGetCertificateBlocks(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release) // the leak check needs the goroutine gone
	cfg := testpki.Get().ServerConfig()
	cert := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return &cert, nil
	}
	srv := startServer(t, wss, engine.Config{TLS: cfg}, echo{})
	conn := tcpDial(srv.addr)(t)
	if _, err := conn.Write(clientHello(t)); err != nil {
		t.Fatal(err)
	}
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want context.DeadlineExceeded: a handshake goroutine is still blocked", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown with a 200 ms context still waiting for a blocked GetCertificate after 5 s")
	}
}

// TestTLSAutodetectBypassesClientCertificates: New refuses TLSAutodetect
// when the TLS config requires a client certificate, which a plain ws
// client on the same port would skip. Levels that let a client in without
// a certificate may be combined with it.
func TestTLSAutodetectBypassesClientCertificates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		auth    tls.ClientAuthType
		refused bool
	}{
		{tls.NoClientCert, false},
		{tls.RequestClientCert, false},
		{tls.RequireAnyClientCert, true},
		{tls.VerifyClientCertIfGiven, false},
		{tls.RequireAndVerifyClientCert, true},
	}
	for _, tc := range cases {
		for _, autodetect := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/autodetect=%v", tc.auth, autodetect), func(t *testing.T) {
				t.Parallel()
				cfg := testpki.Get().ServerConfig()
				cfg.ClientAuth = tc.auth
				_, err := engine.New(engine.Config{TLS: cfg, TLSAutodetect: autodetect}, echo{})
				if want := tc.refused && autodetect; want != (err != nil) {
					t.Fatalf("New: %v, want refused %v", err, want)
				}
				if err != nil && !strings.Contains(err.Error(), "TLSAutodetect") {
					t.Errorf("New: %q does not name TLSAutodetect", err)
				}
			})
		}
	}
}
