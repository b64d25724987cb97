package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wssd/wssd/tlsconn"
	"github.com/wssd/wssd/wsproto"
)

// Server is a WebSocket server on a gnet event loop.
type Server struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	trusted realIP
	origins originPolicy
	// refusals logs refused connections, rate-limited.
	refusals *refusalLog
	// handshaker bounds TLS handshakes; nil without TLS.
	handshaker *tlsconn.Handshaker

	eng       gnet.Engine
	addr      netip.AddrPort
	loops     sync.Map // gnet.EventLoop → *loop
	conns     atomic.Int64
	open      atomic.Int64 // upgraded connections not yet closed
	draining  atomic.Bool
	drained   chan struct{} // closed when draining and no connection is left
	drainOnce sync.Once
	started   atomic.Bool

	// resurrections counts engine bugs caught at run time: moves out of
	// stateClosed and socket calls on a closed connection. Tests check it
	// stays zero.
	resurrections  atomic.Int64
	firstViolation atomic.Value // string: the stack of the first
	// faults injects socket failures in tests; nil otherwise.
	faults atomic.Pointer[faults]

	up       chan struct{} // closed once every listener accepts
	upOnce   sync.Once
	done     chan struct{} // closed when the gnet engine has stopped
	err      error         // why it stopped; read after done
	stopOnce sync.Once
}

// readBufferCap is the size of each event loop's read buffer: the most one
// read of a socket returns. gnet's default, 64 KiB, is just short of a
// 64 KiB message with its frame header (and TLS record overhead), so such a
// message took two reads, two trips through the event loop and a copy of
// its first part into the connection's input buffer. One buffer per loop,
// not per connection.
const readBufferCap = 128 << 10

// New returns a server that will hand its connections to h.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("engine: nil Handler")
	}
	if cfg.TLSAutodetect && cfg.TLS != nil &&
		(cfg.TLS.ClientAuth == tls.RequireAnyClientCert || cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert) {
		return nil, fmt.Errorf("engine: TLSAutodetect with TLS.ClientAuth %v: a plain ws client would skip the required client certificate", cfg.TLS.ClientAuth)
	}
	cfg = cfg.withDefaults()
	trusted, err := newRealIP(cfg)
	if err != nil {
		return nil, err
	}
	origins, err := newOriginPolicy(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	var hs *tlsconn.Handshaker
	if cfg.TLS != nil {
		hs = tlsconn.NewHandshaker(tlsconn.HandshakerConfig{
			MaxConcurrent: cfg.MaxConcurrentHandshakes,
			MaxPerIP:      cfg.MaxHandshakesPerIP,
			Timeout:       cfg.HandshakeTimeout,
		})
	}
	return &Server{
		handshaker: hs,
		cfg:        cfg,
		h:          h,
		log:        cfg.Logger,
		refusals:   newRefusalLog(cfg.Logger),
		trusted:    trusted,
		origins:    origins,
		drained:    make(chan struct{}),
		up:         make(chan struct{}),
		done:       make(chan struct{}),
	}, nil
}

// Start listens on addr ("host:port"; port 0 picks a free one) and serves in
// the background. It returns once the server accepts connections, or with
// the reason it cannot.
func (s *Server) Start(addr string) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("engine: server already started")
	}
	res, err := reservePort(addr, s.cfg.ReusePort)
	if err != nil {
		return fmt.Errorf("engine: listen %s: %w", addr, err)
	}
	s.addr = res.addr
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.EventLoops),
		// One listener per loop, each accepting one connection per event:
		// a burst can never outrun MaxConns (see Config.MaxConns).
		gnet.WithReusePort(true),
		gnet.WithReuseAddr(true),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReadBufferCap(readBufferCap),
		gnet.WithLogger(gnetLogger{s.log}),
	}
	go func() {
		err := gnet.Run((*events)(s), "tcp://"+s.addr.String(), opts...)
		if s.handshaker != nil {
			s.handshaker.Close() // without waiting: Shutdown waits, as long as its ctx allows
		}
		s.err = err
		close(s.done)
	}()
	select {
	case <-s.up:
		res.release()
		return nil
	case <-s.done:
		res.release()
		if s.err == nil {
			s.err = ErrServerClosed
		}
		return fmt.Errorf("engine: listen %s: %w", addr, s.err)
	}
}

// Addr returns the address the server listens on, once Start has returned.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Wait blocks until the server has stopped and returns why: nil after
// Shutdown, or the error that stopped the event loops.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Shutdown stops accepting connections, sends a close frame with 1001
// (going away) to every open connection, waits until they are closed or ctx
// is done, then stops the event loops, dropping what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	s.draining.Store(true)
	s.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		_ = l.el.Execute(ctx, (*drainTask)(l))
		return true
	})
	s.checkDrained() // a server that never had a connection has no loop to ask
	var err error
	select {
	case <-s.drained:
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
	}
	s.stop()
	<-s.done
	if s.handshaker != nil && err == nil {
		err = s.handshaker.Wait(ctx) // a goroutine blocked in a tls.Config callback ends when it returns
	}
	return err
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.up:
		case <-s.done:
			return
		}
		// gnet's Stop polls for the engine's end every half second; the
		// engine's own exit closes s.done sooner, so callers wait on that.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.eng.Stop(ctx); err != nil {
				s.log.Error("stopping event loops", "err", err)
			}
		}()
	})
}

// drainTask starts the closing handshake of every connection of a loop and
// drops those not upgraded yet.
type drainTask loop

func (t *drainTask) Run(context.Context) error {
	l := (*loop)(t)
	for i := len(l.conns) - 1; i >= 0; i-- {
		if i >= len(l.conns) {
			continue
		}
		c := l.conns[i]
		c.enter()
		switch c.state {
		case stateOpen:
			c.closeErr = ErrServerClosed
			_ = c.queueClose(wsproto.CloseGoingAway, "server shutting down")
		case stateUpgrading:
			c.closeNow()
		}
		c.exit()
	}
	l.srv.checkDrained()
	return nil
}

// checkDrained ends Shutdown's wait once no connection is left. Every loop
// calls it, concurrently.
func (s *Server) checkDrained() {
	if s.draining.Load() && s.conns.Load() == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// opened logs an upgraded connection and tells the handler.
func (s *Server) opened(c *Conn) {
	s.open.Add(1)
	s.log.Info("ws open", "client_ip", c.clientIP, "client_ip_source", c.ipSource.String(), "peer", c.remote, "path", c.path)
	s.h.OnOpen(c)
}

// closed logs a connection's end and tells the handler, if it was upgraded.
func (s *Server) closed(c *Conn, err error) {
	if c.opened == 0 {
		return
	}
	s.open.Add(-1)
	if c.closeErr != nil {
		err = c.closeErr
	} else if err == nil {
		err = net.ErrClosed
	}
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		s.log.Info("ws close", "client_ip", c.clientIP, "path", c.path,
			"code", uint16(closeCode(err)), "duration", time.Duration(time.Now().UnixNano()-c.opened).Round(time.Millisecond).String(),
			"bytes_in", c.bytesIn, "bytes_out", c.bytesOut, "reason", err.Error())
	}
	s.h.OnClose(c, err)
}

// closeCode is the close code a connection ended with, for the access log.
func closeCode(err error) wsproto.CloseCode {
	var ce *wsproto.CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, ErrServerClosed), errors.Is(err, ErrIdleTimeout):
		return wsproto.CloseGoingAway
	case wsproto.CloseCodeOf(err) != wsproto.CloseInternalError:
		return wsproto.CloseCodeOf(err)
	}
	return wsproto.CloseAbnormal
}

// events is the Server as gnet sees it.
type events Server

func (e *events) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	return gnet.None
}

func (e *events) OnShutdown(gnet.Engine) {}

// OnTick first runs once every loop and listener is up; then it schedules
// each loop's timer sweep.
func (e *events) OnTick() (time.Duration, gnet.Action) {
	s := (*Server)(e)
	s.upOnce.Do(func() { close(s.up) })
	s.refusals.flush(time.Now())
	s.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		_ = l.el.Execute(context.Background(), (*sweepTask)(l))
		return true
	})
	return s.cfg.tick(), gnet.None
}

func (e *events) loopOf(gc gnet.Conn) *loop {
	el := gc.EventLoop()
	if v, ok := e.loops.Load(el); ok {
		return v.(*loop)
	}
	l := &loop{el: el, srv: (*Server)(e), now: time.Now().UnixNano()}
	v, _ := e.loops.LoadOrStore(el, l)
	return v.(*loop)
}

func (e *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := (*Server)(e)
	if s.draining.Load() {
		return nil, gnet.Close
	}
	if s.conns.Add(1) > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		s.log.Warn("connection refused: MaxConns reached", "max_conns", s.cfg.MaxConns)
		return nil, gnet.Close
	}
	l := e.loopOf(gc)
	c := &Conn{srv: s, gc: gc, loop: l, remote: addrPortOf(gc.RemoteAddr())}
	c.clientIP = c.remote.Addr()
	c.parser.MaxMessageSize = s.cfg.MaxMessageSize
	c.deadline = l.now + int64(s.cfg.HandshakeTimeout)
	if s.cfg.TLS != nil {
		c.startTLS()
	}
	c.awaitProxy = s.cfg.ProxyProtocol
	gc.SetContext(c)
	l.add(c)
	return nil, gnet.None
}

func (e *events) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok || !c.alive() {
		return gnet.Close
	}
	data, _ := gc.Next(-1)
	if f := e.faults.Load(); f != nil && c.opened != 0 {
		if err := f.fail(opRead); err != nil {
			c.injected = os.NewSyscallError("read", err)
			return gnet.Close // what gnet does when a read fails
		}
	}
	if c.opened != 0 {
		c.bytesIn += int64(len(data))
	}
	c.pingOut = false // any bytes answer a ping
	c.enter()
	c.receiveWire(data)
	c.exit()
	return gnet.None
}

// OnClose is called by gnet once per connection, when its socket is gone:
// closed by the engine, or by gnet after a failed read or write, possibly
// in the middle of engine code working on the connection.
func (e *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, ok := gc.Context().(*Conn); ok {
		c.markClosed(err)
	}
	return gnet.None
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
