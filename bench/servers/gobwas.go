package servers

import (
	"net"
	"net/netip"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// gobwasConn serializes writes: a frame is written as a header and a
// payload, and broadcasts come from other connections' goroutines.
type gobwasConn struct {
	mu   sync.Mutex
	conn net.Conn
}

func (c *gobwasConn) write(frame []byte) {
	c.mu.Lock()
	_, _ = c.conn.Write(frame)
	c.mu.Unlock()
}

type gobwasServer struct {
	ln    net.Listener
	conns *registry[*gobwasConn]
	stop  chan struct{}
}

// startGobwas serves the way gobwas/ws's README does for the simple case: a
// goroutine per connection with ws.Upgrade and the wsutil helpers.
func startGobwas(o Options) (Server, error) {
	ln, err := listen(o.Addr, o.ReusePort)
	if err != nil {
		return nil, err
	}
	s := &gobwasServer{ln: ln, conns: newRegistry[*gobwasConn](), stop: make(chan struct{})}
	l, err := o.wrapTLS(ln)
	if err != nil {
		return nil, err
	}
	heartbeat(s.conns, o.PingInterval, s.stop, func(c *gobwasConn) { c.write(ws.CompiledPing) })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s, nil
}

func (s *gobwasServer) serve(conn net.Conn) {
	defer conn.Close()
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	c := &gobwasConn{conn: conn}
	s.conns.add(c)
	defer s.conns.remove(c)
	for {
		msg, op, err := wsutil.ReadClientData(conn)
		if err != nil {
			return
		}
		if p, ok := broadcastPayload(op == ws.OpText, msg); ok {
			frame := ws.MustCompileFrame(ws.NewTextFrame(p))
			for _, peer := range s.conns.snapshot() {
				peer.write(frame)
			}
			continue
		}
		c.mu.Lock()
		err = wsutil.WriteServerMessage(conn, op, msg)
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *gobwasServer) Addr() netip.AddrPort { return addrPort(s.ln.Addr()) }
func (s *gobwasServer) Conns() int           { return s.conns.len() }
func (s *gobwasServer) Close() error {
	close(s.stop)
	return s.ln.Close()
}
