package servers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// gnetEcho is the raw TCP echo ceiling: every byte read is written back.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	booted chan struct{}
}

func (e *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	close(e.booted)
	return gnet.None
}

func (e *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
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
	e := &gnetEcho{booted: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		errc <- gnet.Run(e, "tcp://"+addr, gnet.WithMulticore(true), gnet.WithReusePort(o.ReusePort),
			gnet.WithLogger(gnetLogger{o.logger()}))
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
