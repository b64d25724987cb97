package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	devCAName = "wssd development CA"
	// devRenewBefore is how long a development certificate must still be
	// valid to be reused.
	devRenewBefore = 7 * 24 * time.Hour
	// backdate moves NotBefore into the past to tolerate clock skew.
	backdate = time.Hour
)

// devHosts are the names the development server certificate covers.
var devHosts = []string{"localhost", "127.0.0.1", "::1"}

// DevCertificate returns a certificate and key for a development server on
// this machine, and the file of the local CA that signed it. The files live
// in dir, which is created with mode 0700 if missing:
//
//   - ca.pem and ca-key.pem: the "wssd development CA", ECDSA P-256, valid
//     for 10 years;
//   - cert.pem and key.pem: a server certificate for localhost, 127.0.0.1
//     and ::1, ECDSA P-256, valid for a year (never past the CA),
//     ExtKeyUsageServerAuth.
//
// Key files have mode 0600, certificates 0644. Files that are still valid for
// at least 7 days, fit their keys and (for the server certificate) verify
// against the CA for every host are reused; otherwise the server certificate
// is issued anew, and the CA too if it is expiring, missing or broken. Files
// are replaced by rename, never rewritten in place.
//
// To trust the server, clients use caFile: `curl --cacert ca.pem`,
// `websocat --ca-file`, or import it as an authority in the browser or system
// store (Chromium can instead be started with --ignore-certificate-errors).
// Once trusted, the CA can vouch for any name to this machine's clients, so
// ca-key.pem must stay private. DevCertificate is not meant for production,
// nor for concurrent use by several processes on one dir.
func DevCertificate(dir string) (certFile, keyFile, caFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", fmt.Errorf("certstore: development certificate directory: %w", err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	caKeyFile := filepath.Join(dir, "ca-key.pem")
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	now := time.Now()

	ca, err := loadKeyPair(caFile, caKeyFile)
	if err != nil || !ca.Leaf.IsCA || !validAt(ca.Leaf, now) || !validAt(ca.Leaf, now.Add(devRenewBefore)) {
		tmpl := &x509.Certificate{
			Subject:               pkix.Name{CommonName: devCAName, Organization: []string{"wssd development"}},
			NotBefore:             now.Add(-backdate),
			NotAfter:              now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLenZero:        true,
		}
		if ca, err = writeIssued(tmpl, nil, caFile, caKeyFile); err != nil {
			return "", "", "", err
		}
	}

	if devCertUsable(certFile, keyFile, ca.Leaf, now) {
		return certFile, keyFile, caFile, nil
	}
	notAfter := now.AddDate(1, 0, 0)
	if notAfter.After(ca.Leaf.NotAfter) {
		notAfter = ca.Leaf.NotAfter
	}
	tmpl, err := leafTemplate(devHosts, now, notAfter, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return "", "", "", err
	}
	tmpl.Subject.Organization = []string{"wssd development"}
	if _, err := writeIssued(tmpl, ca, certFile, keyFile); err != nil {
		return "", "", "", err
	}
	return certFile, keyFile, caFile, nil
}

// devCertUsable reports whether the server certificate in certFile fits
// keyFile, is valid now and in devRenewBefore, and verifies against ca for
// every development host.
func devCertUsable(certFile, keyFile string, ca *x509.Certificate, now time.Time) bool {
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil || !validAt(cert.Leaf, now) {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, host := range devHosts {
		_, err := cert.Leaf.Verify(x509.VerifyOptions{
			DNSName:     host,
			Roots:       roots,
			CurrentTime: now.Add(devRenewBefore),
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return false
		}
	}
	return true
}

// GenerateSelfSigned returns a new self-signed certificate and its private
// key, PEM encoded (PKCS #8), for tests and tools. The certificate covers
// hosts: IP addresses become IP SANs, anything else (including "*.example"
// wildcards) DNS SANs, and the first host is also the subject's common name.
// It is valid from an hour ago (or from a day before notAfter, if that is
// earlier, so that already-expired certificates can be made) until notAfter,
// is not a CA, and carries both ExtKeyUsageServerAuth and
// ExtKeyUsageClientAuth: it can serve, or be a client certificate whose own
// file is the server's client CA file. The key is ECDSA P-256. It shares its
// code with [DevCertificate].
func GenerateSelfSigned(hosts []string, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	tmpl, err := leafTemplate(hosts, time.Now(), notAfter, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, nil, err
	}
	return issue(tmpl, nil)
}

// leafTemplate describes an end-entity certificate for hosts, valid from
// backdate before now (or a day before notAfter) to notAfter.
func leafTemplate(hosts []string, now, notAfter time.Time, usage ...x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("certstore: no hosts for the certificate")
	}
	notBefore := now.Add(-backdate)
	if !notAfter.After(notBefore) {
		notBefore = notAfter.Add(-24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case h == "":
			return nil, errors.New("certstore: empty host name for the certificate")
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl, nil
}

// issue creates a new ECDSA P-256 key and a certificate for it from tmpl,
// signed by parent, or self-signed when parent is nil. The serial number is
// left to x509.CreateCertificate, which draws a random one.
func issue(tmpl *x509.Certificate, parent *tls.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certstore: generate key: %w", err)
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		s, ok := parent.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("certstore: issuer key %T cannot sign", parent.PrivateKey)
		}
		issuer, signer = parent.Leaf, s
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("certstore: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certstore: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeIssued issues a certificate from tmpl (see issue), writes the key
// (0600) and then the certificate (0644) and returns them parsed.
func writeIssued(tmpl *x509.Certificate, parent *tls.Certificate, certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, keyPEM, err := issue(tmpl, parent)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certstore: %s: %w", certFile, err)
	}
	return &cert, ensureLeaf(&cert)
}

// loadKeyPair is tls.LoadX509KeyPair with Leaf always set (GODEBUG
// x509keypairleaf=0 would leave it nil).
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &cert, ensureLeaf(&cert)
}

func ensureLeaf(c *tls.Certificate) error {
	if c.Leaf != nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	c.Leaf = leaf
	return err
}

// writeFileAtomic writes data to a temporary file in path's directory with
// mode perm and renames it over path, so that a reader (or a crash) never
// sees a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("certstore: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
			err = fmt.Errorf("certstore: write %s: %w", path, err)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
