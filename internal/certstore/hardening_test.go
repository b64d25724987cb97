package certstore_test

import (
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// TestTLSDefaultsAsStrictAsNginx: the served config refuses what
// deploy/nginx refuses: TLS 1.2 CBC suites (LUCKY13), and it negotiates
// AEAD suites only; TLS 1.3 keeps Go's hybrid post-quantum key exchange.
func TestTLSDefaultsAsStrictAsNginx(t *testing.T) {
	t.Parallel()
	addr, _, _ := serveECAndRSA(t)
	tests := []struct {
		name      string
		max       uint16
		suites    []uint16
		wantErr   string
		wantSuite uint16
		wantCurve tls.CurveID
	}{
		{name: "ECDHE-ECDSA-AES128-SHA refused", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, wantErr: "handshake failure"},
		{name: "ECDHE-ECDSA-AES256-SHA refused", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, wantErr: "handshake failure"},
		{name: "ECDHE-RSA-AES128-SHA refused", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, wantErr: "handshake failure"},
		{name: "ECDHE-RSA-AES256-SHA refused", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}, wantErr: "handshake failure"},
		{name: "CBC preferred, GCM taken", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{name: "ChaCha20-Poly1305 over TLS 1.2", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "RSA certificate, AES-GCM", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{name: "TLS 1.3 with X25519MLKEM768", wantCurve: tls.X25519MLKEM768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := connect(t, addr, &tls.Config{
				ServerName: "a.test", InsecureSkipVerify: true, MaxVersion: tt.max, CipherSuites: tt.suites,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("connect: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal("connect:", err)
			}
			cs := c.ConnectionState()
			if tt.wantSuite != 0 && cs.CipherSuite != tt.wantSuite {
				t.Errorf("suite %s, want %s", tls.CipherSuiteName(cs.CipherSuite), tls.CipherSuiteName(tt.wantSuite))
			}
			if tt.wantCurve != 0 && cs.CurveID != tt.wantCurve {
				t.Errorf("key exchange %v, want %v", cs.CurveID, tt.wantCurve)
			}
		})
	}
}

// TestSessionTicketsExpireWithinADay: a session ticket opens for at most a
// day after it was issued (Go's own keys open one for seven), and none is
// issued with tickets off.
func TestSessionTicketsExpireWithinADay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		noTickets   bool
		after       time.Duration // between the ticket's issue and its use
		wantResumed bool
	}{
		{name: "after an hour", after: time.Hour, wantResumed: true},
		{name: "after 23 hours, the key rotated", after: 23 * time.Hour, wantResumed: true},
		{name: "after 25 hours", after: 25 * time.Hour},
		{name: "after 3 days", after: 72 * time.Hour},
		{name: "tickets off", noTickets: true},
	}
	for _, tt := range tests {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tt.name+"/"+tls.VersionName(version), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				a := newServer(t, "a.test")
				st, err := certstore.Load(certstore.Config{
					Pairs:                 []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)},
					DisableSessionTickets: tt.noTickets,
				})
				if err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				now := time.Now()
				if !tt.noTickets {
					certstore.SetTicketClock(st, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
				}
				addr := serve(t, st.TLSConfig())
				cfg := &tls.Config{
					ServerName: "a.test", RootCAs: pool(a), MinVersion: version, MaxVersion: version,
					ClientSessionCache: tls.NewLRUClientSessionCache(1),
				}
				if mustConnect(t, addr, cfg).ConnectionState().DidResume {
					t.Fatal("first connection resumed a session")
				}
				mu.Lock()
				now = now.Add(tt.after)
				mu.Unlock()
				if got := mustConnect(t, addr, cfg).ConnectionState().DidResume; got != tt.wantResumed {
					t.Errorf("resumed %v, want %v", got, tt.wantResumed)
				}
			})
		}
	}
}
