package servers

import (
	"net"
	"net/netip"
	"time"

	"github.com/lxzan/gws"
)

// gwsHandler is gws's event handler: echo, and broadcast with its
// Broadcaster, which frames the message once for every connection.
type gwsHandler struct {
	gws.BuiltinEventHandler
	conns *registry[*gws.Conn]
}

func (h *gwsHandler) OnOpen(c *gws.Conn)           { h.conns.add(c) }
func (h *gwsHandler) OnClose(c *gws.Conn, _ error) { h.conns.remove(c) }
func (h *gwsHandler) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if p, ok := broadcastPayload(m.Opcode == gws.OpcodeText, m.Bytes()); ok {
		b := gws.NewBroadcaster(gws.OpcodeText, append([]byte(nil), p...))
		defer b.Close()
		for _, peer := range h.conns.snapshot() {
			_ = b.Broadcast(peer)
		}
		return
	}
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// gwsQuiet drops gws's per-connection error lines (every client that hangs
// up is one).
type gwsQuiet struct{}

func (gwsQuiet) Error(...any) {}

type gwsServer struct {
	ln    net.Listener
	conns *registry[*gws.Conn]
	stop  chan struct{}
}

func startGWS(o Options) (Server, error) {
	ln, err := listen(o.Addr, o.ReusePort)
	if err != nil {
		return nil, err
	}
	h := &gwsHandler{conns: newRegistry[*gws.Conn]()}
	s := &gwsServer{ln: ln, conns: h.conns, stop: make(chan struct{})}
	// Compression as gws configures it by default: no context takeover,
	// level 1, messages under 512 bytes sent uncompressed.
	srv := gws.NewServer(h, &gws.ServerOption{Logger: gwsQuiet{}, ReadMaxPayloadSize: 1 << 20,
		PermessageDeflate: gws.PermessageDeflate{Enabled: o.Compression}})
	l, err := o.wrapTLS(ln)
	if err != nil {
		return nil, err
	}
	heartbeat(s.conns, o.PingInterval, s.stop, func(c *gws.Conn) { _ = c.WritePing(nil) })
	go func() { _ = srv.RunListener(&stoppingListener{Listener: l, stop: s.stop}) }()
	return s, nil
}

// stoppingListener makes Accept block once the server is closed: gws's
// RunListener retries a failing Accept at once, forever.
type stoppingListener struct {
	net.Listener
	stop chan struct{}
}

func (l *stoppingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		select {
		case <-l.stop:
			select {} // never returns: the server is closed
		case <-time.After(5 * time.Millisecond): // as net/http backs off
		}
	}
	return c, err
}

func (s *gwsServer) Addr() netip.AddrPort { return addrPort(s.ln.Addr()) }
func (s *gwsServer) Conns() int           { return s.conns.len() }
func (s *gwsServer) Close() error {
	close(s.stop)
	return s.ln.Close()
}
