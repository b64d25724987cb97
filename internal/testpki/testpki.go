// Package testpki gives tests a certificate for the loopback names and the
// client configuration that trusts it, so that every behaviour can be tested
// over wss as well as ws.
package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// Hosts are the names the certificate is valid for.
var Hosts = []string{"localhost", "127.0.0.1", "::1"}

// PKI is a self-signed certificate for Hosts, valid for a day.
type PKI struct {
	CertPEM, KeyPEM []byte
	cert            tls.Certificate
	roots           *x509.CertPool
}

// Get returns the process's test PKI, generated on first use.
var Get = sync.OnceValue(func() *PKI {
	certPEM, keyPEM, err := certstore.GenerateSelfSigned(Hosts, time.Now().Add(24*time.Hour))
	if err != nil {
		panic("testpki: " + err.Error())
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		panic("testpki: " + err.Error())
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	return &PKI{CertPEM: certPEM, KeyPEM: keyPEM, cert: cert, roots: roots}
})

// ServerConfig returns a server configuration like wssd's own: TLS 1.2 and
// 1.3, ALPN http/1.1.
func (p *PKI) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// ClientConfig returns a client configuration that trusts the certificate.
func (p *PKI) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}
}

// WriteFiles writes the certificate and key as PEM files into dir, for
// servers and clients outside the process.
func (p *PKI) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, p.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, p.KeyPEM, 0o600)
}
