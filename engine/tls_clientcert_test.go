package engine_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/certstore"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// peerCerts records the client certificate the handshake hook saw.
type peerCerts struct {
	echo
	subjects chan string
}

func (p peerCerts) OnHandshake(c *engine.Conn, h *engine.Handshake) error {
	if h.TLS == nil || len(h.TLS.PeerCertificates) == 0 {
		p.subjects <- ""
		return nil
	}
	p.subjects <- h.TLS.PeerCertificates[0].Subject.String()
	return nil
}

// TestClientCertificates: with client certificates required (Workerman's
// verify_peer), a client without one, or with one from another CA, cannot
// connect, and the hook sees the certificate of one that can.
func TestClientCertificates(t *testing.T) {
	clientCert := func(t *testing.T) (tls.Certificate, *x509.Certificate) {
		certPEM, keyPEM, err := certstore.GenerateSelfSigned([]string{"client.test"}, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return cert, leaf
	}
	trustedCert, trustedLeaf := clientCert(t)
	otherCert, _ := clientCert(t)
	cfg := testpki.Get().ServerConfig()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = x509.NewCertPool()
	cfg.ClientCAs.AddCert(trustedLeaf)

	h := peerCerts{subjects: make(chan string, 4)}
	srv := startServer(t, transport{Name: "wss", TLS: true}, engine.Config{TLS: cfg}, h)
	cases := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{otherCert}, false},
		{"trusted certificate", []tls.Certificate{trustedCert}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := testpki.Get().ClientConfig()
			client.Certificates = tc.certs
			c, err := srv.tryDial(t, wstest.DialOptions{TLS: client})
			if !tc.ok {
				if err == nil {
					t.Fatal("connected without a trusted client certificate")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := <-h.subjects; got != trustedLeaf.Subject.String() {
				t.Fatalf("hook saw client certificate %q, want %q", got, trustedLeaf.Subject)
			}
			expectEchoOf(t, c, wsproto.OpText, "verified")
		})
	}
}
