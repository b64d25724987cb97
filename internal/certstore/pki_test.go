package certstore_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// testCert is a certificate and its key, parsed and PEM encoded.
type testCert struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// certSpec describes a test certificate. Its zero value is an ECDSA leaf for
// no names, valid for a day, with no extended key usage.
type certSpec struct {
	cn       string
	dns      []string
	ca       bool
	rsa      bool
	usage    []x509.ExtKeyUsage
	notAfter time.Time // zero: a day from now
}

// newCert issues a certificate for spec, signed by parent or self-signed when
// parent is nil.
func newCert(t *testing.T, parent *testCert, spec certSpec) *testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if spec.rsa {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	notAfter := spec.notAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	notBefore := time.Now().Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-48 * time.Hour) // already expired
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: spec.cn},
		DNSNames:              spec.dns,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usage,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
	}
	if spec.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	if spec.rsa {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func newRoot(t *testing.T, cn string) *testCert {
	return newCert(t, nil, certSpec{cn: cn, ca: true})
}

// newServer is a self-signed server certificate from certstore's own
// generator, valid for a day.
func newServer(t *testing.T, hosts ...string) *testCert {
	t.Helper()
	return selfSigned(t, time.Now().Add(24*time.Hour), hosts...)
}

func selfSigned(t *testing.T, notAfter time.Time, hosts ...string) *testCert {
	t.Helper()
	certPEM, keyPEM, err := certstore.GenerateSelfSigned(hosts, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: pair.Leaf, key: pair.PrivateKey.(crypto.Signer), certPEM: certPEM, keyPEM: keyPEM}
}

// tlsCert is c as a client or server certificate for crypto/tls.
func (c *testCert) tlsCert(t *testing.T) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func pool(certs ...*testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.cert)
	}
	return p
}

// writeFile replaces path the way careful updaters do: it writes a temporary
// file and renames it over path.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writePair writes dir/name.crt and dir/name.key, each by rename, the
// certificate file first.
func writePair(t *testing.T, dir, name string, certPEM, keyPEM []byte) certstore.Pair {
	t.Helper()
	p := certstore.Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	writeFile(t, p.CertFile, certPEM)
	writeFile(t, p.KeyFile, keyPEM)
	return p
}

func concat(b ...[]byte) []byte { return bytes.Join(b, nil) }

// eventually polls cond every few milliseconds until it holds or 5 seconds
// have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
