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
	"golang.org/x/sys/unix"

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
	// http runs Config.HTTPHandler (http.go).
	http httpServing
	// handshaker bounds TLS handshakes; nil without TLS.
	handshaker *tlsconn.Handshaker

	cli       *gnet.Client
	addr      netip.AddrPort
	loops     sync.Map     // gnet.EventLoop → *loop
	conns     atomic.Int64 // admitted connections not yet closed (see admission)
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

	// counts are the counters Stats reads that are not per loop.
	counts serverCounts

	lns         []*net.TCPListener
	adm         admission
	acceptors   sync.WaitGroup
	handoff     chan handoff // from the acceptors to the enrollLoops
	enrollers   sync.WaitGroup
	closing     context.Context // done once the acceptors are to stop
	stopAccept  context.CancelFunc
	spare       int // descriptor refuseOne gives up; -1 if none
	spareMu     sync.Mutex
	done        chan struct{} // closed when the event loops have stopped
	err         error         // why they stopped; read after done
	stopOnce    sync.Once
	stopAccOnce sync.Once
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
	if cfg.Compression != nil {
		if err := cfg.Compression.check(); err != nil {
			return nil, err
		}
	}
	for _, code := range []wsproto.CloseCode{cfg.PongTimeoutCode, cfg.IdleTimeoutCode} {
		if code != 0 && !code.ValidOnWire() {
			return nil, fmt.Errorf("engine: close code %d may not be sent", code)
		}
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
	s := &Server{
		handshaker: hs,
		cfg:        cfg,
		h:          h,
		log:        cfg.Logger,
		refusals:   newRefusalLog(cfg.Logger),
		trusted:    trusted,
		origins:    origins,
		drained:    make(chan struct{}),
		done:       make(chan struct{}),
		spare:      -1,
	}
	s.closing, s.stopAccept = context.WithCancel(context.Background())
	s.http.init(&s.cfg)
	if cfg.faults != nil {
		s.faults.Store(cfg.faults)
	}
	return s, nil
}

// Start listens on addr ("host:port"; port 0 picks a free one; ":port" is
// every IPv4 and IPv6 address) and serves in the background. It returns
// once the server accepts connections, or with the reason it cannot, such
// as an address in use (see Config.ReusePort).
func (s *Server) Start(addr string) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("engine: server already started")
	}
	ln, err := listen(addr, s.cfg.ReusePort)
	if err != nil {
		return s.startFailed(fmt.Errorf("engine: listen %s: %w", addr, err))
	}
	s.lns = []*net.TCPListener{ln}
	s.addr = addrPortOf(ln.Addr())
	s.spare = openSpare()
	if s.cfg.MaxConns <= 0 {
		s.cfg.MaxConns = s.defaultMaxConns()
	}
	s.adm.init(s)
	s.cli, err = gnet.NewClient((*events)(s),
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.EventLoops),
		gnet.WithTicker(true),
		// TCP_NODELAY is set already: Go sets it on every accepted socket.
		gnet.WithReadBufferCap(readBufferCap),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err == nil {
		err = s.cli.Start()
	}
	if err != nil {
		s.closeListeners()
		return s.startFailed(fmt.Errorf("engine: start event loops: %w", err))
	}
	s.handoff = make(chan handoff)
	for range s.cfg.EventLoops {
		s.enrollers.Add(1)
		go s.enrollLoop()
	}
	for _, ln := range s.lns {
		s.acceptors.Add(1)
		go s.acceptLoop(ln)
	}
	return nil
}

// startFailed makes Wait return err, and Shutdown a no-op.
func (s *Server) startFailed(err error) error {
	s.stopOnce.Do(func() {
		s.err = err
		close(s.done)
	})
	return err
}

// defaultMaxConns leaves out of the open-file limit the descriptors open
// now (listener and spare included), two per event loop (its poller and its
// wake-up), and fdReserve: see Config.MaxConns.
func (s *Server) defaultMaxConns() int {
	limit := fileLimit()
	if limit == 0 {
		return 1 << 30
	}
	open, err := openFiles()
	if err != nil {
		open = 0
	}
	return max(limit-open-2*s.cfg.EventLoops-fdReserve, 1)
}

// Addr returns the address the server listens on, once Start has returned.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// EventLoops returns the number of event loops the server runs: the
// Config's, or its default. Safe for concurrent use.
func (s *Server) EventLoops() int { return s.cfg.EventLoops }

// Wait blocks until the server has stopped and returns why: nil after
// Shutdown, or the error that stopped it (a listener that failed). A server
// never stops by itself for lack of file descriptors or memory: it refuses
// connections until it has them again.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Shutdown stops accepting connections, sends a close frame with 1001
// (going away) to every open connection, waits until they are closed or ctx
// is done, then stops the event loops, dropping what is left. Kept-alive
// HTTP connections (Config.HTTPHandler) are closed at once, those with a
// response in the making once it is written; handlers still running when
// the wait ends have their request's context cancelled, and Shutdown waits
// for them as long as ctx allows.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	s.draining.Store(true)
	s.stopAccepting()
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
	s.stop(nil)
	if herr := s.http.wait(ctx); err == nil {
		err = herr // HTTP handlers still running, their contexts cancelled
	}
	if s.handshaker != nil && err == nil {
		err = s.handshaker.Wait(ctx) // a goroutine blocked in a tls.Config callback ends when it returns
	}
	return err
}

// stopAccepting closes the listeners and waits for the acceptors and the
// hand-overs under way, so that no connection reaches a loop afterwards.
func (s *Server) stopAccepting() {
	s.stopAccOnce.Do(func() {
		s.stopAccept()
		s.closeListeners()
		s.acceptors.Wait()
		if s.handoff != nil {
			close(s.handoff)
		}
	})
	s.acceptors.Wait()
	s.enrollers.Wait()
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	s.spareMu.Lock()
	if s.spare >= 0 {
		_ = unix.Close(s.spare)
		s.spare = -1
	}
	s.spareMu.Unlock()
}

// fail stops the server because it can accept no more: Wait returns err.
// Acceptors call it, so it does not wait for them itself.
func (s *Server) fail(err error) {
	s.log.Error("server stopped: accepting failed", "err", err)
	go func() {
		s.stopAccepting()
		s.stop(fmt.Errorf("engine: accept: %w", err))
	}()
}

// stop stops the event loops, closing what connections are left, once;
// every call returns after they have stopped.
func (s *Server) stop(err error) {
	s.stopOnce.Do(func() {
		s.stopAccepting()
		if serr := s.cli.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("engine: event loops: %w", serr)
		}
		if s.handshaker != nil {
			s.handshaker.Close() // without waiting: Shutdown waits, as long as its ctx allows
		}
		s.err = err
		close(s.done)
	})
	<-s.done
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
			if !c.shutdownHTTP() { // a response in the making closes c once written
				c.closeNow()
			}
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
	c.loop.stats.upgraded.Add(1)
	if s.log.Enabled(context.Background(), slog.LevelInfo) { // the attributes cost allocations even when dropped
		s.log.Info("ws open", "client_ip", c.clientIP, "client_ip_source", c.ipSource.String(), "peer", c.remote, "path", c.path)
	}
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
	c.loop.stats.closes[c.closeCause(err)].Add(1)
	c.loop.stats.closed.Add(1)
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

func (e *events) OnBoot(gnet.Engine) gnet.Action { return gnet.None }

func (e *events) OnShutdown(gnet.Engine) {}

// OnTick schedules a part of each loop's timer sweep and logs the
// refusals held back.
func (e *events) OnTick() (time.Duration, gnet.Action) {
	s := (*Server)(e)
	s.refusals.flush(time.Now())
	s.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		if l.sweeping.CompareAndSwap(false, true) { // else the last one is still under way
			if l.el.Execute(context.Background(), (*sweepTask)(l)) != nil {
				l.sweeping.Store(false)
			}
		}
		return true
	})
	return s.cfg.tick() / time.Duration(s.cfg.sweepParts()), gnet.None
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
	// The acceptor admitted the connection and counted it (see
	// Server.admit). Once taken, the Conn must become gc's context, so that
	// OnClose releases the count; otherwise the acceptor does.
	en, _ := gc.Context().(*enrollment)
	if en == nil || s.draining.Load() {
		return nil, gnet.Close
	}
	en.opened = true
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
		c.countIn(len(data))
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
