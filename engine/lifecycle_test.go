package engine_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// lifecycle is an echo handler that checks the order of the callbacks it
// gets: OnOpen once, then messages, then OnClose once, and nothing after.
type lifecycle struct {
	engine.NopHandler
	mu         sync.Mutex
	state      map[*engine.Conn]string // "open", "closed"
	opened     int
	closed     int
	messages   atomic.Int64
	closeErrs  []error
	violations []string
}

func newLifecycle() *lifecycle { return &lifecycle{state: make(map[*engine.Conn]string)} }

func (h *lifecycle) violate(format string, args ...any) {
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
}

func (h *lifecycle) OnOpen(c *engine.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.state[c]; ok {
		h.violate("OnOpen on a connection already %s", st)
	}
	h.state[c] = "open"
	h.opened++
}

func (h *lifecycle) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	h.mu.Lock()
	if st := h.state[c]; st != "open" {
		h.violate("OnMessage on a connection %q", st)
	}
	h.mu.Unlock()
	h.messages.Add(1)
	_ = c.Send(typ, data)
}

func (h *lifecycle) OnClose(c *engine.Conn, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.state[c]; st != "open" {
		h.violate("OnClose on a connection %q", st)
	}
	h.state[c] = "closed"
	h.closed++
	h.closeErrs = append(h.closeErrs, err)
}

// check fails t unless every opened connection was closed exactly once and
// the callbacks came in order.
func (h *lifecycle) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.violations {
		t.Error(v)
	}
	if h.opened != h.closed {
		t.Errorf("OnOpen %d times, OnClose %d times", h.opened, h.closed)
	}
}

func (h *lifecycle) counts() (opened, closed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opened, h.closed
}

// waitIdle waits until the server holds no connection.
func waitIdle(t *testing.T, srv *testServer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d connections", srv.Conns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loopbackTLS is the client TLS configuration for a server on 127.0.0.1.
func loopbackTLS() *tls.Config {
	cfg := testpki.Get().ClientConfig()
	cfg.ServerName = "127.0.0.1"
	return cfg
}

// resetAfter dials the server, sends b and resets the connection at once
// (SO_LINGER 0), as a mobile client that loses its network does.
func resetAfter(srv *testServer, b []byte) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", srv.addr)
	if err != nil {
		return err
	}
	tcp := raw.(*net.TCPConn)
	var w net.Conn = tcp
	if srv.tr.TLS {
		tc := tls.Client(tcp, loopbackTLS())
		if err := tc.Handshake(); err != nil {
			tcp.Close()
			return err
		}
		w = tc
	}
	_, _ = w.Write(b)
	_ = tcp.SetLinger(0)
	return tcp.Close()
}

// TestResetAfterUpgradeRequest is the reset storm: clients that send an
// upgrade request, on a served path and on one that is refused, and reset
// at once, while honest clients echo beside them. gnet closes a connection
// inside the write that fails, so the engine used to go on with a dead
// connection: it called OnOpen with no OnClose to follow, parsed a buffer
// already back in the pool, and wrote to and shut down a file descriptor
// that could by then belong to the next client.
func TestResetAfterUpgradeRequest(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newLifecycle()
		srv := startServer(t, tr, engine.Config{Path: "/served", PingInterval: -1}, h)

		storm := 400
		if tr.TLS {
			storm = 150 // each costs a TLS handshake
		}
		stop := make(chan struct{})
		var honest sync.WaitGroup
		var echoes, failures atomic.Int64
		var firstFailure atomic.Value
		for i := range 4 {
			c := srv.dial(t, wstest.DialOptions{Path: "/served"})
			honest.Add(1)
			go func() {
				defer honest.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					msg := fmt.Appendf(nil, "honest %d #%d", i, n)
					if err := c.Write(wstest.Message(wsproto.OpText, msg)); err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
						return
					}
					op, got, err := c.ReadMessage(5 * time.Second)
					if err != nil || op != wsproto.OpText || !bytes.Equal(got, msg) {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, fmt.Sprintf("echo %q: got %v %q, %v", msg, op, got, err))
						return
					}
					echoes.Add(1)
				}
			}()
		}

		var storming sync.WaitGroup
		var stormErrs atomic.Int64
		sem := make(chan struct{}, 32)
		for i := range storm {
			path := "/served"
			if i%2 == 1 {
				path = "/elsewhere"
			}
			req := wstest.RequestHead(srv.addr, path, "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)
			sem <- struct{}{}
			storming.Add(1)
			go func() {
				defer storming.Done()
				defer func() { <-sem }()
				if err := resetAfter(srv, req); err != nil {
					stormErrs.Add(1)
				}
			}()
		}
		storming.Wait()
		close(stop)
		if n := stormErrs.Load(); n > 0 {
			t.Errorf("%d storm clients could not even send their request", n)
		}
		honest.Wait()
		if n := failures.Load(); n > 0 {
			t.Errorf("%d honest clients failed beside the storm (after %d echoes); first: %v", n, echoes.Load(), firstFailure.Load())
		}
		if echoes.Load() == 0 {
			t.Error("the honest clients echoed nothing")
		}
		srv.Shutdown(t.Context())
		waitIdle(t, srv)

		h.check(t)
		opened, closed := h.counts()
		logs := srv.logs.String()
		if n := strings.Count(logs, `msg="ws open"`); n != opened {
			t.Errorf("%d open log lines for %d OnOpen calls", n, opened)
		}
		if n := strings.Count(logs, `msg="ws close"`); n != closed {
			t.Errorf("%d close log lines for %d OnClose calls", n, closed)
		}
		if n := srv.Resurrections(); n != 0 {
			t.Errorf("%d moves out of the closed state or socket calls on a closed connection; the first at:\n%s", n, srv.FirstViolation())
		}
		t.Logf("%d storm clients, %d opened, %d echoes", storm, opened, echoes.Load())
	})
}

// TestWriteFailsInsideCallback injects the failure that gnet turns into a
// close inside the write: of the 101 response, of an echo, of a read. The
// connection must end once, with the error, and nothing may follow.
func TestWriteFailsInsideCallback(t *testing.T) {
	cases := []struct {
		name    string
		op      engine.FaultKind
		n       int // which operation of the kind fails
		opened  bool
		errPart string
	}{
		{name: "101 response", op: engine.FaultWrite, n: 1, opened: false},
		{name: "first echo", op: engine.FaultWrite, n: 2, opened: true, errPart: "write: broken pipe"},
		{name: "read of the first frame", op: engine.FaultRead, n: 1, opened: true, errPart: "read: connection reset by peer"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := newLifecycle()
				srv := startServer(t, tr, engine.Config{PingInterval: -1}, h)
				errno := syscall.EPIPE
				if tc.op == engine.FaultRead {
					errno = syscall.ECONNRESET
				}
				srv.InjectFault(tc.op, tc.n, errno)
				c, err := srv.tryDial(t, wstest.DialOptions{})
				if err == nil {
					_ = c.Write(wstest.Message(wsproto.OpText, []byte("hello")))
					if !c.WaitEOF(5 * time.Second) {
						t.Fatal("the connection stayed open after the injected failure")
					}
				} else if tc.opened {
					t.Fatalf("handshake: %v", err)
				}
				waitIdle(t, srv)
				h.check(t)
				opened, _ := h.counts()
				if (opened == 1) != tc.opened {
					t.Fatalf("OnOpen called %d times, want opened=%v", opened, tc.opened)
				}
				if tc.opened {
					h.mu.Lock()
					got := h.closeErrs[0]
					h.mu.Unlock()
					if got == nil || !strings.Contains(got.Error(), tc.errPart) {
						t.Errorf("OnClose got %v, want an error with %q", got, tc.errPart)
					}
				}
				if n := srv.Resurrections(); n != 0 {
					t.Errorf("%d lifecycle violations; the first at:\n%s", n, srv.FirstViolation())
				}
			})
		}
	})
}

// grabber hands each opened connection to the test.
type grabber struct {
	lifecycle
	conns chan *engine.Conn
}

func newGrabber() *grabber {
	return &grabber{lifecycle: lifecycle{state: make(map[*engine.Conn]string)}, conns: make(chan *engine.Conn, 16)}
}

func (g *grabber) OnOpen(c *engine.Conn) {
	g.lifecycle.OnOpen(c)
	g.conns <- c
}

func (g *grabber) next(t *testing.T) *engine.Conn {
	t.Helper()
	select {
	case c := <-g.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection opened")
		return nil
	}
}

// TestPingFloodIsBounded: a client that sends pings and never reads used to
// grow the server by the size of every pong, since control frames skipped
// MaxQueuedBytes (1,000,000 pings grew it by ~180 MiB). Pongs now count,
// and only the latest ping is answered once the queue is full.
func TestPingFloodIsBounded(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const limit = 64 << 10
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{MaxQueuedBytes: limit, PingInterval: -1}, g)
		c := srv.dial(t, wstest.DialOptions{})
		conn := g.next(t)

		// 12 MiB of pings, more than the kernel's socket buffers hold, so
		// that unbounded pongs could not hide in them.
		ping := wstest.Message(wsproto.OpPing, bytes.Repeat([]byte("p"), wsproto.MaxControlPayload))
		var flood []byte
		for range 1000 {
			flood = ping.AppendTo(flood)
		}
		for range 12 << 20 / len(flood) {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Conn.Write(flood); err != nil {
				t.Fatalf("flood: %v", err)
			}
		}
		// A frame after the flood tells when the server has read it all.
		marker := []byte("after the flood")
		if err := c.Write(wstest.Message(wsproto.OpText, marker)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		var pending int
		for {
			var seen bool
			engine.OnLoop(conn, func() { pending = engine.Pending(conn) })
			g.mu.Lock()
			seen = g.state[conn] == "open"
			g.mu.Unlock()
			if !seen {
				t.Fatal("the flooding connection was closed")
			}
			if pending >= limit || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Past the limit the last frame accepted, a pong, and the echo of
		// the marker may stand, with TLS's record overhead for wss.
		if max := limit + 1024; pending > max {
			t.Fatalf("%d bytes queued for a client that never reads, want at most %d (MaxQueuedBytes %d)", pending, max, limit)
		}
		// The client reads at last: the pongs that were queued, the one owed
		// for the latest ping, then an echo: the connection still works.
		var pongs int
		for {
			op, p, err := c.ReadMessage(500 * time.Millisecond)
			if err != nil {
				break // drained
			}
			switch {
			case op == wsproto.OpPong && bytes.Equal(p, ping.Payload):
				pongs++
			case op == wsproto.OpText && bytes.Equal(p, marker):
				// Its echo was queued if there was room by then.
			default:
				t.Fatalf("got %v %q, want pongs", op, p)
			}
		}
		if pongs == 0 {
			t.Fatal("no pong for a flood of pings")
		}
		alive := []byte("still alive")
		if err := c.Write(wstest.Message(wsproto.OpText, alive)); err != nil {
			t.Fatal(err)
		}
		if op, p, err := c.ReadMessage(5 * time.Second); err != nil || op != wsproto.OpText || !bytes.Equal(p, alive) {
			t.Fatalf("after the flood: %v %q %v, want the echo", op, p, err)
		}
		t.Logf("%d pongs for %d pings", pongs, 12<<20/len(flood)*1000)
	})
}

// TestBareHeaderHoldsLittle: a frame header announcing 1 MiB used to make
// the parser reserve 2 MiB at once (256 such connections: 512 MiB). The
// input buffer now follows the bytes that arrived; the message still
// completes when the rest comes.
func TestBareHeaderHoldsLittle(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{PingInterval: -1, MaxMessageSize: 2 << 20}, g)
		c := srv.dial(t, wstest.DialOptions{})
		conn := g.next(t)

		payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		frame := wstest.Message(wsproto.OpBinary, payload).Bytes()
		if _, err := c.Conn.Write(frame[:20]); err != nil {
			t.Fatal(err)
		}
		var held int
		deadline := time.Now().Add(5 * time.Second)
		for held == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			engine.OnLoop(conn, func() { held = engine.InputCap(conn) })
		}
		if held == 0 || held > 16<<10 {
			t.Fatalf("a 20-byte start of a 1 MiB frame holds a %d-byte buffer, want 1..16 KiB", held)
		}
		if err := c.WriteSplit(frame[20:], 100<<10, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage(5 * time.Second)
		if err != nil || op != wsproto.OpBinary || !bytes.Equal(got, payload) {
			t.Fatalf("echo: %v, %d bytes, %v", op, len(got), err)
		}
	})
}

// sender sends a large message as soon as a connection opens.
type sender struct {
	lifecycle
	msg []byte
}

func (s *sender) OnOpen(c *engine.Conn) {
	s.lifecycle.OnOpen(c)
	if err := c.Send(engine.Binary, s.msg); err != nil {
		panic(err)
	}
}

// TestPeerCloseKeepsQueuedOutput: when the peer began the closing
// handshake, output that Send had accepted was dropped with the close
// echo: a 16 MiB Send returned nil and the client got 3.58 MB and EOF.
func TestPeerCloseKeepsQueuedOutput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := &sender{lifecycle: lifecycle{state: make(map[*engine.Conn]string)}, msg: bytes.Repeat([]byte("x"), 16<<20)}
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, h)
		c := srv.dial(t, wstest.DialOptions{})
		if err := c.Write(wstest.Message(wsproto.OpClose, wsproto.AppendClosePayload(nil, wsproto.CloseNormal, "bye"))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the server reads the close before we read anything
		op, got, err := c.ReadMessage(5 * time.Second)
		if err != nil || op != wsproto.OpBinary || len(got) != len(h.msg) {
			t.Fatalf("got %v, %d bytes, %v; want the whole %d-byte message", op, len(got), err, len(h.msg))
		}
		code, _, err := c.ReadClose(5 * time.Second)
		if err != nil || code != wsproto.CloseNormal {
			t.Fatalf("close echo: %v, %v", code, err)
		}
		if !c.WaitEOF(5 * time.Second) {
			t.Fatal("the server did not close TCP after the closing handshake")
		}
		waitIdle(t, srv)
		h.check(t)
	})
}

// TestSlowUploadIsAlive: bytes of a frame that is still arriving used not
// to count as life, so a client uploading one large frame slowly was dropped
// for not answering a ping it was too busy to read.
func TestSlowUploadIsAlive(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newLifecycle()
		srv := startServer(t, tr, engine.Config{PingInterval: 100 * time.Millisecond, PongTimeout: 150 * time.Millisecond}, h)
		c := srv.dial(t, wstest.DialOptions{})
		payload := bytes.Repeat([]byte("slow"), 8<<10) // 32 KiB in 2 KiB pieces, 60 ms apart: ~1 s
		if err := c.WriteSplit(wstest.Message(wsproto.OpBinary, payload).Bytes(), 2<<10, 60*time.Millisecond); err != nil {
			t.Fatalf("upload: %v", err)
		}
		for {
			op, got, err := c.ReadMessage(5 * time.Second)
			if err != nil {
				t.Fatalf("dropped during a slow upload: %v", err)
			}
			if op == wsproto.OpPing {
				continue
			}
			if op != wsproto.OpBinary || !bytes.Equal(got, payload) {
				t.Fatalf("got %v, %d bytes", op, len(got))
			}
			break
		}
		if _, closed := h.counts(); closed != 0 {
			t.Fatal("the connection was closed")
		}
	})
}

// valueKeeper sets the connection's value on every message while the test
// reads it from another goroutine.
type valueKeeper struct{ *grabber }

func (valueKeeper) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	c.SetValue(string(data))
	_ = c.Send(typ, data)
}

// TestValueFromAnyGoroutine: Value is documented as safe from any goroutine
// and SetValue from any callback; the two raced (seen with -race).
func TestValueFromAnyGoroutine(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, valueKeeper{g})
		c := srv.dial(t, wstest.DialOptions{})
		conn := g.next(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2000 {
				if v, ok := conn.Value().(string); ok && !strings.HasPrefix(v, "m") {
					t.Errorf("Value() = %q", v)
				}
			}
		}()
		for i := range 50 {
			msg := fmt.Appendf(nil, "m%d", i)
			if err := c.Write(wstest.Message(wsproto.OpText, msg)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		if v := conn.Value(); v != "m49" {
			t.Fatalf("Value() = %v, want m49", v)
		}
	})
}

// TestCloseReason: Close checked a reason's UTF-8 only when it had to cut
// it, so an invalid short reason went out and the peer failed the
// connection with 1007 instead of reading the close.
func TestCloseReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes, cut at a character boundary
	cases := []struct {
		name    string
		reason  string
		wantErr bool
		want    string
	}{
		{name: "short", reason: "bye", want: "bye"},
		{name: "long, cut between characters", reason: long, want: long[:122]},
		{name: "invalid UTF-8", reason: "bad \xff", wantErr: true},
		{name: "invalid UTF-8 past the cut", reason: long + "\xff", wantErr: true},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, g)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := srv.dial(t, wstest.DialOptions{})
				conn := g.next(t)
				err := conn.Close(wsproto.CloseNormal, tc.reason)
				if tc.wantErr {
					if err == nil {
						t.Fatal("Close accepted a reason that is not UTF-8")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				_, reason, err := c.ReadClose(5 * time.Second)
				if err != nil || reason != tc.want {
					t.Fatalf("close reason %q (%v), want %q", reason, err, tc.want)
				}
			})
		}
	})
}

// TestSendAfterFailedSchedule: when handing a flush to the event loop
// failed, the claim on it stayed, and every later Send returned nil while
// its frames were never written.
func TestSendAfterFailedSchedule(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, g)
		srv.dial(t, wstest.DialOptions{})
		conn := g.next(t)
		engine.OnLoop(conn, func() {}) // the upgrade's callback is over: Send must ask the loop
		srv.InjectFault(engine.FaultExecute, 1, syscall.EAGAIN)
		for i := range 3 {
			if err := conn.Send(engine.Text, []byte("lost")); !errors.Is(err, engine.ErrServerClosed) {
				t.Fatalf("Send #%d after the loop refused a flush: %v, want ErrServerClosed", i+1, err)
			}
		}
	})
}

// TestByteCounts: bytes_out counted what was queued (127,000,002 logged
// when ~45 MB had reached the client), and bytes_in counted the upgrade
// request while bytes_out did not count the response. Both now count the
// bytes on the wire after the upgrade; bytes_out what the kernel took.
// Some rounds over, a reset arrived as an error event alone, on which gnet
// drops its buffer before OnClose: the whole message was logged as sent
// (1 round in ~15 failed).
func TestByteCounts(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := &sender{lifecycle: *newLifecycle(), msg: bytes.Repeat([]byte("y"), 16<<20)}
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, h)
		for round := range 12 {
			// The client's receive buffer is fixed, so the kernel holds
			// at most it and the server's send buffer (4 MiB at most).
			c := srv.dial(t, wstest.DialOptions{ReadBuffer: 256 << 10})
			if err := c.Write(wstest.Message(wsproto.OpText, []byte("0123456789"))); err != nil {
				t.Fatal(err)
			}
			for h.messages.Load() == int64(round) { // the server reads the frame; the message fills the socket
				time.Sleep(5 * time.Millisecond)
			}
			c.Close()
			in, out := closeCounts(srv.waitLogN(round+1, `msg="ws close"`))
			if !tr.TLS && in != 16 { // a 10-byte masked frame, without the request
				t.Errorf("round %d: bytes_in=%d, want 16", round, in)
			}
			if tr.TLS && (in <= 16 || in > 200) {
				t.Errorf("round %d: bytes_in=%d, want the TLS records of one frame", round, in)
			}
			if out <= 0 || out >= int64(len(h.msg))/2 {
				t.Fatalf("round %d: bytes_out=%d for a client that read nothing of a %d-byte message", round, out, len(h.msg))
			}
		}
	})
}

// TestByteCountsFailedWrite: a write the socket refused outright (the peer
// had reset the connection) was counted in bytes_out as if the kernel had
// taken it: a client that closed before a 24 MiB message was sent was logged
// with bytes_out=25199758.
func TestByteCountsFailedWrite(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := &lateSender{lifecycle: *newLifecycle(), msg: bytes.Repeat([]byte("z"), 1<<20), reset: make(chan struct{})}
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, h)
		c := srv.dial(t, wstest.DialOptions{})
		if err := c.Write(wstest.Message(wsproto.OpText, []byte("go"))); err != nil {
			t.Fatal(err)
		}
		tcp := c.Conn
		if tc, ok := tcp.(*tls.Conn); ok {
			tcp = tc.NetConn()
		}
		if err := tcp.(*net.TCPConn).SetLinger(0); err != nil { // close sends RST
			t.Fatal(err)
		}
		c.Close()
		close(h.reset)
		_, out := closeCounts(srv.waitLog(`msg="ws close"`))
		if out != 0 {
			t.Errorf("bytes_out=%d after the only write after the upgrade failed, want 0", out)
		}
	})
}

// lateSender waits in OnMessage until the test has reset the connection,
// then sends msg: its write meets a socket that refuses it.
type lateSender struct {
	lifecycle
	msg   []byte
	reset chan struct{}
}

func (s *lateSender) OnMessage(c *engine.Conn, _ engine.MessageType, _ []byte) {
	<-s.reset
	time.Sleep(100 * time.Millisecond) // the RST reaches the server's socket
	_ = c.Send(engine.Binary, s.msg)   // nil: the write fails after it returns
}

// closeCounts reads bytes_in and bytes_out from a "ws close" log line.
func closeCounts(line string) (in, out int64) {
	for f := range strings.FieldsSeq(line) {
		fmt.Sscanf(f, "bytes_in=%d", &in)
		fmt.Sscanf(f, "bytes_out=%d", &out)
	}
	return in, out
}

// TestRefusalsAreLoggedRateLimited: rejected upgrades were logged at Debug
// only, invisible at the default level, and a line per refusal would turn a
// flood into a log flood. They are logged at Info, at most one line a
// second per kind, each with the count of refusals it stands for.
func TestRefusalsAreLoggedRateLimited(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{Path: "/served", PingInterval: -1}, echo{})
		const refused = 40
		for range refused {
			if _, err := srv.tryDial(t, wstest.DialOptions{Path: "/elsewhere"}); err == nil || !strings.Contains(err.Error(), "404") {
				t.Fatalf("dial: %v, want 404", err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var lines, total int
			for line := range strings.SplitSeq(srv.logs.String(), "\n") {
				if !strings.Contains(line, `msg="upgrade refused"`) {
					continue
				}
				if !strings.Contains(line, "level=INFO") || !strings.Contains(line, "status=404") || !strings.Contains(line, "uri=/elsewhere") {
					t.Fatalf("refusal line: %s", line)
				}
				lines++
				var n int
				for f := range strings.FieldsSeq(line) {
					fmt.Sscanf(f, "count=%d", &n)
				}
				total += n
			}
			if total == refused {
				if lines > 3 {
					t.Fatalf("%d lines for %d refusals within about a second", lines, refused)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the refusal lines count %d refusals, want %d:\n%s", total, refused, srv.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
