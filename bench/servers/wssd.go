package servers

import (
	"context"
	"net/netip"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/memtrim"
)

// wssdHandler echoes on the event loop and broadcasts with Conn.Send, which
// is safe from any goroutine; a server that compresses broadcasts a prepared
// message instead (Server.Prepare, compressed once, and Server.Broadcast).
type wssdHandler struct {
	engine.NopHandler
	conns *registry[*engine.Conn]
	srv   *engine.Server // when it compresses; set before it starts
}

func (h *wssdHandler) OnOpen(c *engine.Conn)           { h.conns.add(c) }
func (h *wssdHandler) OnClose(c *engine.Conn, _ error) { h.conns.remove(c) }
func (h *wssdHandler) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if p, ok := broadcastPayload(typ == engine.Text, data); ok {
		if h.srv != nil {
			if pm, err := h.srv.Prepare(engine.Text, p); err == nil {
				_ = h.srv.Broadcast(pm, h.conns.snapshot())
			}
			return
		}
		for _, peer := range h.conns.snapshot() {
			_ = peer.Send(engine.Text, p)
		}
		return
	}
	_ = c.Send(typ, data)
}

type wssdServer struct {
	srv   *engine.Server
	conns *registry[*engine.Conn]
	// stopTrim ends the memory trimmer the wssd binary runs (package
	// memtrim), which runs here too; trimmed closes when it has.
	stopTrim context.CancelFunc
	trimmed  chan struct{}
}

func startWSSD(o Options) (Server, error) {
	cfg := engine.Config{
		Logger:         o.logger(),
		ReusePort:      o.ReusePort,
		PingInterval:   o.PingInterval,
		MaxMessageSize: 1 << 20,
	}
	if o.Compression {
		cfg.Compression = &engine.Compression{} // the default policy
	}
	if o.PingInterval <= 0 {
		cfg.PingInterval = -1
	}
	if o.TLS() {
		tc, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	h := &wssdHandler{conns: newRegistry[*engine.Conn]()}
	srv, err := engine.New(cfg, h)
	if err != nil {
		return nil, err
	}
	if o.Compression {
		h.srv = srv
	}
	if err := srv.Start(o.Addr); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &wssdServer{srv: srv, conns: h.conns, stopTrim: stop, trimmed: make(chan struct{})}
	go func() {
		defer close(s.trimmed)
		memtrim.Run(ctx, o.logger())
	}()
	return s, nil
}

func (s *wssdServer) Addr() netip.AddrPort { return s.srv.Addr() }
func (s *wssdServer) Conns() int           { return s.conns.len() }
func (s *wssdServer) Close() error {
	s.stopTrim()
	<-s.trimmed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err == context.DeadlineExceeded {
		return nil // connections still closing; the process exits anyway
	}
	return err
}
