package engine_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// waitStats polls srv's Stats until want finds nothing missing in them,
// and fails t with what is still missing after five seconds.
func waitStats(t *testing.T, srv *engine.Server, want func(st engine.Stats) string) engine.Stats {
	t.Helper()
	var st engine.Stats
	miss := ""
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if st = srv.Stats(); want(st) == "" {
			return st
		}
	}
	if miss = want(st); miss != "" {
		t.Fatalf("stats: %s\n%+v", miss, st)
	}
	return st
}

// closedBy wants one connection upgraded and closed, for cause.
func closedBy(cause engine.CloseCause) func(engine.Stats) string {
	return func(st engine.Stats) string {
		if st.Upgraded != 1 || st.Closed != 1 || st.Open != 0 || st.Closes[cause] != 1 {
			return fmt.Sprintf("want 1 upgraded, 1 closed by %v, 0 open", cause)
		}
		return ""
	}
}

// refusedFor wants one refusal, for reason, and no connection upgraded.
func refusedFor(reason engine.RefusalReason) func(engine.Stats) string {
	return func(st engine.Stats) string {
		var total uint64
		for _, n := range st.Refused {
			total += n
		}
		if st.Refused[reason] != 1 || total != 1 {
			return fmt.Sprintf("want 1 refusal, for %v", reason)
		}
		return ""
	}
}

// TestStatsCauses: each way a connection is refused or closed is counted
// under its own reason or cause, and under no other.
func TestStatsCauses(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cases := []struct {
			name    string
			cfg     engine.Config
			h       engine.Handler
			wssOnly bool
			act     func(t *testing.T, srv *testServer)
			want    func(engine.Stats) string
		}{
			{
				name: "peer begins the closing handshake",
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					closeHandshake(t, c, wsproto.CloseNormal)
				},
				want: closedBy(engine.ClosedByPeer),
			},
			{
				name: "application closes",
				h:    closer{},
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					if err := c.Write(wstest.Message(wsproto.OpText, []byte("bye"))); err != nil {
						t.Fatal(err)
					}
					if _, _, err := c.ReadClose(2 * time.Second); err != nil {
						t.Fatal(err)
					}
					_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe8}))
				},
				want: closedBy(engine.ClosedByApp),
			},
			{
				name: "application drops a peer whose queue is full",
				cfg:  engine.Config{MaxQueuedBytes: 16 << 10, CloseTimeout: 100 * time.Millisecond},
				h:    flooder{},
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					if err := c.Write(wstest.Message(wsproto.OpText, []byte("flood me"))); err != nil {
						t.Fatal(err)
					}
					// Read nothing: the close frame waits behind the flood
					// until the close timeout drops the connection.
				},
				want: func(st engine.Stats) string {
					if miss := closedBy(engine.ClosedBufferFull)(st); miss != "" {
						return miss
					}
					if st.BufferFull != 1 || st.MessagesOut != 16 {
						return "want 16 messages queued, then 1 refused with ErrBufferFull"
					}
					return ""
				},
			},
			{
				name: "protocol violation",
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					if err := c.Write(wstest.Frame{Fin: true, Op: wsproto.OpText, Payload: []byte("x"), Unmasked: true}); err != nil {
						t.Fatal(err)
					}
					if code, _, err := c.ReadClose(2 * time.Second); err != nil || code != wsproto.CloseProtocolError {
						t.Fatalf("close %v %v, want 1002", code, err)
					}
				},
				want: closedBy(engine.ClosedProtocolError),
			},
			{
				name: "pong timeout",
				cfg:  engine.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond},
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					if !c.WaitEOF(3 * time.Second) {
						t.Fatal("not dropped")
					}
				},
				want: closedBy(engine.ClosedPongTimeout),
			},
			{
				name: "idle timeout",
				cfg:  engine.Config{IdleTimeout: 100 * time.Millisecond},
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					if _, _, err := c.ReadClose(2 * time.Second); err != nil {
						t.Fatal(err)
					}
					_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
				},
				want: closedBy(engine.ClosedIdleTimeout),
			},
			{
				name: "shutdown",
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					done := make(chan error, 1)
					go func() { done <- srv.Shutdown(t.Context()) }()
					if code, _, err := c.ReadClose(2 * time.Second); err != nil || code != wsproto.CloseGoingAway {
						t.Fatalf("close %v %v, want 1001", code, err)
					}
					if srv.Stats().Serving {
						t.Error("Serving once Shutdown began")
					}
					_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				},
				want: closedBy(engine.ClosedShutdown),
			},
			{
				name: "peer vanishes",
				act: func(t *testing.T, srv *testServer) {
					c := srv.dial(t, wstest.DialOptions{})
					expectEchoOf(t, c, wsproto.OpText, "hi")
					c.Close()
				},
				want: closedBy(engine.ClosedTransport),
			},
			{
				name: "upgrade refused: path not served",
				cfg:  engine.Config{Path: "/wss"},
				act: func(t *testing.T, srv *testServer) {
					if _, err := srv.tryDial(t, wstest.DialOptions{Path: "/other"}); err == nil {
						t.Fatal("upgraded a path not served")
					}
				},
				want: func(st engine.Stats) string {
					if miss := refusedFor(engine.RefusedUpgrade)(st); miss != "" {
						return miss
					}
					if len(st.UpgradeRefused) != 1 || st.UpgradeRefused[404] != 1 || st.Upgraded != 0 {
						return "want one 404"
					}
					return ""
				},
			},
			{
				name: "upgrade refused by the handler",
				h:    rejecter{status: 401},
				act: func(t *testing.T, srv *testServer) {
					if _, err := srv.tryDial(t, wstest.DialOptions{}); err == nil {
						t.Fatal("upgraded")
					}
				},
				want: func(st engine.Stats) string {
					if st.UpgradeRefused[401] != 1 || st.Refused[engine.RefusedUpgrade] != 1 {
						return "want one 401"
					}
					return ""
				},
			},
			{
				name: "handshake timeout",
				cfg:  engine.Config{HandshakeTimeout: 100 * time.Millisecond},
				act: func(t *testing.T, srv *testServer) {
					if !wstest.NewClient(tcpDial(srv.addr)(t)).WaitEOF(3 * time.Second) {
						t.Fatal("not dropped")
					}
				},
				want: refusedFor(engine.RefusedHandshakeTimeout),
			},
			{
				name:    "TLS handshake failure",
				wssOnly: true,
				act: func(t *testing.T, srv *testServer) {
					// The client does not trust the test CA, and says so.
					conn := tcpDial(srv.addr)(t)
					if err := tls.Client(conn, &tls.Config{ServerName: "localhost"}).Handshake(); err == nil {
						t.Fatal("handshake succeeded")
					}
				},
				want: refusedFor(engine.RefusedTLSHandshake),
			},
			{
				name: "bad PROXY header",
				cfg:  engine.Config{ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
				act: func(t *testing.T, srv *testServer) {
					conn := tcpDial(srv.addr)(t)
					if _, err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
						t.Fatal(err)
					}
					if !wstest.NewClient(conn).WaitEOF(3 * time.Second) {
						t.Fatal("not dropped")
					}
				},
				want: refusedFor(engine.RefusedProxyHeader),
			},
			{
				name: "max conns",
				cfg:  engine.Config{MaxConns: 1},
				act:  secondRefused,
				want: refusedFor(engine.RefusedMaxConns),
			},
			{
				name: "max conns per IP",
				cfg:  engine.Config{MaxConnsPerIP: 1},
				act:  secondRefused,
				want: func(st engine.Stats) string {
					if miss := refusedFor(engine.RefusedPerIP)(st); miss != "" {
						return miss
					}
					if st.Accepted != 2 || st.Admitted != 1 || st.Open != 1 {
						return "want 2 accepted, 1 admitted and open"
					}
					return ""
				},
			},
		}
		for _, tc := range cases {
			if tc.wssOnly && !tr.TLS {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				h := tc.h
				if h == nil {
					h = echo{}
				}
				cfg := tc.cfg
				if cfg.PingInterval == 0 {
					cfg.PingInterval = -1
				}
				srv := startServer(t, tr, cfg, h)
				if st := srv.Stats(); !st.Serving || st.Accepted != 0 {
					t.Fatalf("fresh server: %+v", st)
				}
				tc.act(t, srv)
				st := waitStats(t, srv.Server, tc.want)
				// A refusal is no close, and a close no refusal.
				if st.Upgraded == 0 && st.Closed != 0 {
					t.Fatalf("closes counted for connections never upgraded: %+v", st)
				}
			})
		}
	})
}

// TestStatsTraffic: messages and bytes both ways are what the client sent
// and received, and the bytes are what the close log line says: for ws,
// exactly the frames on the wire.
func TestStatsTraffic(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, echo{})
		c := srv.dial(t, wstest.DialOptions{})
		// A scraper reads the counters meanwhile (the race detector watches).
		stop, scraped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(scraped)
			for {
				select {
				case <-stop:
					return
				default:
					_ = srv.Stats()
				}
			}
		}()
		var sent, received int
		const n = 20
		for i := range n {
			msg := bytes.Repeat([]byte{'a'}, 10*i) // 7-bit and 16-bit lengths
			f := wstest.Message(wsproto.OpText, msg).Bytes()
			if _, err := c.Conn.Write(f); err != nil {
				t.Fatal(err)
			}
			sent += len(f)
			_, got, err := c.ReadMessage(2 * time.Second)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo %d: %v", i, err)
			}
			received += wsproto.HeaderSize(len(msg), false) + len(msg)
		}
		close(stop)
		<-scraped
		st := srv.Stats()
		if st.MessagesIn != n || st.MessagesOut != n || st.Open != 1 || st.Upgraded != 1 || st.CompressedIn != 0 || st.CompressedOut != 0 {
			t.Fatalf("after %d echoes: %+v", n, st)
		}
		closeHandshake(t, c, wsproto.CloseNormal)
		sent += wsproto.HeaderSize(2, true) + 2
		received += wsproto.HeaderSize(2, false) + 2 // the close echo
		st = waitStats(t, srv.Server, closedBy(engine.ClosedByPeer))
		line := srv.waitLog("ws close")
		if in, out := logInt(t, line, "bytes_in"), logInt(t, line, "bytes_out"); st.BytesIn != in || st.BytesOut != out {
			t.Fatalf("stats count %d bytes in, %d out; the close line %d and %d", st.BytesIn, st.BytesOut, in, out)
		}
		if tr.TLS {
			if st.BytesIn <= uint64(sent) || st.BytesOut <= uint64(received) {
				t.Fatalf("wss: %d bytes in, %d out: not more than the %d and %d of frames", st.BytesIn, st.BytesOut, sent, received)
			}
			return
		}
		if st.BytesIn != uint64(sent) || st.BytesOut != uint64(received) {
			t.Fatalf("ws: %d bytes in, %d out; the client sent %d and received %d", st.BytesIn, st.BytesOut, sent, received)
		}
	})
}

// TestStatsCompressed: compressed messages are counted both ways, and as
// messages.
func TestStatsCompressed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{PingInterval: -1, Compression: &engine.Compression{}}, echo{})
		c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate")})
		p := newDeflatePeer(true, false)
		for i, tc := range []struct {
			name       string
			msg        []byte
			compressed bool
		}{
			{"compressed, above the threshold", jsonish(512, 1), true},
			{"plain, below the threshold", []byte("short"), false},
		} {
			f := wstest.Message(wsproto.OpText, tc.msg)
			if tc.compressed {
				f.Rsv, f.Payload = 0b100, p.compress(tc.msg)
			}
			if err := c.Write(f); err != nil {
				t.Fatal(err)
			}
			if _, got, compressed := p.readMessage(t, c); !bytes.Equal(got, tc.msg) || compressed != tc.compressed {
				t.Fatalf("%s: echo compressed %v", tc.name, compressed)
			}
			if st := srv.Stats(); st.MessagesIn != uint64(i+1) || st.MessagesOut != uint64(i+1) || st.CompressedIn != 1 || st.CompressedOut != 1 {
				t.Fatalf("%s: %+v", tc.name, st)
			}
		}
	})
}

// TestStatsBroadcast: a prepared message counts once per connection it is
// queued on.
func TestStatsBroadcast(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := &broadcaster{msg: []byte("to all")}
		srv := startServer(t, tr, engine.Config{PingInterval: -1}, h)
		h.srv.Store(srv.Server)
		var clients []*wstest.Client
		for range 3 {
			clients = append(clients, srv.dial(t, wstest.DialOptions{}))
		}
		waitStats(t, srv.Server, func(st engine.Stats) string {
			if st.Open != 3 {
				return "want 3 open"
			}
			return ""
		})
		if err := clients[0].Write(wstest.Message(wsproto.OpText, []byte("go"))); err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			if _, got, err := c.ReadMessage(2 * time.Second); err != nil || string(got) != "to all" {
				t.Fatalf("broadcast: %q %v", got, err)
			}
		}
		if st := srv.Stats(); st.MessagesOut != 3 || st.MessagesIn != 1 || st.Open != 3 {
			t.Fatalf("after a broadcast to 3: %+v", st)
		}
	})
}

// secondRefused opens a connection, then one more, which the server must
// refuse.
func secondRefused(t *testing.T, srv *testServer) {
	srv.dial(t, wstest.DialOptions{})
	if !wstest.NewClient(tcpDial(srv.addr)(t)).WaitEOF(3 * time.Second) {
		t.Fatal("second connection not refused")
	}
}

// closeHandshake sends a close frame with code and reads the echo.
func closeHandshake(t *testing.T, c *wstest.Client, code wsproto.CloseCode) {
	t.Helper()
	if err := c.Write(wstest.Message(wsproto.OpClose, wsproto.AppendClose(nil, code, "")[2:])); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.ReadClose(2 * time.Second); err != nil || got != code {
		t.Fatalf("close echo %v %v, want %v", got, err, code)
	}
}

// logInt reads key=N from a text log line.
func logInt(t *testing.T, line, key string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\b` + key + `=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s in %q", key, line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// closer closes each connection when it receives a message.
type closer struct{ engine.NopHandler }

func (closer) OnMessage(c *engine.Conn, _ engine.MessageType, _ []byte) {
	_ = c.Close(wsproto.CloseNormal, "bye")
}

// flooder answers a message with 1 KiB messages until Send refuses one,
// then closes, as the binary's echo does with a peer that does not read.
type flooder struct{ engine.NopHandler }

func (flooder) OnMessage(c *engine.Conn, _ engine.MessageType, _ []byte) {
	p := make([]byte, 1<<10)
	for {
		if err := c.Send(engine.Binary, p); err != nil {
			if errors.Is(err, engine.ErrBufferFull) {
				_ = c.Close(wsproto.ClosePolicyViolation, "send buffer full")
			}
			return
		}
	}
}

// rejecter refuses every upgrade with status.
type rejecter struct {
	engine.NopHandler
	status int
}

func (r rejecter) OnHandshake(*engine.Conn, *engine.Handshake) error {
	return &wsproto.RejectError{Status: r.status, Reason: "no"}
}
