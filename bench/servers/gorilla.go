package servers

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gorillaConn serializes writes: gorilla allows one concurrent writer, and
// broadcasts come from other connections' goroutines.
type gorillaConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

type gorillaServer struct {
	ln    net.Listener
	srv   *http.Server
	conns *registry[*gorillaConn]
	stop  chan struct{}
}

func startGorilla(o Options) (Server, error) {
	ln, err := listen(o.Addr, o.ReusePort)
	if err != nil {
		return nil, err
	}
	s := &gorillaServer{ln: ln, conns: newRegistry[*gorillaConn](), stop: make(chan struct{})}
	// the http.Server's 4 KiB buffers, origin checked; compression without
	// context takeover at level 1, gorilla's only mode and its default
	up := websocket.Upgrader{EnableCompression: o.Compression}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &gorillaConn{ws: ws}
		s.conns.add(c)
		defer func() { s.conns.remove(c); ws.Close() }()
		for {
			mt, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if p, ok := broadcastPayload(mt == websocket.TextMessage, msg); ok {
				pm, err := websocket.NewPreparedMessage(websocket.TextMessage, p)
				if err != nil {
					return
				}
				for _, peer := range s.conns.snapshot() {
					peer.mu.Lock()
					_ = peer.ws.WritePreparedMessage(pm)
					peer.mu.Unlock()
				}
				continue
			}
			c.mu.Lock()
			err = ws.WriteMessage(mt, msg)
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	})}
	heartbeat(s.conns, o.PingInterval, s.stop, func(c *gorillaConn) {
		_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
	})
	l, err := o.wrapTLS(ln)
	if err != nil {
		return nil, err
	}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *gorillaServer) Addr() netip.AddrPort { return addrPort(s.ln.Addr()) }
func (s *gorillaServer) Conns() int           { return s.conns.len() }
func (s *gorillaServer) Close() error {
	close(s.stop)
	return s.srv.Close()
}
