package servers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// gnetEcho is the raw TCP ceiling: every byte read is written back, but
// for a broadcast command, which it sends to every connection the cheapest
// way an event-loop server can: the frame built once, one task per event
// loop, and each loop writing to its own connections.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	booted chan struct{}

	mu    sync.Mutex
	loops map[gnet.EventLoop]*echoLoop
}

// echoLoop holds one event loop's connections; only that loop touches
// conns.
type echoLoop struct {
	el    gnet.EventLoop
	conns map[gnet.Conn]struct{}
}

func (e *gnetEcho) loop(c gnet.Conn) *echoLoop {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.loops[c.EventLoop()]
	if l == nil {
		l = &echoLoop{el: c.EventLoop(), conns: map[gnet.Conn]struct{}{}}
		e.loops[c.EventLoop()] = l
	}
	return l
}

func (e *gnetEcho) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	e.loop(c).conns[c] = struct{}{}
	return nil, gnet.None
}

func (e *gnetEcho) OnClose(c gnet.Conn, _ error) gnet.Action {
	delete(e.loop(c).conns, c)
	return gnet.None
}

func (e *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	close(e.booted)
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	frames, rest := rawBroadcasts(buf)
	for _, f := range frames {
		e.broadcast(f)
	}
	if len(rest) > 0 {
		_, _ = c.Write(rest)
	}
	return gnet.None
}

// rawBroadcasts splits off the whole broadcast commands at the start of b
// (sent in quick succession, several may arrive in one read) and returns
// their frames and the rest, to be echoed.
func rawBroadcasts(b []byte) (frames [][]byte, rest []byte) {
	for len(b) >= 2 && b[1]&0x7f < 126 {
		n := 6 + int(b[1]&0x7f)
		if len(b) < n {
			break
		}
		frame, ok := rawBroadcast(b[:n])
		if !ok {
			break
		}
		frames = append(frames, frame)
		b = b[n:]
	}
	return frames, b
}

// broadcast hands frame to every event loop, to write to its connections.
func (e *gnetEcho) broadcast(frame []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.loops {
		_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			for peer := range l.conns {
				_, _ = peer.Write(frame)
			}
			return nil
		}))
	}
}

func rawBroadcast(b []byte) ([]byte, bool) {
	if len(b) < 6 || b[0] != 0x81 || b[1]&0x80 == 0 {
		return nil, false
	}
	n := int(b[1] & 0x7f)
	if n >= 126 || len(b) != 6+n || n < len(BroadcastPrefix) {
		return nil, false
	}
	key, payload := b[2:6], b[6:]
	for i := range len(BroadcastPrefix) { // echo traffic is not unmasked
		if payload[i]^key[i&3] != BroadcastPrefix[i] {
			return nil, false
		}
	}
	rest := payload[len(BroadcastPrefix):]
	for i := range rest {
		rest[i] ^= key[(len(BroadcastPrefix)+i)&3]
	}
	return append([]byte{0x81, byte(len(rest))}, rest...), true
}

type gnetEchoServer struct {
	e    *gnetEcho
	addr netip.AddrPort
}

func startGnetEcho(o Options) (Server, error) {
	// gnet does not report the port it bound, so a zero port is resolved
	// here first.
	addr := o.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Port() == 0 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	e := &gnetEcho{booted: make(chan struct{}), loops: map[gnet.EventLoop]*echoLoop{}}
	errc := make(chan error, 1)
	go func() {
		// The read buffer wssd's engine uses: a 64 KiB message in one read.
		errc <- gnet.Run(e, "tcp://"+addr, gnet.WithMulticore(true), gnet.WithReusePort(o.ReusePort),
			gnet.WithReadBufferCap(128<<10), gnet.WithLogger(gnetLogger{o.logger()}))
	}()
	select {
	case <-e.booted:
	case err := <-errc:
		return nil, err
	case <-time.After(10 * time.Second):
		return nil, context.DeadlineExceeded
	}
	ap, _ := netip.ParseAddrPort(addr)
	return &gnetEchoServer{e: e, addr: ap}, nil
}

func (s *gnetEchoServer) Addr() netip.AddrPort { return s.addr }
func (s *gnetEchoServer) Conns() int           { return s.e.eng.CountConnections() }
func (s *gnetEchoServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.e.eng.Stop(ctx)
}

// gnetLogger sends gnet's warnings and errors to the server's logger
// rather than to standard output.
type gnetLogger struct{ l *slog.Logger }

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
