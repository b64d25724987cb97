package servers

import (
	"context"
	"net/netip"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/memtrim"
	"github.com/wssd/wssd/push"
)

// The one app of the push server: clients connect to /app/PushAppKey, the
// back end triggers as PushAppID, signed with PushAppSecret.
const (
	PushAppID     = "bench"
	PushAppKey    = "bench-key"
	PushAppSecret = "bench-secret"
)

// PushCredentials returns the push server's app credentials, which sign
// HTTP API requests.
func PushCredentials() push.Credentials {
	return push.Credentials{ID: PushAppID, Key: PushAppKey, Secret: PushAppSecret}
}

// Triggerer is a server that publishes events itself, through its Go API:
// benchd serves it as POST /trigger on its stats port, so that a client
// can trigger where the server has no HTTP API of its own.
type Triggerer interface {
	// Trigger sends the event with data to the channels' subscribers. It
	// may be called from any goroutine.
	Trigger(channels []string, event, data string) error
}

// pushServer is package push over the engine, as the wssd binary's push
// mode runs it: one app, the Pusher HTTP API on the WebSocket's port
// (engine.Config.HTTPHandler), fan-outs through engine.Server.Prepare and
// Broadcast (Server.Bind), the memory trimmer. It also triggers through
// its Go API (Triggerer), for comparison.
type pushServer struct {
	es       *engine.Server
	ps       *push.Server
	stopTrim context.CancelFunc
	trimmed  chan struct{}
}

func startPush(o Options) (Server, error) {
	apps, err := push.NewApps(push.App{ID: PushAppID, Key: PushAppKey, Secret: PushAppSecret})
	if err != nil {
		return nil, err
	}
	ps, err := push.New(push.Config{Apps: apps, Logger: o.logger()})
	if err != nil {
		return nil, err
	}
	cfg := engine.Config{
		Logger:         o.logger(),
		ReusePort:      o.ReusePort,
		PingInterval:   o.PingInterval,
		MaxMessageSize: 1 << 20,
		HTTPHandler:    ps.API(push.APIConfig{Logger: o.logger()}),
	}
	if o.PingInterval <= 0 {
		cfg.PingInterval = -1
	}
	if o.TLS() {
		if cfg.TLS, err = o.tlsConfig(); err != nil {
			return nil, err
		}
	}
	es, err := engine.New(cfg, ps)
	if err != nil {
		return nil, err
	}
	ps.Bind(es)
	if err := es.Start(o.Addr); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &pushServer{es: es, ps: ps, stopTrim: stop, trimmed: make(chan struct{})}
	go func() {
		defer close(s.trimmed)
		memtrim.Run(ctx, o.logger())
	}()
	return s, nil
}

func (s *pushServer) Addr() netip.AddrPort { return s.es.Addr() }
func (s *pushServer) Conns() int           { return len(s.ps.State().Sockets()) }

func (s *pushServer) Trigger(channels []string, event, data string) error {
	return s.ps.Trigger(PushAppID, channels, event, data, "")
}

func (s *pushServer) Close() error {
	s.stopTrim()
	<-s.trimmed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.es.Shutdown(ctx); err != context.DeadlineExceeded {
		return err
	}
	return nil // connections still closing; the process exits anyway
}
