package engine_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// closeRecorder reports the error each connection closed with.
type closeRecorder struct {
	echo
	closed chan error
}

func (h closeRecorder) OnClose(_ *engine.Conn, err error) { h.closed <- err }

func waitClosed(t *testing.T, ch chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(within):
		t.Fatalf("OnClose not called within %v", within)
		return nil
	}
}

func TestHandshakeTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{HandshakeTimeout: 200 * time.Millisecond}, echo{})
		cases := []struct {
			name string
			dial func(t *testing.T) net.Conn // raw TCP or the transport
			send string
		}{
			{"silent TCP", tcpDial(srv.addr), ""},
			{"half a request", srv.rawDial, "GET / HTTP/1.1\r\nHost: x\r\nUpg"},
		}
		if tr.TLS { // on ws these bytes are answered with a 400 at once
			cases = append(cases, struct {
				name string
				dial func(t *testing.T) net.Conn
				send string
			}{"half a TLS record", tcpDial(srv.addr), "\x16\x03\x01\x02\x00\x01\x00\x01"})
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now() // the server's timeout runs from accept, TLS included
				conn := tc.dial(t)
				if _, err := conn.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
				if !wstest.NewClient(conn).WaitEOF(3 * time.Second) {
					t.Fatal("connection not closed after the handshake timeout")
				}
				if d := time.Since(start); d < 150*time.Millisecond {
					t.Fatalf("closed after %v, before the timeout", d)
				}
			})
		}
	})
}

// tcpDial returns a dialer of plain TCP connections to addr.
func tcpDial(addr string) func(t *testing.T) net.Conn {
	return func(t *testing.T) net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
}

func TestPongTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := closeRecorder{closed: make(chan error, 1)}
		srv := startServer(t, tr, engine.Config{PingInterval: 100 * time.Millisecond, PongTimeout: 150 * time.Millisecond}, h)
		c := srv.dial(t, wstest.DialOptions{})
		// The raw client never answers: the server pings, then gives up.
		hdr, _, err := c.ReadFrame(2 * time.Second)
		if err != nil || hdr.Op != wsproto.OpPing {
			t.Fatalf("want a ping first, got %v %v", hdr.Op, err)
		}
		if err := waitClosed(t, h.closed, 3*time.Second); !errors.Is(err, engine.ErrPongTimeout) {
			t.Fatalf("OnClose err = %v, want ErrPongTimeout", err)
		}
		if !c.WaitEOF(2 * time.Second) {
			t.Fatal("TCP connection still open")
		}
	})
}

// TestTimeoutCloseCodes: a protocol on top chooses the close codes of the
// timeouts (Pusher's 4201 for a missing pong), which the peer receives
// before the connection goes.
func TestTimeoutCloseCodes(t *testing.T) {
	cases := []struct {
		name string
		cfg  engine.Config
		want wsproto.CloseCode
		err  error
	}{
		{"pong timeout", engine.Config{PingInterval: 100 * time.Millisecond, PongTimeout: 150 * time.Millisecond, PongTimeoutCode: 4201}, 4201, engine.ErrPongTimeout},
		{"idle timeout", engine.Config{PingInterval: -1, IdleTimeout: 150 * time.Millisecond, IdleTimeoutCode: 4202}, 4202, engine.ErrIdleTimeout},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := closeRecorder{closed: make(chan error, 1)}
				srv := startServer(t, tr, tc.cfg, h)
				c := srv.dial(t, wstest.DialOptions{})
				code, _, err := c.ReadClose(2 * time.Second) // pings are skipped, never answered
				if err != nil || code != tc.want {
					t.Fatalf("close %v (%v), want %v", code, err, tc.want)
				}
				_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
				if err := waitClosed(t, h.closed, 3*time.Second); !errors.Is(err, tc.err) {
					t.Fatalf("OnClose err = %v, want %v", err, tc.err)
				}
			})
		}
	})
	if _, err := engine.New(engine.Config{PongTimeoutCode: 1005}, echo{}); err == nil {
		t.Fatal("New accepted a close code that may not be sent")
	}
}

func TestPingsKeepConnectionAlive(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := closeRecorder{closed: make(chan error, 1)}
		srv := startServer(t, tr, engine.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, h)
		c := srv.dial(t, wstest.DialOptions{})
		pings := 0
		deadline := time.Now().Add(600 * time.Millisecond)
		for time.Now().Before(deadline) {
			hdr, p, err := c.ReadFrame(time.Second)
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if hdr.Op == wsproto.OpPing {
				pings++
				if err := c.Write(wstest.Message(wsproto.OpPong, p)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if pings < 3 {
			t.Fatalf("only %d pings in 600ms with a 50ms interval", pings)
		}
		select {
		case err := <-h.closed:
			t.Fatalf("closed although every ping was answered: %v", err)
		default:
		}
		expectEchoOf(t, c, wsproto.OpText, "alive")
	})
}

func TestIdleTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := closeRecorder{closed: make(chan error, 1)}
		srv := startServer(t, tr, engine.Config{PingInterval: -1, IdleTimeout: 150 * time.Millisecond}, h)
		c := srv.dial(t, wstest.DialOptions{})
		code, reason, err := c.ReadClose(2 * time.Second)
		if err != nil || code != wsproto.CloseGoingAway {
			t.Fatalf("close %v %q %v, want 1001", code, reason, err)
		}
		if err := c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9})); err != nil {
			t.Fatal(err)
		}
		if err := waitClosed(t, h.closed, 3*time.Second); !errors.Is(err, engine.ErrIdleTimeout) {
			t.Fatalf("OnClose err = %v, want ErrIdleTimeout", err)
		}
		if !c.WaitEOF(2 * time.Second) {
			t.Fatal("TCP connection still open")
		}
	})
}

// TestCloseTimeout: a peer that never answers the server's close frame is
// dropped after CloseTimeout.
func TestCloseTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := closeRecorder{closed: make(chan error, 1)}
		srv := startServer(t, tr, engine.Config{PingInterval: -1, IdleTimeout: 50 * time.Millisecond, CloseTimeout: 200 * time.Millisecond}, h)
		c := srv.dial(t, wstest.DialOptions{})
		if _, _, err := c.ReadClose(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if !c.WaitEOF(3 * time.Second) {
			t.Fatal("server never dropped a peer that ignored its close")
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("dropped after %v, before the close timeout", d)
		}
		waitClosed(t, h.closed, time.Second)
	})
}

// TestHeartbeatSpread: connections whose traffic stops together are not
// all pinged in the same sweep (a burst of pings and pongs that holds the
// loop up, every interval). The first version spread only the first ping
// after the upgrade: connections that all received one broadcast, or all
// sent a message at once, were pinged together again one interval later
// (10,000 pings in one 60 ms sweep in the push-latency benchmark).
func TestHeartbeatSpread(t *testing.T) {
	const conns = 40
	const interval = 3 * time.Second // the 40 dials take far less than half of it
	cases := []struct {
		name    string
		traffic bool // every client sends a message (and gets its echo) at once
	}{
		{name: "opened together"},
		{name: "quiet together after traffic", traffic: true},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// A short pong timeout makes the sweep fine-grained (a quarter
				// of it); the clients never answer, so each is pinged once.
				srv := startServer(t, tr, engine.Config{PingInterval: interval, PongTimeout: 200 * time.Millisecond}, echo{})
				clients := make([]*wstest.Client, conns)
				for i := range clients {
					clients[i] = srv.dial(t, wstest.DialOptions{})
				}
				if tc.traffic {
					for _, c := range clients {
						if err := c.Write(wstest.Message(wsproto.OpText, []byte("now"))); err != nil {
							t.Fatal(err)
						}
					}
					for _, c := range clients {
						if _, _, err := c.ReadMessage(time.Second); err != nil {
							t.Fatal(err)
						}
					}
				}
				first := make(chan time.Time, conns)
				for _, c := range clients {
					go func() {
						h, _, err := c.ReadFrame(2 * interval)
						if err != nil || h.Op != wsproto.OpPing {
							first <- time.Time{}
							return
						}
						first <- time.Now()
					}()
				}
				var earliest, latest time.Time
				for range conns {
					at := <-first
					if at.IsZero() {
						t.Fatal("a connection got no ping")
					}
					if earliest.IsZero() || at.Before(earliest) {
						earliest = at
					}
					if at.After(latest) {
						latest = at
					}
				}
				if spread := latest.Sub(earliest); spread < interval/5 {
					t.Fatalf("the first pings of %d connections came within %v: not spread over the interval", conns, spread)
				}
			})
		}
	})
}

// TestSweepYields: a sweep acts on at most SweepBudget connections before
// it lets the loop run what waits behind it, and still reaches them all.
func TestSweepYields(t *testing.T) {
	const conns = 3*engine.SweepBudget + 10
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGrabber()
		srv := startServer(t, tr, engine.Config{EventLoops: 1, PingInterval: time.Hour}, g)
		clients := make([]*wstest.Client, conns)
		var last *engine.Conn
		for i := range clients {
			clients[i] = srv.dial(t, wstest.DialOptions{})
			last = g.next(t)
		}
		// An hour on, every connection is due for a ping.
		if slices := engine.SweepAt(last, time.Now().Add(2*time.Hour)); slices < conns/engine.SweepBudget {
			t.Errorf("%d pings sent in %d slices: more than %d in one", conns, slices, engine.SweepBudget)
		}
		for i, c := range clients {
			h, _, err := c.ReadFrame(5 * time.Second)
			if err != nil || h.Op != wsproto.OpPing {
				t.Fatalf("client %d: %v, %v; want a ping", i, h.Op, err)
			}
		}
	})
}

// pongWatcher hands each opened connection to the test and reports closes.
type pongWatcher struct {
	connGrabber
	closed chan error
}

func (h pongWatcher) OnClose(_ *engine.Conn, err error) { h.closed <- err }

// TestPongWaitingUnread: a pong that reached the server's socket but that
// its event loop has not read yet, because the loop was busy until past the
// pong timeout, answers the ping: the peer is alive and the server is the
// one late. Under load (a fan-out to half a million subscribers on two
// cores) the check dropped such peers for a pong timeout.
func TestPongWaitingUnread(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := pongWatcher{connGrabber{conns: make(chan *engine.Conn, 1)}, make(chan error, 1)}
		srv := startServer(t, tr, engine.Config{PingInterval: 100 * time.Millisecond, PongTimeout: time.Minute}, h)
		c := srv.dial(t, wstest.DialOptions{})
		sc := <-h.conns
		hdr, ping, err := c.ReadFrame(2 * time.Second)
		if err != nil || hdr.Op != wsproto.OpPing {
			t.Fatalf("want a ping first, got %v %v", hdr.Op, err)
		}
		engine.OnLoop(sc, func() {
			// The loop is busy here: the pong reaches the socket unread.
			if err := c.Write(wstest.Message(wsproto.OpPong, ping)); err != nil {
				t.Errorf("pong: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
			engine.SweepOnLoop(sc, time.Now().Add(2*time.Minute))
		})
		select {
		case err := <-h.closed:
			t.Fatalf("closed with the pong waiting unread: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := c.Write(wstest.Message(wsproto.OpText, []byte("still here"))); err != nil {
			t.Fatal(err)
		}
		for {
			hdr, p, err := c.ReadFrame(2 * time.Second)
			if err != nil {
				t.Fatalf("no echo after the late sweep: %v", err)
			}
			if hdr.Op == wsproto.OpText {
				if string(p) != "still here" {
					t.Fatalf("echo %q", p)
				}
				return
			}
		}
	})
}
