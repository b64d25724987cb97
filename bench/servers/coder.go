package servers

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/coder/websocket"
)

type coderServer struct {
	ln    net.Listener
	srv   *http.Server
	conns *registry[*websocket.Conn]
}

// startCoder serves the way coder/websocket's echo example does: Accept in
// a net/http handler, then Read and Write on the handler's goroutine. coder
// has no server-side heartbeat, and its Ping waits for the pong, so with
// pings on each connection gets a second goroutine that pings on a ticker.
func startCoder(o Options) (Server, error) {
	ln, err := listen(o.Addr, o.ReusePort)
	if err != nil {
		return nil, err
	}
	s := &coderServer{ln: ln, conns: newRegistry[*websocket.Conn]()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		s.conns.add(c)
		defer s.conns.remove(c)
		if o.PingInterval > 0 {
			go func() {
				t := time.NewTicker(o.PingInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
						err := c.Ping(pctx)
						pcancel()
						if err != nil && ctx.Err() == nil {
							c.CloseNow()
							return
						}
					}
				}
			}()
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if p, ok := broadcastPayload(typ == websocket.MessageText, msg); ok {
				for _, peer := range s.conns.snapshot() {
					_ = peer.Write(ctx, websocket.MessageText, p)
				}
				continue
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})}
	l, err := o.wrapTLS(ln)
	if err != nil {
		return nil, err
	}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *coderServer) Addr() netip.AddrPort { return addrPort(s.ln.Addr()) }
func (s *coderServer) Conns() int           { return s.conns.len() }
func (s *coderServer) Close() error         { return s.srv.Close() }
