package tlsconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/leakcheck"
)

// TestMain fails the run if goroutines outlive the tests: no handshake
// goroutine may remain once its Conn or Handshaker is done.
func TestMain(m *testing.M) { leakcheck.Main(m, 5*time.Second) }

// waitGoroutines waits until at most want goroutines exist, or fails with
// their stacks.
func waitGoroutines(want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// testPKI is a CA and a leaf certificate for "wssd.test" it signed, both
// ECDSA P-256, generated once per test binary.
var testPKI = sync.OnceValue(func() (p struct {
	leaf  tls.Certificate
	roots *x509.CertPool
}) {
	now := time.Now()
	caKey := mustKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsconn test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		panic(err)
	}
	leafKey := mustKey()
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "wssd.test"},
		DNSNames:     []string{"wssd.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	p.leaf = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(ca)
	return p
})

func mustKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// serverConfig is the servers' configuration: TLS 1.2 and 1.3.
func serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{testPKI().leaf},
		MinVersion:   tls.VersionTLS12,
	}
}

// clientConfig is a client configuration that verifies the server against
// the test CA and speaks only version.
func clientConfig(version uint16) *tls.Config {
	return &tls.Config{
		RootCAs:    testPKI().roots,
		ServerName: "wssd.test",
		MinVersion: version,
		MaxVersion: version,
	}
}

// versions are the protocol versions every behaviour runs over.
var versions = []struct {
	name    string
	version uint16
}{
	{"TLS1.2", tls.VersionTLS12},
	{"TLS1.3", tls.VersionTLS13},
}
