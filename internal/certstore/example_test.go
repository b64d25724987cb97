package certstore_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// ExampleLoad serves a certificate from files and connects to it.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "certstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certPEM, keyPEM, err := certstore.GenerateSelfSigned([]string{"example.test"}, time.Now().Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	pair := certstore.Pair{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(pair.CertFile, certPEM, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(pair.KeyFile, keyPEM, 0o600); err != nil {
		log.Fatal(err)
	}

	store, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{pair}})
	if err != nil {
		log.Fatal(err)
	}
	// The server gets the config once; store.Reload and store.Watch keep
	// what it serves current.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", store.TLSConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		served <- err
	}()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		ServerName: "example.test",
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cs := c.ConnectionState()
	fmt.Println(cs.PeerCertificates[0].DNSNames, cs.NegotiatedProtocol)
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	// Output: [example.test] http/1.1
}
