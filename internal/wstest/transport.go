package wstest

import (
	"context"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
)

// Transport is a way to reach a server under test. Every behaviour is tested
// over each of them, as net/http's tests run over h1, https and h2. Its
// name is also the URL scheme.
type Transport struct {
	Name string
	// TLS makes the server speak TLS; clients trust internal/testpki.
	TLS bool
}

// Transports lists the transports: ws, and wss.
var Transports = []Transport{{Name: "ws"}, {Name: "wss", TLS: true}}

// ForEachTransport runs f as a subtest per transport.
func ForEachTransport(t *testing.T, f func(t *testing.T, tr Transport)) {
	t.Helper()
	for _, tr := range Transports {
		t.Run(tr.Name, func(t *testing.T) { f(t, tr) })
	}
}

// StartServer starts an engine.Server for h on a free loopback port, with
// testpki's certificate when tr is wss and cfg has no TLS of its own, and
// shuts it down when the test ends, failing the test if that takes longer
// than shutdown.
func StartServer(t testing.TB, tr Transport, cfg engine.Config, h engine.Handler, shutdown time.Duration) *engine.Server {
	t.Helper()
	return StartServerAt(t, tr, "127.0.0.1:0", cfg, h, shutdown)
}

// StartServerAt is StartServer listening on addr.
func StartServerAt(t testing.TB, tr Transport, addr string, cfg engine.Config, h engine.Handler, shutdown time.Duration) *engine.Server {
	t.Helper()
	return StartServerWith(t, tr, addr, cfg, h, shutdown, nil)
}

// StartServerWith is StartServerAt calling before, if not nil, with the
// server between engine.New and Start: for a handler that must know its
// server before connections arrive (push.Server.Bind).
func StartServerWith(t testing.TB, tr Transport, addr string, cfg engine.Config, h engine.Handler, shutdown time.Duration, before func(*engine.Server)) *engine.Server {
	t.Helper()
	if tr.TLS && cfg.TLS == nil {
		cfg.TLS = testpki.Get().ServerConfig()
	}
	srv, err := engine.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(srv)
	}
	if err := srv.Start(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdown)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}
