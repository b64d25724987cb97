package engine_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// The tests in this file count the process's goroutines, so none of them
// runs in parallel. Each starts its own server and takes its baseline once
// the server is up.

// goroutineSlack allows for goroutines that come and go on their own when a
// test takes a snapshot of the count: timer callbacks, the stop poller of an
// earlier test's server. Counts that must return to a baseline are polled
// instead, without slack.
const goroutineSlack = 2

// clientHello returns the first record a Go tls.Client sends: a real
// ClientHello (TLS 1.2 and 1.3, X25519MLKEM768 key share), captured over a
// net.Pipe.
func clientHello(t *testing.T) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		cfg := testpki.Get().ClientConfig()
		cfg.ServerName = "localhost"
		_ = tls.Client(cli, cfg).Handshake() // fails once srv is closed
	}()
	defer func() { srv.Close(); <-done }()
	hello := make([]byte, 5)
	if _, err := io.ReadFull(srv, hello); err != nil {
		t.Fatal(err)
	}
	hello = append(hello, make([]byte, int(hello[3])<<8|int(hello[4]))...)
	if _, err := io.ReadFull(srv, hello[5:]); err != nil {
		t.Fatal(err)
	}
	return hello
}

// waitGoroutines waits up to 5 s until no TLS handshake goroutine is left
// and the process's goroutine count is down to baseline, and returns that
// count; it fails t, listing the goroutines, if that does not happen.
func waitGoroutines(t *testing.T, baseline int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, hs := runtime.NumGoroutine(), handshakeGoroutines()
		if n <= baseline && hs == 0 {
			return n
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("after 5 s: %d goroutines (baseline %d), %d of them TLS handshakes:\n%s", n, baseline, hs, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// handshakeGoroutines counts the goroutines running TLS handshakes.
func handshakeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "tlsconn.(*Handshaker).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// sockState is what a look at a client socket, without waiting, finds.
type sockState int

const (
	sockOpen   sockState = iota // open, nothing to read
	sockData                    // the server sent something not read yet
	sockClosed                  // end of stream or reset
)

func (s sockState) String() string { return [...]string{"open", "data", "closed"}[s] }

// peek looks at conn's socket without reading from it or waiting.
func peek(t *testing.T, conn net.Conn) sockState {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	switch {
	case errors.Is(rerr, unix.EAGAIN):
		return sockOpen
	case rerr != nil || n == 0:
		return sockClosed
	}
	return sockData
}

// tally counts the connections a server opened and closed.
type tally struct {
	echo
	opened, closed atomic.Int64
}

func (h *tally) OnOpen(*engine.Conn)         { h.opened.Add(1) }
func (h *tally) OnClose(*engine.Conn, error) { h.closed.Add(1) }

// TestHostileHandshakeStorm: 2,000 clients do their TLS handshake and
// upgrade at once, 64 at a time, and echo a message; none is refused or
// times out, the open connections cost no goroutine, and once they are
// closed the server has forgotten them all.
func TestHostileHandshakeStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 TLS handshakes")
	}
	const n, dialers = 2000, 64
	h := &tally{}
	srv := startServer(t, wss, engine.Config{}, h)
	baseline := runtime.NumGoroutine()
	clients := make([]*wstest.Client, n)
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	})
	cfg := testpki.Get().ClientConfig() // no session cache: every handshake is a full one
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range dialers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := wstest.Dial(srv.addr, wstest.DialOptions{TLS: cfg, Timeout: 20 * time.Second})
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				clients[i] = c
				msg := fmt.Appendf(nil, "client %d", i)
				if err := c.Write(wstest.Message(wsproto.OpBinary, msg)); err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				op, got, err := c.ReadMessage(20 * time.Second)
				if err != nil || op != wsproto.OpBinary || !bytes.Equal(got, msg) {
					t.Errorf("client %d: echo %v %q %v", i, op, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if t.Failed() {
		return
	}
	open := waitGoroutines(t, baseline) // the dialers are gone; the connections cost none
	if got := h.opened.Load(); got != n {
		t.Errorf("OnOpen called %d times, want %d", got, n)
	}
	closing := time.Now()
	for _, c := range clients {
		c.Close()
	}
	for h.closed.Load() < n && time.Since(closing) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.closed.Load(); got != n {
		t.Fatalf("OnClose called %d times within 5 s of the clients closing, want %d", got, n)
	}
	forgotten := time.Since(closing)
	after := waitGoroutines(t, baseline)
	t.Logf("%d handshakes + upgrades + echoes in %v (%.0f/s) with %d dialers; goroutines: baseline %d, %d open %d, after close %d; all OnClose within %v",
		n, took.Round(time.Millisecond), n/took.Seconds(), dialers, baseline, n, open, after, forgotten.Round(time.Millisecond))
}

// TestHostileSlowloris: 500 connections send the first 40 bytes of a
// ClientHello and stall. They cost no goroutine while they wait, an honest
// client is served meanwhile, and the server closes each at the handshake
// timeout, not before.
func TestHostileSlowloris(t *testing.T) {
	const n, timeout = 500, 500 * time.Millisecond
	half := clientHello(t)[:40]
	srv := startServer(t, wss, engine.Config{HandshakeTimeout: timeout}, echo{})
	baseline := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	dialed := make([]time.Time, n)
	for i := range conns {
		conns[i] = tcpDial(srv.addr)(t)
		dialed[i] = time.Now()
		if _, err := conns[i].Write(half); err != nil {
			t.Fatal(err)
		}
	}
	stalled := runtime.NumGoroutine()
	if stalled > baseline+goroutineSlack {
		t.Errorf("%d goroutines with %d stalled handshakes, baseline %d", stalled, n, baseline)
	}
	c := srv.dial(t, wstest.DialOptions{})
	expectEchoOf(t, c, wsproto.OpText, "served during the stall")
	c.Close()
	// Connections younger than 70% of the timeout must still be open (the
	// loop's clock is coarse: a quarter of the timeout).
	young := 0
	for i, conn := range conns {
		if age := time.Since(dialed[i]); age < timeout*7/10 {
			young++
			if s := peek(t, conn); s != sockOpen {
				t.Errorf("stalled conn %d %s %v after connecting", i, s, age.Round(time.Millisecond))
			}
		}
	}
	if young == 0 {
		t.Fatalf("too slow: the last stalled connection is %v old, more than 70%% of the timeout", time.Since(dialed[n-1]))
	}
	for i, conn := range conns {
		if !wstest.NewClient(conn).WaitEOF(time.Until(dialed[n-1].Add(timeout + 3*time.Second))) {
			t.Fatalf("stalled conn %d still open %v after connecting", i, time.Since(dialed[i]).Round(time.Millisecond))
		}
		if i == 0 && time.Since(dialed[0]) < timeout*7/10 {
			t.Fatalf("stalled conn 0 closed %v after connecting, before the timeout", time.Since(dialed[0]))
		}
	}
	closedAll := time.Since(dialed[n-1])
	after := waitGoroutines(t, baseline)
	t.Logf("%d stalled in %v; goroutines: baseline %d, stalled %d, after %d; %d checked open during the stall; last closed %v after the last connected (timeout %v)",
		n, dialed[n-1].Sub(dialed[0]).Round(time.Millisecond), baseline, stalled, after, young, closedAll.Round(time.Millisecond), timeout)
}

// TestHostileClientHelloThenSilence: a client sends a whole ClientHello,
// which starts a handshake goroutine, and never answers the server's
// flight. The server closes the connection at the handshake timeout and the
// goroutine exits.
func TestHostileClientHelloThenSilence(t *testing.T) {
	const timeout = 500 * time.Millisecond
	hello := clientHello(t)
	srv := startServer(t, wss, engine.Config{HandshakeTimeout: timeout}, echo{})
	baseline := runtime.NumGoroutine()
	conn := tcpDial(srv.addr)(t)
	start := time.Now()
	if _, err := conn.Write(hello); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil || first[0] != 0x16 {
		t.Fatalf("server's first flight: %x %v, want a handshake record", first, err)
	}
	running := handshakeGoroutines()
	if running != 1 {
		t.Errorf("%d handshake goroutines while the server waits for the client's Finished, want 1", running)
	}
	if !wstest.NewClient(conn).WaitEOF(timeout + 2*time.Second) {
		t.Fatal("connection not closed after the handshake timeout")
	}
	took := time.Since(start)
	if took < timeout*7/10 {
		t.Fatalf("closed %v after the ClientHello, before the timeout", took)
	}
	after := waitGoroutines(t, baseline)
	t.Logf("closed %v after the ClientHello (timeout %v); goroutines: baseline %d, after %d",
		took.Round(time.Millisecond), timeout, baseline, after)
}

// TestHostileGarbage: bytes that are not a TLS handshake, or a handshake
// record crypto/tls rejects, make the server close the connection at once,
// not at the handshake timeout; the server goes on serving.
func TestHostileGarbage(t *testing.T) {
	random := func(seed uint64, n int) []byte {
		r := rand.New(rand.NewPCG(seed, 0))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	record := func(typ byte, n int, body []byte) []byte {
		return append([]byte{typ, 0x03, 0x01, byte(n >> 8), byte(n)}, body...)
	}
	// An SSL 2.0 CLIENT-HELLO (RFC 6101, appendix E): 7 cipher specs, a
	// 16-byte challenge.
	sslv2 := append([]byte("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"),
		"\x07\x00\xc0\x05\x00\x80\x03\x00\x80\x01\x00\x80\x06\x00\x40\x04\x00\x80\x02\x00\x80"+
			"0123456789abcdef"...)
	cases := []struct {
		name string
		send []byte
	}{
		{"random bytes seed=1", random(1, 1024)},
		{"random bytes seed=2", random(2, 1024)},
		{"random bytes seed=3", random(3, 17)},
		{"SSLv2 hello", sslv2},
		{"record header with absurd length", record(0x16, 0xffff, []byte("hi"))},
		{"record one byte over the limit", record(0x16, 16384+2048+1, random(4, 64))},
		{"handshake record with random body seed=5", record(0x16, 300, random(5, 300))},
		{"largest handshake record, random body seed=6", record(0x16, 16384+2048, random(6, 16384+2048))},
		{"empty handshake record", record(0x16, 0, nil)},
		{"alert record first", record(0x15, 2, []byte{2, 40})},
		{"application data record first", record(0x17, 32, random(7, 32))},
	}
	srv := startServer(t, wss, engine.Config{HandshakeTimeout: 5 * time.Second}, echo{})
	baseline := runtime.NumGoroutine()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := tcpDial(srv.addr)(t)
			start := time.Now()
			if _, err := conn.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if !wstest.NewClient(conn).WaitEOF(time.Second) {
				t.Fatal("connection still open after a second")
			}
			t.Logf("closed after %v", time.Since(start).Round(time.Microsecond))
		})
	}
	t.Run("plain HTTP request", func(t *testing.T) {
		resp := rawExchange(t, tcpDial(srv.addr)(t), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "speaks TLS") {
			t.Fatalf("%d %q, want 400 saying the port speaks TLS", resp.StatusCode, body)
		}
	})
	t.Run("plain HTTP request whose first segment is GET without its space", func(t *testing.T) {
		conn := tcpDial(srv.addr)(t)
		req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		if _, err := conn.Write([]byte(req[:3])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)  // the server reads "GET" alone
		_, _ = conn.Write([]byte(req[3:])) // fails if the server has closed already
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("closed without the 400: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "speaks TLS") {
			t.Fatalf("%d %q, want 400 saying the port speaks TLS", resp.StatusCode, body)
		}
	})
	waitGoroutines(t, baseline)
	expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "still serving")
}

// TestHostileResets: clients that reset their connection in the middle of
// the TLS handshake or in the middle of a record leave nothing behind, and
// the server goes on serving.
func TestHostileResets(t *testing.T) {
	hello := clientHello(t)
	h := closeRecorder{closed: make(chan error, 2)}
	// A long handshake timeout: what ends the handshake is the reset.
	srv := startServer(t, wss, engine.Config{HandshakeTimeout: 10 * time.Second}, h)

	t.Run("mid-handshake", func(t *testing.T) {
		baseline := runtime.NumGoroutine() // the subtest's own goroutine included
		conn := tcpDial(srv.addr)(t)
		if _, err := conn.Write(hello); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		var first [1]byte
		if _, err := io.ReadFull(conn, first[:]); err != nil {
			t.Fatalf("server's first flight: %v", err)
		}
		if n := handshakeGoroutines(); n != 1 {
			t.Fatalf("%d handshake goroutines, want 1", n)
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		start := time.Now()
		waitGoroutines(t, baseline)
		t.Logf("handshake goroutine gone %v after the reset", time.Since(start).Round(time.Microsecond))
		select {
		case err := <-h.closed:
			t.Fatalf("OnClose called for a connection never opened: %v", err)
		default:
		}
	})

	t.Run("mid-record after the upgrade", func(t *testing.T) {
		baseline := runtime.NumGoroutine()
		tc, hc := heldUpgrade(t, srv.addr)
		// A 40 KiB message makes three records; half of the first goes out.
		hc.pass = 0
		if err := wstest.NewClient(tc).Write(wstest.Message(wsproto.OpBinary, make([]byte, 40<<10))); err != nil {
			t.Fatal(err)
		}
		first := 5 + (int(hc.held[3])<<8 | int(hc.held[4]))
		if err := hc.release(first / 2); err != nil {
			t.Fatal(err)
		}
		// Give the half record time to reach the server before the reset;
		// the assertions hold either way.
		time.Sleep(20 * time.Millisecond)
		_ = hc.Conn.(*net.TCPConn).SetLinger(0)
		hc.Close()
		err := waitClosed(t, h.closed, 2*time.Second)
		var ce *wsproto.CloseError
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("OnClose err = %v, want the transport's error", err)
		}
		t.Logf("OnClose: %v", err)
		waitGoroutines(t, baseline)
	})

	expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "still serving")
}

// heldUpgrade opens a wss connection through a holdConn and upgrades it;
// from then on the holdConn holds back what the client writes, for the test
// to send as it likes.
func heldUpgrade(t *testing.T, addr string) (*tls.Conn, *holdConn) {
	t.Helper()
	raw := tcpDial(addr)(t)
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	hc := &holdConn{Conn: raw, pass: 1 << 30}
	cfg := testpki.Get().ClientConfig()
	cfg.ServerName = "localhost"
	tc := tls.Client(hc, cfg)
	if _, err := tc.Write(wstest.RequestHead("localhost", "/", "dGhlIHNhbXBsZSBub25jZQ==", nil, nil)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	hc.pass = 0
	return tc, hc
}

// TestHostileTamperedRecord: a record whose authentication tag does not
// verify, after the upgrade, gets the bad_record_mac alert and the
// connection closed; OnClose says why.
func TestHostileTamperedRecord(t *testing.T) {
	h := closeRecorder{closed: make(chan error, 2)}
	srv := startServer(t, wss, engine.Config{}, h)
	baseline := runtime.NumGoroutine()
	tc, hc := heldUpgrade(t, srv.addr)
	if err := wstest.NewClient(tc).Write(wstest.Message(wsproto.OpText, []byte("tampered with"))); err != nil {
		t.Fatal(err)
	}
	hc.held[len(hc.held)-1] ^= 1 // a bit of the tag
	if err := hc.release(len(hc.held)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, tc); err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("client read: %v, want the server's bad_record_mac alert", err)
	}
	if err := waitClosed(t, h.closed, 2*time.Second); err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("OnClose err = %v, want bad record MAC", err)
	}
	waitGoroutines(t, baseline)
	expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "still serving")
}

// TestHostileHandshakeLimit: with MaxConcurrentHandshakes 2, 40 clients
// send a whole ClientHello and stall. Two handshakes run, each on a
// goroutine; eight wait in the queue at no goroutine's cost; the other 30
// connections are closed at once. At the handshake timeout everything is
// cleaned up, and honest clients are served again.
func TestHostileHandshakeLimit(t *testing.T) {
	const n, running, queued, timeout = 40, 2, 4 * 2, time.Second
	hello := clientHello(t)
	srv := startServer(t, wss, engine.Config{HandshakeTimeout: timeout, MaxConcurrentHandshakes: running, MaxHandshakesPerIP: -1}, echo{})
	baseline := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	start := time.Now()
	for i := range conns {
		conns[i] = tcpDial(srv.addr)(t)
		if _, err := conns[i].Write(hello); err != nil {
			t.Fatal(err)
		}
	}
	// Running handshakes have answered; refused connections are closed.
	var count map[sockState]int
	for time.Since(start) < timeout/2 {
		count = map[sockState]int{}
		for _, conn := range conns {
			count[peek(t, conn)]++
		}
		if count[sockData] == running && count[sockClosed] == n-running-queued {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	classified := time.Since(start)
	if count[sockData] != running || count[sockOpen] != queued || count[sockClosed] != n-running-queued {
		t.Fatalf("%v after connecting: %d answered, %d waiting, %d closed; want %d, %d, %d",
			classified, count[sockData], count[sockOpen], count[sockClosed], running, queued, n-running-queued)
	}
	stalled := runtime.NumGoroutine()
	if hs := handshakeGoroutines(); hs != running {
		t.Errorf("%d handshake goroutines, want %d", hs, running)
	}
	if stalled > baseline+running+goroutineSlack {
		t.Errorf("%d goroutines with %d handshakes running and %d queued, baseline %d", stalled, running, queued, baseline)
	}
	// An honest client finds no room either: it is refused, not left hanging.
	honest := time.Now()
	if c, err := srv.tryDial(t, wstest.DialOptions{}); err == nil {
		c.Close()
		t.Error("honest client served while the handshake queue is full")
	}
	if d := time.Since(honest); d > timeout/2 {
		t.Errorf("honest client refused only after %v", d)
	}
	for i, conn := range conns {
		if !wstest.NewClient(conn).WaitEOF(time.Until(start.Add(timeout + 2*time.Second))) {
			t.Fatalf("conn %d still open %v after connecting", i, time.Since(start))
		}
	}
	cleared := time.Since(start)
	// Stats: those refused for want of a slot, the honest client among
	// them, and those that stalled until the timeout.
	waitStats(t, srv.Server, func(st engine.Stats) string {
		if st.Refused[engine.RefusedTLSBusy] != n-running-queued+1 || st.Refused[engine.RefusedHandshakeTimeout] != running+queued || st.Refused[engine.RefusedTLSHandshake] != 0 {
			return fmt.Sprintf("want %d tls_busy, %d handshake_timeout", n-running-queued+1, running+queued)
		}
		return ""
	})
	after := waitGoroutines(t, baseline)
	expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "slots free again")
	t.Logf("after %v: %d answered, %d queued, %d refused; goroutines: baseline %d, stalled %d, after %d; all closed %v after connecting (timeout %v)",
		classified.Round(time.Millisecond), count[sockData], count[sockOpen], count[sockClosed], baseline, stalled, after, cleared.Round(time.Millisecond), timeout)
}
