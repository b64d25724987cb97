package certstore_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
)

// serve runs a TLS echo server with cfg on loopback until the test ends and
// returns its address. Cleanup closes the listener and every connection and
// waits for their goroutines.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	tln := tls.NewListener(ln, cfg)
	wg.Go(func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c) // the first Read runs the handshake
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// connect dials addr and echoes one message through the connection. A client
// certificate the server rejects fails the client's handshake in TLS 1.2 but
// only its first read in TLS 1.3; the echo surfaces both. The connection is
// closed when the test ends.
func connect(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echo(c); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func mustConnect(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := connect(t, addr, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

func echo(c *tls.Conn) error {
	msg := []byte("ping")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	}
	return nil
}

func peerLeaf(c *tls.Conn) *x509.Certificate { return c.ConnectionState().PeerCertificates[0] }

// served returns the certificate a handshake without SNI would get from st
// now, taking the same path crypto/tls takes.
func served(t *testing.T, st *certstore.Store) *tls.Certificate {
	t.Helper()
	hello := &tls.ClientHelloInfo{}
	cfg, err := st.TLSConfig().GetConfigForClient(hello)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cfg.GetCertificate(hello)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func sameSerial(a, b *x509.Certificate) bool { return a.SerialNumber.Cmp(b.SerialNumber) == 0 }
