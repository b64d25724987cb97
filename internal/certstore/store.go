package certstore

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// Pair names a certificate and its private key, both PEM files. They may be
// the same file.
type Pair struct {
	// CertFile holds the leaf certificate, optionally followed by the
	// intermediate certificates to send with it, leaf first.
	CertFile string
	// KeyFile holds the leaf's private key (PKCS #8, PKCS #1 or SEC 1).
	KeyFile string
}

// Config names the files a [Store] serves. [Load] copies it; changing it
// afterwards has no effect.
type Config struct {
	// Pairs are the server certificates, at least one. A handshake gets the
	// first pair whose leaf covers the SNI name, or Pairs[0].
	Pairs []Pair
	// ClientCAFile, when set, names a PEM file of CA certificates: every
	// client must then present a certificate that chains to one of them
	// (tls.RequireAndVerifyClientCert; Workerman's verify_peer).
	ClientCAFile string
	// DisableSessionTickets turns TLS session resumption off. By default
	// the server issues session tickets, sealed with keys that exist only
	// in memory: a new key every 12 hours, each dropped 24 hours after it
	// was made, so a ticket opens at most a day after it was issued (Go's
	// own keys open one for seven days).
	DisableSessionTickets bool
	// Logger receives one Info line per successful load, warnings about
	// certificates that are not valid now and errors of failed reloads. Nil
	// discards them.
	Logger *slog.Logger
}

// Store holds the certificates currently served and swaps in new ones on
// [Store.Reload]. All its methods are safe for concurrent use.
type Store struct {
	pairs        []Pair
	clientCAFile string
	files        []string // every file read, once each, in reading order
	log          *slog.Logger
	base         *tls.Config // what TLSConfig returns
	tickets      *ticketKeys // rotates base's session ticket keys; nil with tickets off

	reloadMu sync.Mutex // serializes Reload so that it compares against the set it replaces
	cur      atomic.Pointer[snapshot]
}

// snapshot is one consistent set of loaded files. It is never modified once
// stored in Store.cur.
type snapshot struct {
	certs     []*tls.Certificate // one per Pair, Leaf set
	clientCAs *x509.CertPool     // nil without a ClientCAFile
	config    *tls.Config        // handed to every handshake that starts while this set is current
	sums      map[string][sha256.Size]byte
}

// Load reads the files cfg names and returns a Store serving them. The error
// names the file and what is wrong with it. A certificate that has expired or
// is not yet valid is loaded anyway and logged as a warning.
func Load(cfg Config) (*Store, error) {
	if len(cfg.Pairs) == 0 {
		return nil, errors.New("certstore: no certificate pairs configured")
	}
	s := &Store{
		pairs:        slices.Clone(cfg.Pairs),
		clientCAFile: cfg.ClientCAFile,
		log:          cfg.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range s.pairs {
		s.files = appendUnique(s.files, p.CertFile, p.KeyFile)
	}
	if s.clientCAFile != "" {
		s.files = appendUnique(s.files, s.clientCAFile)
	}
	s.base = s.newBaseConfig(cfg.DisableSessionTickets)
	if !cfg.DisableSessionTickets {
		s.tickets = &ticketKeys{cfg: s.base, now: time.Now}
		s.tickets.refresh()
	}

	snap, err := s.load()
	if err != nil {
		return nil, err
	}
	s.warnInvalid(snap, time.Now())
	s.cur.Store(snap)
	s.logLoaded(snap)
	return s, nil
}

// newBaseConfig builds the config TLSConfig returns. The version, cipher,
// ALPN, ticket and client-auth fields repeat what every per-handshake config
// says, so that a reader of the base config learns the policy from it.
//
// The policy is [tlsconn.HardenedConfig]'s: TLS 1.2 only with ECDHE and
// AES-GCM or ChaCha20-Poly1305 (Go's default list would add CBC suites,
// which scanners flag for LUCKY13), TLS 1.3 and its key exchanges as Go
// ships them. The session ticket keys are the base config's, set by
// s.tickets: crypto/tls takes them from the config that has
// GetConfigForClient, so sessions survive a reload.
func (s *Store) newBaseConfig(noTickets bool) *tls.Config {
	cfg := s.policy(noTickets)
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if s.tickets != nil {
			s.tickets.refresh()
		}
		return s.cur.Load().config, nil
	}
	if s.clientCAFile != "" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// policy returns a config with the versions, cipher suites, ALPN and ticket
// setting every config of s has.
func (s *Store) policy(noTickets bool) *tls.Config {
	cfg := tlsconn.HardenedConfig()
	cfg.NextProtos = []string{"http/1.1"}
	cfg.SessionTicketsDisabled = noTickets
	return cfg
}

// TLSConfig returns the server config to hand to tls.Server or
// tls.NewListener. Every call returns the same config; it must not be
// modified. It holds no certificates itself: GetConfigForClient gives each
// new handshake the set loaded last, so [Store.Reload] applies to new
// handshakes and leaves established connections alone.
//
// It allows TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 only, TLS
// 1.3 as Go ships it (see [tlsconn.HardenedConfig]), ALPN "http/1.1" only (a
// client offering ALPN without http/1.1 is refused, as crypto/tls does),
// session tickets unless [Config.DisableSessionTickets] (keys rotated as it
// says), and with a [Config.ClientCAFile] requires a client certificate
// verified against the current CAs. That includes resumed sessions: a session
// whose client certificate no longer chains to the current CAs is not
// resumed, and the client falls back to a full handshake.
func (s *Store) TLSConfig() *tls.Config { return s.base }

// Reload re-reads every file and, if all of them load, serves the new set to
// new handshakes. On any error the current set stays in service and the
// error is logged and returned. A reload is also refused when it would
// replace a certificate that is valid now with one that is not (expired or
// not yet valid). A successful reload logs one Info line describing each
// leaf.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	snap, err := s.load()
	now := time.Now()
	if err == nil {
		err = checkReplacement(s.pairs, s.cur.Load(), snap, now)
	}
	if err != nil {
		s.log.Error("certificate reload failed, serving the previous certificates", "err", err)
		return err
	}
	s.warnInvalid(snap, now)
	s.cur.Store(snap)
	s.logLoaded(snap)
	return nil
}

// load reads all files into a new snapshot without installing it.
func (s *Store) load() (*snapshot, error) {
	r := fileReader{sums: make(map[string][sha256.Size]byte, len(s.files))}
	snap := &snapshot{sums: r.sums}
	for _, p := range s.pairs {
		cert, err := loadPair(&r, p, s.log)
		if err != nil {
			return nil, err
		}
		snap.certs = append(snap.certs, cert)
	}
	if s.clientCAFile != "" {
		pool, err := loadPool(&r, s.clientCAFile)
		if err != nil {
			return nil, err
		}
		snap.clientCAs = pool
	}
	snap.config = s.snapshotConfig(snap)
	return snap, nil
}

// snapshotConfig builds the config one handshake gets while snap is current.
// It sets no session ticket keys, so crypto/tls seals tickets with the base
// config's rotated keys and sessions survive a reload.
func (s *Store) snapshotConfig(snap *snapshot) *tls.Config {
	cfg := s.policy(s.base.SessionTicketsDisabled)
	cfg.GetCertificate = snap.certificate
	if snap.clientCAs == nil {
		return cfg
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	// A resumed session skips client certificate verification, but
	// crypto/tls (since Go 1.26.0 and 1.25.7) resumes only sessions whose
	// verified chain still ends in this config's ClientCAs, so new CAs apply
	// to returning clients too; TestClientCAReloadAndResumption checks it.
	cfg.ClientCAs = snap.clientCAs
	return cfg
}

// certificate implements tls.Config.GetCertificate for snap: the first pair
// the client can use whose leaf covers the SNI name, else the first pair.
// SupportsCertificate matches names as Leaf.VerifyHostname does (case
// insensitive, "*." covering one label) and also checks that the client
// supports the key's signature algorithm, so an ECDSA and an RSA pair for
// the same name serve old and new clients alike.
func (snap *snapshot) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" {
		for _, c := range snap.certs {
			if hello.SupportsCertificate(c) == nil {
				return c, nil
			}
		}
	}
	return snap.certs[0], nil
}

// fileReader reads each file once per load, so that a path named twice (a
// combined cert and key file) is seen in one state, and records its hash for
// Watch.
type fileReader struct {
	sums  map[string][sha256.Size]byte
	cache map[string][]byte
}

func (r *fileReader) read(path string) ([]byte, error) {
	if b, ok := r.cache[path]; ok {
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if r.cache == nil {
		r.cache = make(map[string][]byte)
	}
	r.cache[path] = b
	r.sums[path] = sha256.Sum256(b)
	return b, nil
}

// loadPair reads and checks one pair. crypto/tls's own errors do not say
// which input they are about, so each file is checked on its own first.
func loadPair(r *fileReader, p Pair, log *slog.Logger) (*tls.Certificate, error) {
	certPEM, err := r.read(p.CertFile)
	if err != nil {
		return nil, fmt.Errorf("certstore: certificate: %w", err)
	}
	keyPEM, err := r.read(p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certstore: private key: %w", err)
	}
	chain, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certstore: certificate file %s: %w", p.CertFile, err)
	}
	if !hasPrivateKeyBlock(keyPEM) {
		return nil, fmt.Errorf("certstore: key file %s: no PEM block of type PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", p.KeyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certstore: key file %s with certificate file %s: %w", p.KeyFile, p.CertFile, err)
	}
	cert.Leaf = chain[0]
	for i := 1; i < len(chain); i++ {
		if !bytes.Equal(chain[i-1].RawIssuer, chain[i].RawSubject) {
			log.Warn("certificate chain out of order: each certificate should be followed by its issuer",
				"file", p.CertFile, "position", i, "subject", chain[i-1].Subject.String(),
				"issuer", chain[i-1].Issuer.String(), "next", chain[i].Subject.String())
			break
		}
	}
	return &cert, nil
}

// loadPool reads a PEM file of CA certificates. Unlike
// x509.CertPool.AppendCertsFromPEM it refuses a file with a broken block
// instead of skipping it.
func loadPool(r *fileReader, path string) (*x509.CertPool, error) {
	b, err := r.read(path)
	if err != nil {
		return nil, fmt.Errorf("certstore: client CA: %w", err)
	}
	certs, err := parseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("certstore: client CA file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates parses every CERTIFICATE block of a PEM file, ignoring
// other block types, and fails if there is none or one does not parse.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM block of type CERTIFICATE")
	}
	return certs, nil
}

func hasPrivateKeyBlock(data []byte) bool {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return true
		}
	}
}

// checkReplacement refuses a new set in which a leaf that is valid now would
// be replaced by one that is not: that is a broken file too (an old backup
// restored, a clock-skewed issuer), and the old certificate is better.
func checkReplacement(pairs []Pair, old, next *snapshot, now time.Time) error {
	for i, c := range next.certs {
		if validAt(c.Leaf, now) || !validAt(old.certs[i].Leaf, now) {
			continue
		}
		return fmt.Errorf("certstore: certificate file %s: valid only from %s to %s, would replace a certificate valid now",
			pairs[i].CertFile, c.Leaf.NotBefore.UTC().Format(time.RFC3339), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func validAt(c *x509.Certificate, t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

func (s *Store) warnInvalid(snap *snapshot, now time.Time) {
	for i, c := range snap.certs {
		switch {
		case now.After(c.Leaf.NotAfter):
			s.log.Warn("certificate expired; serving it anyway", "file", s.pairs[i].CertFile,
				"subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC())
		case now.Before(c.Leaf.NotBefore):
			s.log.Warn("certificate not yet valid; serving it anyway", "file", s.pairs[i].CertFile,
				"subject", c.Leaf.Subject.String(), "not_before", c.Leaf.NotBefore.UTC())
		}
	}
}

// logLoaded writes the one Info line of a successful load: a group per pair
// (cert0, cert1, ...) with the leaf's subject, names and expiry.
func (s *Store) logLoaded(snap *snapshot) {
	attrs := make([]any, 0, len(snap.certs)+1)
	for i, c := range snap.certs {
		attrs = append(attrs, slog.Group(fmt.Sprintf("cert%d", i),
			"file", s.pairs[i].CertFile,
			"subject", c.Leaf.Subject.String(),
			"sans", subjectAltNames(c.Leaf),
			"not_after", c.Leaf.NotAfter.UTC(),
		))
	}
	if s.clientCAFile != "" {
		attrs = append(attrs, "client_ca_file", s.clientCAFile)
	}
	s.log.Info("certificates loaded", attrs...)
}

func subjectAltNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return append(names, c.EmailAddresses...)
}

func appendUnique(list []string, names ...string) []string {
	for _, n := range names {
		if !slices.Contains(list, n) {
			list = append(list, n)
		}
	}
	return list
}
