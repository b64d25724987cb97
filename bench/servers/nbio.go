package servers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

type nbioServer struct {
	engine *nbhttp.Engine
	conns  *registry[*websocket.Conn]
	stop   chan struct{}

	mu   sync.Mutex
	addr netip.AddrPort
}

// startNbio serves the way nbio's websocket examples do: nbhttp's engine
// with the non-blocking I/O mode, an Upgrader with OnMessage, and for wss
// nbio's own TLS (a fork of crypto/tls in lesismal/llib).
func startNbio(o Options) (Server, error) {
	// nbio logs through a process-wide logger, to standard output by
	// default; benchd's standard output is its report to the runner.
	logging.SetLogger(nbioLogger{o.logger()})
	s := &nbioServer{conns: newRegistry[*websocket.Conn](), stop: make(chan struct{})}
	up := websocket.NewUpgrader()
	up.OnOpen(s.conns.add)
	up.OnClose(func(c *websocket.Conn, _ error) { s.conns.remove(c) })
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		if p, ok := broadcastPayload(mt == websocket.TextMessage, data); ok {
			for _, peer := range s.conns.snapshot() {
				_ = peer.WriteMessage(websocket.TextMessage, p)
			}
			return
		}
		_ = c.WriteMessage(mt, data)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = up.Upgrade(w, r, nil)
	})
	conf := nbhttp.Config{
		Network:                      "tcp",
		Handler:                      mux,
		MaxWebsocketFramePayloadSize: 1 << 20,
		ReleaseWebsocketPayload:      true,
		Listen: func(network, addr string) (net.Listener, error) {
			ln, err := listen(addr, o.ReusePort)
			if err == nil {
				s.mu.Lock()
				s.addr = addrPort(ln.Addr())
				s.mu.Unlock()
			}
			return ln, err
		},
	}
	if o.TLS() {
		cert, err := ltls.X509KeyPair(o.CertPEM, o.KeyPEM)
		if err != nil {
			return nil, err
		}
		conf.AddrsTLS = []string{o.Addr}
		conf.TLSConfig = &ltls.Config{
			Certificates: []ltls.Certificate{cert},
			MinVersion:   ltls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		}
	} else {
		conf.Addrs = []string{o.Addr}
	}
	s.engine = nbhttp.NewEngine(conf)
	if err := s.engine.Start(); err != nil {
		return nil, err
	}
	heartbeat(s.conns, o.PingInterval, s.stop, func(c *websocket.Conn) {
		_ = c.WriteMessage(websocket.PingMessage, nil)
	})
	return s, nil
}

func (s *nbioServer) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}
func (s *nbioServer) Conns() int { return s.conns.len() }
func (s *nbioServer) Close() error {
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.engine.Shutdown(ctx)
}

// nbioLogger sends nbio's warnings and errors to the server's logger.
type nbioLogger struct{ l *slog.Logger }

func (nbioLogger) Debug(string, ...any) {}
func (nbioLogger) Info(string, ...any)  {}
func (g nbioLogger) Warn(format string, v ...any) {
	g.l.Warn("nbio: " + fmt.Sprintf(format, v...))
}
func (g nbioLogger) Error(format string, v ...any) {
	g.l.Error("nbio: " + fmt.Sprintf(format, v...))
}
