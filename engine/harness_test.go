package engine_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
)

// transport is a way to reach the server; every engine behaviour is
// tested over each of them.
type transport = wstest.Transport

var transports = wstest.Transports

// forEachTransport runs f as a subtest per transport.
var forEachTransport = wstest.ForEachTransport

// testServer is a started engine.Server with what a test needs around it.
type testServer struct {
	*engine.Server
	t    testing.TB
	tr   transport
	addr string
	logs *logtest.Buffer
}

// startServer starts a server for h on a free loopback port and shuts it
// down when the test ends.
func startServer(t testing.TB, tr transport, cfg engine.Config, h engine.Handler) *testServer {
	t.Helper()
	return startServerAt(t, tr, "127.0.0.1:0", cfg, h)
}

// startServerAt is startServer listening on addr.
func startServerAt(t testing.TB, tr transport, addr string, cfg engine.Config, h engine.Handler) *testServer {
	t.Helper()
	logs := &logtest.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.EventLoops == 0 {
		cfg.EventLoops = 2
	}
	srv := wstest.StartServerAt(t, tr, addr, cfg, h, 5*time.Second)
	return &testServer{Server: srv, t: t, tr: tr, addr: srv.Addr().String(), logs: logs}
}

// dial opens a WebSocket connection to the server, failing t if the
// handshake does not succeed, and closes it when t ends.
func (s *testServer) dial(t *testing.T, o wstest.DialOptions) *wstest.Client {
	t.Helper()
	c, err := s.tryDial(t, o)
	if err != nil {
		t.Fatalf("dial %s: %v", s.tr.Name, err)
	}
	return c
}

// tryDial is dial that returns the handshake's error instead.
func (s *testServer) tryDial(t *testing.T, o wstest.DialOptions) (*wstest.Client, error) {
	if s.tr.TLS && o.TLS == nil {
		o.TLS = testpki.Get().ClientConfig()
	}
	c, err := wstest.Dial(s.addr, o)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// rawDial opens a transport connection (TCP, and TLS for wss) on which the
// test writes what it likes, handshake included; it is closed when t ends.
func (s *testServer) rawDial(t *testing.T) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	var conn net.Conn
	var err error
	if s.tr.TLS {
		conn, err = tls.DialWithDialer(&d, "tcp", s.addr, testpki.Get().ClientConfig())
	} else {
		conn, err = d.Dial("tcp", s.addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", s.tr.Name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitLog waits until the server's log holds a line containing all of parts.
func (s *testServer) waitLog(parts ...string) string {
	s.t.Helper()
	return s.waitLogN(1, parts...)
}

// waitLogN waits for the nth log line (from 1) that contains all of parts
// and returns it.
func (s *testServer) waitLogN(n int, parts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		seen := 0
		for line := range strings.SplitSeq(s.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				if seen++; seen == n {
					return line
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("no log line #%d with %q in:\n%s", n, parts, s.logs.String())
	return ""
}

// echo sends every message back; it is the server most tests talk to.
type echo struct{ engine.NopHandler }

func (echo) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	_ = c.Send(typ, data)
}
