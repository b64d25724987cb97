package interop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// transport is a way to reach the server; every client test runs over each
// of them. Over wss the server has testpki's certificate, which the clients
// trust: Go clients through testpki's ClientConfig, the scripts and the
// other programs through its cert.pem (see caFile).
type transport = wstest.Transport

// forEachTransport runs f as a subtest per transport.
var forEachTransport = wstest.ForEachTransport

// closeMe is the text message that makes the echo server close the
// connection with closeByeCode and closeByeReason.
const (
	closeMe        = "close-me"
	closeByeCode   = wsproto.CloseNormal
	closeByeReason = "bye"
)

// echoServer is the handler every test talks to: it sends each message back
// with its opcode, closes on closeMe, and records, by request path, whether
// each connection came over TLS and how it ended as OnClose saw it.
type echoServer struct {
	engine.NopHandler

	mu         sync.Mutex
	tls        map[string]bool  // request path → whether TLSState was set
	compressed map[string]bool  // request path → whether permessage-deflate was negotiated
	closed     map[string]error // request path → OnClose's error
	change     chan struct{}    // closed and replaced whenever closed changes
}

func newEchoServer() *echoServer {
	return &echoServer{tls: map[string]bool{}, compressed: map[string]bool{}, closed: map[string]error{}, change: make(chan struct{})}
}

func (h *echoServer) OnHandshake(c *engine.Conn, r *engine.Handshake) error {
	c.SetValue(r.Path)
	h.mu.Lock()
	h.tls[r.Path] = c.TLSState() != nil
	h.mu.Unlock()
	return nil
}

func (h *echoServer) OnOpen(c *engine.Conn) {
	path, _ := c.Value().(string)
	h.mu.Lock()
	h.compressed[path] = c.Compressed()
	h.mu.Unlock()
}

func (h *echoServer) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if typ == engine.Text && string(data) == closeMe {
		_ = c.Close(closeByeCode, closeByeReason)
		return
	}
	_ = c.Send(typ, data)
}

func (h *echoServer) OnClose(c *engine.Conn, err error) {
	path, _ := c.Value().(string)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed[path] = err
	close(h.change)
	h.change = make(chan struct{})
}

// testServer is a started engine.Server with its echo handler.
type testServer struct {
	*engine.Server
	tr transport
	h  *echoServer
}

// startServer starts an echo server on a free loopback port and shuts it
// down when the test ends.
func startServer(t *testing.T, tr transport) *testServer {
	t.Helper()
	return startHandlerServer(t, tr, nil, newEchoServer())
}

// startHandlerServer is startServer with permessage-deflate configured by z
// (nil: off) and h, an echoServer or a handler built on one, as handler.
func startHandlerServer(t *testing.T, tr transport, z *engine.Compression, h echoHandler) *testServer {
	t.Helper()
	srv := startEngine(t, tr, engine.Config{
		EventLoops: 2,
		// Pings from the server would race the clients' own ping checks.
		PingInterval: -1,
		Compression:  z,
	}, h)
	return &testServer{Server: srv, tr: tr, h: h.echo()}
}

// echoHandler is an echoServer, or a handler that embeds one.
type echoHandler interface {
	engine.Handler
	echo() *echoServer
}

func (h *echoServer) echo() *echoServer { return h }

// startEngine starts a server with cfg and h on a free loopback port, over
// tr, and shuts it down when the test ends. Without a Logger in cfg, the
// server's warnings and errors go to the test log.
func startEngine(t *testing.T, tr transport, cfg engine.Config, h engine.Handler) *engine.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return wstest.StartServer(t, tr, cfg, h, 10*time.Second)
}

// clientTLS returns the TLS configuration of Go clients: it trusts the test
// certificate, and nothing else.
func clientTLS() *tls.Config {
	return testpki.Get().ClientConfig()
}

// caFile writes the test certificate and key into a directory of t's and
// returns the certificate's path: cert.pem, the CA file of the clients
// outside the process, since the certificate is self-signed.
func caFile(t *testing.T) string {
	t.Helper()
	certFile, _, err := testpki.Get().WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile
}

// url returns the server's URL for path over the server's transport.
func (s *testServer) url(path string) string {
	return s.tr.Name + "://" + s.Addr().String() + path
}

// closeErr waits until the connection to path is gone on the server and
// returns the error OnClose was given. It also checks that the connection
// came over the server's transport.
func (s *testServer) closeErr(t *testing.T, path string) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.h.mu.Lock()
		err, ok := s.h.closed[path]
		overTLS := s.h.tls[path]
		change := s.h.change
		s.h.mu.Unlock()
		if ok {
			if overTLS != s.tr.TLS {
				t.Errorf("server: the connection to %s had TLS state %v, want %v over %s", path, overTLS, s.tr.TLS, s.tr.Name)
			}
			return err
		}
		select {
		case <-change:
		case <-timeout:
			t.Fatalf("server: connection to %s not closed after 10 s", path)
		}
	}
}

// wantCompressed checks that the connection to path negotiated
// permessage-deflate as far as the server knows. Call it after closeErr.
func (s *testServer) wantCompressed(t *testing.T, path string) {
	t.Helper()
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if !s.h.compressed[path] {
		t.Errorf("server: the connection to %s did not negotiate permessage-deflate", path)
	}
}

// wantClosed checks that the server saw the connection to path end with a
// closing handshake of code and reason, whichever side began it.
func (s *testServer) wantClosed(t *testing.T, path string, code wsproto.CloseCode, reason string) {
	t.Helper()
	if err := checkCloseErr(s.closeErr(t, path), code, reason); err != nil {
		t.Errorf("server OnClose for %s: %v", path, err)
	}
}

// wantServerClosed checks how the server saw the end of a connection it
// closed itself with "close-me": OnClose's contract says with its own close
// code and reason.
func (s *testServer) wantServerClosed(t *testing.T, path string) {
	t.Helper()
	if err := checkCloseErr(s.closeErr(t, path), closeByeCode, closeByeReason); err != nil {
		t.Errorf("server OnClose for %s: %v", path, err)
	}
}

// checkCloseErr reports whether err is the *wsproto.CloseError of code and
// reason.
func checkCloseErr(err error, code wsproto.CloseCode, reason string) error {
	var ce *wsproto.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("got %v (%T), want a closing handshake with %v %q", err, err, code, reason)
	}
	if ce.Code != code || ce.Reason != reason {
		return fmt.Errorf("got %v %q, want %v %q", ce.Code, ce.Reason, code, reason)
	}
	return nil
}

// testWriter sends the server's warnings and errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", p)
	return len(p), nil
}
