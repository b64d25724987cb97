package servers

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

type tlsLoop struct {
	ln   net.Listener
	done atomic.Int64
}

// startTLSLoop is the handshake ceiling: accept, complete a crypto/tls
// server handshake on a goroutine, close.
func startTLSLoop(o Options) (Server, error) {
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	ln, err := listen(o.Addr, o.ReusePort)
	if err != nil {
		return nil, err
	}
	s := &tlsLoop{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, tc)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					s.done.Add(1)
				}
				_ = tc.Close()
			}()
		}
	}()
	return s, nil
}

func (s *tlsLoop) Addr() netip.AddrPort { return addrPort(s.ln.Addr()) }
func (s *tlsLoop) Conns() int           { return int(s.done.Load()) }
func (s *tlsLoop) Close() error         { return s.ln.Close() }
