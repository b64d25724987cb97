package certstore_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/tlsconn"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	root := newRoot(t, "test root")
	inter := newCert(t, root, certSpec{cn: "test intermediate", ca: true})
	chained := newCert(t, inter, certSpec{cn: "a.test", dns: []string{"a.test"}, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	a := newServer(t, "a.test")
	other := newServer(t, "a.test")
	expired := selfSigned(t, time.Now().Add(-time.Hour), "old.test")

	tests := []struct {
		name string
		// setup writes files into dir and returns the Config to load.
		setup func(t *testing.T, dir string) certstore.Config
		// wantErr are substrings of the error; "{dir}" stands for dir.
		wantErr []string
		// wantNotExist: errors.Is(err, fs.ErrNotExist).
		wantNotExist bool
		wantLog      []string
		// check inspects the certificate served without SNI.
		check func(t *testing.T, cert *tls.Certificate)
	}{{
		name: "single pair",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)}}
		},
		wantLog: []string{"level=INFO", "certificates loaded", `cert0.subject="CN=a.test"`, "cert0.sans=[a.test]", "cert0.not_after="},
		check: func(t *testing.T, cert *tls.Certificate) {
			if len(cert.Certificate) != 1 || !sameSerial(cert.Leaf, a.cert) {
				t.Errorf("served %d certificates, leaf %v; want the a.test leaf alone", len(cert.Certificate), cert.Leaf.Subject)
			}
		},
	}, {
		name: "chain in certificate file",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", concat(chained.certPEM, inter.certPEM), chained.keyPEM)}}
		},
		check: func(t *testing.T, cert *tls.Certificate) {
			if len(cert.Certificate) != 2 {
				t.Fatalf("served %d certificates, want leaf and intermediate", len(cert.Certificate))
			}
			inters := x509.NewCertPool()
			for _, der := range cert.Certificate[1:] {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				inters.AddCert(c)
			}
			_, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "a.test", Roots: pool(root), Intermediates: inters})
			if err != nil {
				t.Errorf("served chain does not verify against the root: %v", err)
			}
		},
	}, {
		name: "certificate and key in one file",
		setup: func(t *testing.T, dir string) certstore.Config {
			path := filepath.Join(dir, "a.pem")
			writeFile(t, path, concat(a.certPEM, a.keyPEM))
			return certstore.Config{Pairs: []certstore.Pair{{CertFile: path, KeyFile: path}}}
		},
		check: func(t *testing.T, cert *tls.Certificate) {
			if !sameSerial(cert.Leaf, a.cert) {
				t.Errorf("served %v, want the a.test leaf", cert.Leaf.Subject)
			}
		},
	}, {
		name: "chain out of order loads with a warning",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", concat(chained.certPEM, root.certPEM, inter.certPEM), chained.keyPEM)}}
		},
		wantLog: []string{"level=WARN", "certificate chain out of order", "position=1"},
	}, {
		name: "expired certificate loads with a warning",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "old", expired.certPEM, expired.keyPEM)}}
		},
		wantLog: []string{"level=WARN", "certificate expired", "old.crt", "certificates loaded"},
		check: func(t *testing.T, cert *tls.Certificate) {
			if !sameSerial(cert.Leaf, expired.cert) {
				t.Errorf("served %v, want the expired leaf", cert.Leaf.Subject)
			}
		},
	}, {
		name: "key does not match certificate",
		setup: func(t *testing.T, dir string) certstore.Config {
			writePair(t, dir, "other", other.certPEM, other.keyPEM)
			return certstore.Config{Pairs: []certstore.Pair{{CertFile: filepath.Join(dir, "a.crt"), KeyFile: filepath.Join(dir, "other.key")}}}
		},
		wantErr: []string{"{dir}/other.key", "{dir}/a.crt", "private key does not match public key"},
	}, {
		name: "missing certificate file",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{{CertFile: filepath.Join(dir, "none.crt"), KeyFile: filepath.Join(dir, "a.key")}}}
		},
		wantErr:      []string{"{dir}/none.crt"},
		wantNotExist: true,
	}, {
		name: "missing key file",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{{CertFile: filepath.Join(dir, "a.crt"), KeyFile: filepath.Join(dir, "none.key")}}}
		},
		wantErr:      []string{"{dir}/none.key"},
		wantNotExist: true,
	}, {
		name: "certificate file not PEM",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "bad", []byte("not a certificate\n"), a.keyPEM)}}
		},
		wantErr: []string{"certificate file {dir}/bad.crt", "no PEM block of type CERTIFICATE"},
	}, {
		name: "corrupt certificate in PEM",
		setup: func(t *testing.T, dir string) certstore.Config {
			junk := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "bad", junk, a.keyPEM)}}
		},
		wantErr: []string{"certificate file {dir}/bad.crt", "certificate 1"},
	}, {
		name: "corrupt intermediate in PEM",
		setup: func(t *testing.T, dir string) certstore.Config {
			junk := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "bad", concat(chained.certPEM, junk), chained.keyPEM)}}
		},
		wantErr: []string{"certificate file {dir}/bad.crt", "certificate 2"},
	}, {
		name: "key file not PEM",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "bad", a.certPEM, []byte("garbage"))}}
		},
		wantErr: []string{"key file {dir}/bad.key", "no PEM block of type PRIVATE KEY"},
	}, {
		name: "certificate in the key file",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "bad", a.certPEM, a.certPEM)}}
		},
		wantErr: []string{"key file {dir}/bad.key", "no PEM block of type PRIVATE KEY"},
	}, {
		name: "client CA file not PEM",
		setup: func(t *testing.T, dir string) certstore.Config {
			ca := filepath.Join(dir, "ca.pem")
			writeFile(t, ca, []byte("garbage"))
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)}, ClientCAFile: ca}
		},
		wantErr: []string{"client CA file {dir}/ca.pem", "no PEM block of type CERTIFICATE"},
	}, {
		name: "missing client CA file",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)}, ClientCAFile: filepath.Join(dir, "ca.pem")}
		},
		wantErr:      []string{"client CA", "{dir}/ca.pem"},
		wantNotExist: true,
	}, {
		name: "no pairs",
		setup: func(t *testing.T, dir string) certstore.Config {
			return certstore.Config{}
		},
		wantErr: []string{"no certificate pairs"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writePair(t, dir, "a", a.certPEM, a.keyPEM)
			cfg := tt.setup(t, dir)
			log, logs := logtest.New()
			cfg.Logger = log
			st, err := certstore.Load(cfg)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("Load succeeded, want an error")
				}
				for _, want := range tt.wantErr {
					if want = strings.ReplaceAll(want, "{dir}", dir); !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				if got := errors.Is(err, fs.ErrNotExist); got != tt.wantNotExist {
					t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.wantNotExist)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log does not contain %q:\n%s", want, logs)
				}
			}
			if tt.check != nil {
				tt.check(t, served(t, st))
			}
		})
	}
}

func TestTLSConfigPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newServer(t, "a.test")
	ca := newRoot(t, "client root")
	writeFile(t, filepath.Join(dir, "ca.pem"), ca.certPEM)
	st, err := certstore.Load(certstore.Config{
		Pairs:        []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)},
		ClientCAFile: filepath.Join(dir, "ca.pem"),
	})
	if err != nil {
		t.Fatal(err)
	}
	base := st.TLSConfig()
	if base != st.TLSConfig() {
		t.Error("TLSConfig returned a different config on the second call")
	}
	perConn, err := base.GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*tls.Config{"base": base, "per handshake": perConn} {
		if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 {
			t.Errorf("%s: versions %x..%x, want TLS 1.2 to the newest", name, cfg.MinVersion, cfg.MaxVersion)
		}
		if want := tlsconn.HardenedConfig().CipherSuites; !slices.Equal(cfg.CipherSuites, want) {
			t.Errorf("%s: CipherSuites %v, want tlsconn.HardenedConfig's %v", name, cfg.CipherSuites, want)
		}
		if cfg.CurvePreferences != nil {
			t.Errorf("%s: CurvePreferences %v, want Go's defaults (X25519MLKEM768 first)", name, cfg.CurvePreferences)
		}
		if cfg.SessionTicketsDisabled {
			t.Errorf("%s: session tickets off, want them on by default", name)
		}
		if len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
			t.Errorf("%s: NextProtos %q, want [http/1.1]", name, cfg.NextProtos)
		}
		if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Errorf("%s: ClientAuth %v, want RequireAndVerifyClientCert", name, cfg.ClientAuth)
		}
	}
}

func TestSNI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newServer(t, "a.test")
	b := newServer(t, "*.b.test")
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{
		writePair(t, dir, "a", a.certPEM, a.keyPEM),
		writePair(t, dir, "b", b.certPEM, b.keyPEM),
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())

	tests := []struct {
		name, sni string
		want      *testCert
	}{
		{"exact name", "a.test", a},
		{"wildcard", "x.b.test", b},
		{"wildcard, upper case", "X.B.Test", b},
		{"no SNI gets the first pair", "", a},
		{"unknown name gets the first pair", "c.test", a},
		{"wildcard does not cover its apex", "b.test", a},
		{"wildcard covers one label only", "y.x.b.test", a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Dialing an IP address with an empty ServerName sends no SNI.
			c := mustConnect(t, addr, &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true})
			if got := peerLeaf(c); !sameSerial(got, tt.want.cert) {
				t.Errorf("SNI %q got %v, want %v", tt.sni, got.Subject, tt.want.cert.Subject)
			}
		})
	}
}

// serveECAndRSA serves an ECDSA and an RSA pair for a.test, in that order,
// from a Store with the default settings, and returns the address and the
// pairs.
func serveECAndRSA(t *testing.T) (addr string, ec, rsa *testCert) {
	t.Helper()
	dir := t.TempDir()
	ec = newCert(t, nil, certSpec{cn: "ecdsa", dns: []string{"a.test"}})
	rsa = newCert(t, nil, certSpec{cn: "rsa", dns: []string{"a.test"}, rsa: true})
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{
		writePair(t, dir, "ec", ec.certPEM, ec.keyPEM),
		writePair(t, dir, "rsa", rsa.certPEM, rsa.keyPEM),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, st.TLSConfig()), ec, rsa
}

// TestSNIKeyType checks that among pairs for the same name a client gets one
// whose key it can use.
func TestSNIKeyType(t *testing.T) {
	t.Parallel()
	addr, ec, rsa := serveECAndRSA(t)
	tests := []struct {
		name   string
		suites []uint16
		want   *testCert
	}{
		{"client supporting ECDSA", nil, ec},
		{"client supporting only RSA suites", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, rsa},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, addr, &tls.Config{
				ServerName: "a.test", InsecureSkipVerify: true,
				MaxVersion: tls.VersionTLS12, CipherSuites: tt.suites,
			})
			if got := peerLeaf(c); !sameSerial(got, tt.want.cert) {
				t.Errorf("got %v, want %v", got.Subject, tt.want.cert.Subject)
			}
		})
	}
}

func TestTLSVersionsAndALPN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newServer(t, "a.test")
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())

	tests := []struct {
		name         string
		min, max     uint16
		alpn         []string
		wantErr      string
		wantVersion  uint16
		wantProtocol string
	}{
		{name: "TLS 1.0 refused", min: tls.VersionTLS10, max: tls.VersionTLS10, wantErr: "protocol version"},
		{name: "TLS 1.1 refused", min: tls.VersionTLS10, max: tls.VersionTLS11, wantErr: "protocol version"},
		{name: "TLS 1.2 only", min: tls.VersionTLS12, max: tls.VersionTLS12, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.3", wantVersion: tls.VersionTLS13},
		{name: "ALPN offered", alpn: []string{"h2", "http/1.1"}, wantVersion: tls.VersionTLS13, wantProtocol: "http/1.1"},
		{name: "ALPN offered over TLS 1.2", max: tls.VersionTLS12, alpn: []string{"http/1.1"}, wantVersion: tls.VersionTLS12, wantProtocol: "http/1.1"},
		{name: "no ALPN offered", wantVersion: tls.VersionTLS13},
		{name: "ALPN without http/1.1 refused", alpn: []string{"h2"}, wantErr: "no application protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := connect(t, addr, &tls.Config{
				ServerName: "a.test", RootCAs: pool(a),
				MinVersion: tt.min, MaxVersion: tt.max, NextProtos: tt.alpn,
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("connect: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			cs := c.ConnectionState()
			if cs.Version != tt.wantVersion {
				t.Errorf("version %s, want %s", tls.VersionName(cs.Version), tls.VersionName(tt.wantVersion))
			}
			if cs.NegotiatedProtocol != tt.wantProtocol {
				t.Errorf("ALPN %q, want %q", cs.NegotiatedProtocol, tt.wantProtocol)
			}
		})
	}
}

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newServer(t, "a.test")
	ca := newRoot(t, "client root")
	otherCA := newRoot(t, "other root")
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	writeFile(t, filepath.Join(dir, "ca.pem"), ca.certPEM)
	st, err := certstore.Load(certstore.Config{
		Pairs:        []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)},
		ClientCAFile: filepath.Join(dir, "ca.pem"),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())

	tests := []struct {
		name    string
		client  *testCert // nil: no certificate
		wantErr bool
	}{
		{"no certificate", nil, true},
		{"signed by the CA", newCert(t, ca, certSpec{cn: "client", usage: clientAuth}), false},
		{"signed by another CA", newCert(t, otherCA, certSpec{cn: "client", usage: clientAuth}), true},
		{"self-signed", newCert(t, nil, certSpec{cn: "client", usage: clientAuth}), true},
		{"signed by the CA for servers only", newCert(t, ca, certSpec{cn: "client", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), true},
		{"signed by the CA, expired", newCert(t, ca, certSpec{cn: "client", usage: clientAuth, notAfter: time.Now().Add(-time.Hour)}), true},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tt := range tests {
			t.Run(tls.VersionName(version)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				cfg := &tls.Config{ServerName: "a.test", RootCAs: pool(a), MinVersion: version, MaxVersion: version}
				if tt.client != nil {
					cfg.Certificates = []tls.Certificate{tt.client.tlsCert(t)}
				}
				c, err := connect(t, addr, cfg)
				if tt.wantErr {
					if err == nil {
						t.Fatal("connected, want the server to refuse the client")
					}
					return
				}
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				if got := c.ConnectionState().Version; got != version {
					t.Errorf("version %s, want %s", tls.VersionName(got), tls.VersionName(version))
				}
			})
		}
	}
}

// TestClientCAReloadAndResumption checks that a session resumed after a
// reload is subject to the client CAs in force then: a client whose CA was
// dropped must not get back in on a session ticket. certstore relies on
// crypto/tls for this (it checks a resumed session's chain against the
// handshake's ClientCAs since Go 1.26.0); the test guards that reliance.
func TestClientCAReloadAndResumption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := newServer(t, "a.test"), newServer(t, "a.test")
	ca1, ca2 := newRoot(t, "root 1"), newRoot(t, "root 2")
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	client1 := newCert(t, ca1, certSpec{cn: "client 1", usage: clientAuth})
	client2 := newCert(t, ca2, certSpec{cn: "client 2", usage: clientAuth})
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca1.certPEM)
	st, err := certstore.Load(certstore.Config{
		Pairs:        []certstore.Pair{writePair(t, dir, "a", a.certPEM, a.keyPEM)},
		ClientCAFile: caFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			// Not parallel: the steps reload the store the other version uses.
			writePair(t, dir, "a", a.certPEM, a.keyPEM)
			writeFile(t, caFile, ca1.certPEM)
			if err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			cache := tls.NewLRUClientSessionCache(4) // shared by both clients, as one process's would be
			cfg := func(c *testCert) *tls.Config {
				return &tls.Config{
					ServerName: "a.test", RootCAs: pool(a, b), MinVersion: version, MaxVersion: version,
					Certificates: []tls.Certificate{c.tlsCert(t)}, ClientSessionCache: cache,
				}
			}
			resumed := func(c *tls.Conn) bool { c.Close(); return c.ConnectionState().DidResume }

			if resumed(mustConnect(t, addr, cfg(client1))) {
				t.Fatal("first connection resumed a session")
			}
			if !resumed(mustConnect(t, addr, cfg(client1))) {
				t.Fatal("second connection did not resume: the test cannot tell anything")
			}

			// A reload that keeps the CAs keeps the sessions.
			writePair(t, dir, "a", b.certPEM, b.keyPEM)
			if err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			if !resumed(mustConnect(t, addr, cfg(client1))) {
				t.Error("reloading only the server certificate dropped the client's session")
			}

			// A reload that changes them drops the sessions: client 1 is
			// refused, client 2 does a full handshake.
			writeFile(t, caFile, ca2.certPEM)
			if err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			if _, err := connect(t, addr, cfg(client1)); err == nil {
				t.Error("client of the removed CA got in after the reload")
			}
			if resumed(mustConnect(t, addr, cfg(client2))) {
				t.Error("client 2 resumed a session issued under the old CA")
			}
		})
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1, v2 := newServer(t, "a.test"), newServer(t, "a.test")
	log, logs := logtest.New()
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", v1.certPEM, v1.keyPEM)}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())
	cfg := &tls.Config{ServerName: "a.test", RootCAs: pool(v1, v2)}
	open := mustConnect(t, addr, cfg)

	writePair(t, dir, "a", v2.certPEM, v2.keyPEM)
	if err := st.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := echo(open); err != nil {
		t.Errorf("connection opened before the reload broke: %v", err)
	}
	if got := peerLeaf(open); !sameSerial(got, v1.cert) {
		t.Errorf("open connection's certificate changed to serial %v", got.SerialNumber)
	}
	if got := peerLeaf(mustConnect(t, addr, cfg)); !sameSerial(got, v2.cert) {
		t.Errorf("new connection got serial %v, want the reloaded %v", got.SerialNumber, v2.cert.SerialNumber)
	}
	if n := logs.Count("certificates loaded"); n != 2 {
		t.Errorf("%d 'certificates loaded' lines, want 2 (Load and Reload):\n%s", n, logs)
	}
}

// TestReloadChecks replaces valid files with each kind of bad ones: the
// reload fails and new connections keep getting the old certificate.
func TestReloadChecks(t *testing.T) {
	t.Parallel()
	ca := newRoot(t, "client root")
	client := newCert(t, ca, certSpec{cn: "client", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	expired := selfSigned(t, time.Now().Add(-time.Hour), "a.test")
	expired2 := selfSigned(t, time.Now().Add(-time.Minute), "a.test")

	tests := []struct {
		name    string
		initial *testCert // nil: a valid certificate
		// change rewrites the files of pair p in dir.
		change  func(t *testing.T, dir string, p certstore.Pair)
		wantErr string // "": the reload succeeds and serves want
		want    *testCert
	}{{
		name:    "certificate file not PEM",
		change:  func(t *testing.T, dir string, p certstore.Pair) { writeFile(t, p.CertFile, []byte("garbage")) },
		wantErr: "no PEM block of type CERTIFICATE",
	}, {
		name: "certificate file truncated",
		change: func(t *testing.T, dir string, p certstore.Pair) {
			writeFile(t, p.CertFile, newServer(t, "a.test").certPEM[:200])
		},
		wantErr: "no PEM block of type CERTIFICATE",
	}, {
		name: "new certificate, old key",
		change: func(t *testing.T, dir string, p certstore.Pair) {
			writeFile(t, p.CertFile, newServer(t, "a.test").certPEM)
		},
		wantErr: "private key does not match public key",
	}, {
		name:    "key file removed",
		change:  func(t *testing.T, dir string, p certstore.Pair) { os.Remove(p.KeyFile) },
		wantErr: "no such file",
	}, {
		name: "client CA file broken",
		change: func(t *testing.T, dir string, p certstore.Pair) {
			writeFile(t, filepath.Join(dir, "ca.pem"), []byte("garbage"))
		},
		wantErr: "client CA file",
	}, {
		name: "expired certificate replacing a valid one",
		change: func(t *testing.T, dir string, p certstore.Pair) {
			writePair(t, dir, "a", expired.certPEM, expired.keyPEM)
		},
		wantErr: "would replace a certificate valid now",
	}, {
		name:    "expired certificate replacing an expired one",
		initial: expired,
		change: func(t *testing.T, dir string, p certstore.Pair) {
			writePair(t, dir, "a", expired2.certPEM, expired2.keyPEM)
		},
		want: expired2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			initial := tt.initial
			if initial == nil {
				initial = newServer(t, "a.test")
			}
			writeFile(t, filepath.Join(dir, "ca.pem"), ca.certPEM)
			p := writePair(t, dir, "a", initial.certPEM, initial.keyPEM)
			log, logs := logtest.New()
			st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{p}, ClientCAFile: filepath.Join(dir, "ca.pem"), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, st.TLSConfig())
			cfg := &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, Certificates: []tls.Certificate{client.tlsCert(t)}}
			open := mustConnect(t, addr, cfg)

			tt.change(t, dir, p)
			err = st.Reload()
			want := tt.want
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Reload: %v, want an error containing %q", err, tt.wantErr)
				}
				if !strings.Contains(logs.String(), "level=ERROR msg=\"certificate reload failed") {
					t.Errorf("reload failure not logged:\n%s", logs)
				}
				want = initial
			} else if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if err := echo(open); err != nil {
				t.Errorf("open connection broke: %v", err)
			}
			if got := peerLeaf(mustConnect(t, addr, cfg)); !sameSerial(got, want.cert) {
				t.Errorf("new connection got serial %v, want %v", got.SerialNumber, want.cert.SerialNumber)
			}
		})
	}
}

// TestReloadDuringHandshakes gives the race detector handshakes and reloads
// running at once.
func TestReloadDuringHandshakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1, v2 := newServer(t, "a.test"), newServer(t, "a.test")
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", v1.certPEM, v1.keyPEM)}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st.TLSConfig())
	cfg := &tls.Config{ServerName: "a.test", RootCAs: pool(v1, v2)}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				c, err := tls.Dial("tcp", addr, cfg)
				if err == nil {
					err = echo(c)
					c.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range 20 {
		v := []*testCert{v1, v2}[i%2]
		writePair(t, dir, "a", v.certPEM, v.keyPEM)
		if err := st.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("handshake during reloads: %v", err)
	}
}
