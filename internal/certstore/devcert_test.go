package certstore_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// devFiles are the paths DevCertificate returned, plus the CA key beside
// them.
type devFiles struct{ cert, key, ca, caKey string }

func devCertificate(t *testing.T, dir string) devFiles {
	t.Helper()
	cert, key, ca, err := certstore.DevCertificate(dir)
	if err != nil {
		t.Fatalf("DevCertificate: %v", err)
	}
	return devFiles{cert, key, ca, filepath.Join(filepath.Dir(ca), "ca-key.pem")}
}

// read returns the content of every file; a missing one reads as nil.
func (f devFiles) read(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{f.cert, f.key, f.ca, f.caKey} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// loadTest reads a certificate and key pair the way the tests need it.
func loadTest(t *testing.T, certFile, keyFile string) *testCert {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	return &testCert{cert: pair.Leaf, key: pair.PrivateKey.(crypto.Signer), certPEM: certPEM, keyPEM: keyPEM}
}

// checkDev checks everything DevCertificate promises about its files.
func checkDev(t *testing.T, f devFiles) {
	t.Helper()
	for path, want := range map[string]os.FileMode{f.cert: 0o644, f.key: 0o600, f.ca: 0o644, f.caKey: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
	ca, server := loadTest(t, f.ca, f.caKey), loadTest(t, f.cert, f.key)
	if ca.cert.Subject.CommonName != "wssd development CA" || !ca.cert.IsCA {
		t.Errorf("CA %v (IsCA %v), want the wssd development CA", ca.cert.Subject, ca.cert.IsCA)
	}
	for _, c := range []*testCert{ca, server} {
		k, ok := c.key.(*ecdsa.PrivateKey)
		if !ok || k.Curve != elliptic.P256() {
			t.Errorf("%v: key %T, want ECDSA P-256", c.cert.Subject, c.key)
		}
	}
	if !server.cert.NotAfter.After(time.Now().Add(7 * 24 * time.Hour)) {
		t.Errorf("server certificate expires %v, within 7 days", server.cert.NotAfter)
	}
	if got := server.cert.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("server certificate extended key usage %v, want server auth", got)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		_, err := server.cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool(ca)})
		if err != nil {
			t.Errorf("server certificate does not verify for %s: %v", host, err)
		}
	}
}

func TestDevCertificate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev", "certs")
	f := devCertificate(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode %v, want 0700", got)
	}
	checkDev(t, f)
	ca, server := loadTest(t, f.ca, f.caKey).cert, loadTest(t, f.cert, f.key).cert
	if life := ca.NotAfter.Sub(time.Now()); life < 9*365*24*time.Hour || life > 11*365*24*time.Hour {
		t.Errorf("CA valid for another %v, want about 10 years", life)
	}
	if life := server.NotAfter.Sub(time.Now()); life < 360*24*time.Hour || life > 370*24*time.Hour {
		t.Errorf("server certificate valid for another %v, want about a year", life)
	}

	// The files serve as they are meant to: a client trusting the CA
	// connects to localhost by name and to 127.0.0.1 without SNI.
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{{CertFile: f.cert, KeyFile: f.key}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())
	for _, name := range []string{"localhost", ""} {
		if _, err := connect(t, addr, &tls.Config{ServerName: name, RootCAs: pool(loadTest(t, f.ca, f.caKey))}); err != nil {
			t.Errorf("ServerName %q: %v", name, err)
		}
	}
}

func TestDevCertificateRenewal(t *testing.T) {
	t.Parallel()
	soon := time.Now().Add(3 * 24 * time.Hour)
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	// issue replaces the server certificate with one from the development CA.
	issue := func(t *testing.T, f devFiles, spec certSpec) {
		c := newCert(t, loadTest(t, f.ca, f.caKey), spec)
		writeFile(t, f.cert, c.certPEM)
		writeFile(t, f.key, c.keyPEM)
	}
	tests := []struct {
		name                  string
		change                func(t *testing.T, f devFiles)
		wantNewCA, wantNewKey bool // wantNewKey: a new server certificate and key
	}{{
		name:   "valid files are reused",
		change: func(t *testing.T, f devFiles) {},
	}, {
		name: "server certificate expiring within 7 days",
		change: func(t *testing.T, f devFiles) {
			issue(t, f, certSpec{cn: "localhost", dns: []string{"localhost"}, usage: serverAuth, notAfter: soon})
		},
		wantNewKey: true,
	}, {
		name: "server certificate expired",
		change: func(t *testing.T, f devFiles) {
			issue(t, f, certSpec{cn: "localhost", dns: []string{"localhost"}, usage: serverAuth, notAfter: time.Now().Add(-time.Hour)})
		},
		wantNewKey: true,
	}, {
		name: "server certificate missing a host",
		change: func(t *testing.T, f devFiles) {
			issue(t, f, certSpec{cn: "localhost", dns: []string{"localhost"}, usage: serverAuth, notAfter: time.Now().AddDate(1, 0, 0)})
		},
		wantNewKey: true,
	}, {
		name: "server certificate from another CA",
		change: func(t *testing.T, f devFiles) {
			c := selfSigned(t, time.Now().AddDate(1, 0, 0), "localhost", "127.0.0.1", "::1")
			writeFile(t, f.cert, c.certPEM)
			writeFile(t, f.key, c.keyPEM)
		},
		wantNewKey: true,
	}, {
		name:       "server key lost",
		change:     func(t *testing.T, f devFiles) { os.Remove(f.key) },
		wantNewKey: true,
	}, {
		name: "CA expiring within 7 days",
		change: func(t *testing.T, f devFiles) {
			ca := newCert(t, nil, certSpec{cn: "wssd development CA", ca: true, notAfter: soon})
			writeFile(t, f.ca, ca.certPEM)
			writeFile(t, f.caKey, ca.keyPEM)
			issue(t, f, certSpec{cn: "localhost", dns: []string{"localhost"}, usage: serverAuth, notAfter: soon})
		},
		wantNewCA: true, wantNewKey: true,
	}, {
		name:      "CA file garbage",
		change:    func(t *testing.T, f devFiles) { writeFile(t, f.ca, []byte("garbage")) },
		wantNewCA: true, wantNewKey: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f := devCertificate(t, dir)
			tt.change(t, f)
			before := f.read(t)
			after := devCertificate(t, dir)
			if after != f {
				t.Fatalf("second call returned %+v, first %+v", after, f)
			}
			checkDev(t, f)
			now := f.read(t)
			for path, changed := range map[string]bool{f.ca: tt.wantNewCA, f.caKey: tt.wantNewCA, f.cert: tt.wantNewKey, f.key: tt.wantNewKey} {
				if got := !bytes.Equal(before[path], now[path]); got != changed {
					t.Errorf("%s rewritten: %v, want %v", filepath.Base(path), got, changed)
				}
			}
		})
	}
}

func TestGenerateSelfSigned(t *testing.T) {
	t.Parallel()
	inAYear := time.Now().AddDate(1, 0, 0)
	tests := []struct {
		name     string
		hosts    []string
		notAfter time.Time
		wantErr  bool
		verify   []string // names the certificate must verify for
		expired  bool
	}{
		{name: "DNS names", hosts: []string{"a.test", "b.test"}, notAfter: inAYear, verify: []string{"a.test", "b.test"}},
		{name: "IP addresses", hosts: []string{"127.0.0.1", "::1"}, notAfter: inAYear, verify: []string{"127.0.0.1", "::1"}},
		{name: "wildcard", hosts: []string{"*.b.test"}, notAfter: inAYear, verify: []string{"x.b.test"}},
		{name: "already expired", hosts: []string{"old.test"}, notAfter: time.Now().Add(-time.Hour), expired: true},
		{name: "no hosts", notAfter: inAYear, wantErr: true},
		{name: "empty host", hosts: []string{"a.test", ""}, notAfter: inAYear, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			certPEM, keyPEM, err := certstore.GenerateSelfSigned(tt.hosts, tt.notAfter)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			leaf := pair.Leaf
			if leaf.IsCA || !leaf.NotBefore.Before(leaf.NotAfter) || !leaf.NotAfter.Equal(tt.notAfter.Truncate(time.Second)) {
				t.Errorf("IsCA %v, valid %v to %v; want a leaf valid until %v", leaf.IsCA, leaf.NotBefore, leaf.NotAfter, tt.notAfter)
			}
			if got := time.Now().After(leaf.NotAfter); got != tt.expired {
				t.Errorf("expired %v, want %v", got, tt.expired)
			}
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			for _, name := range tt.verify {
				for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
					_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
					if err != nil {
						t.Errorf("does not verify for %s, usage %v: %v", name, usage, err)
					}
				}
			}
		})
	}
}
