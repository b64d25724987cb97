package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// connGrabber hands each opened connection to the test.
type connGrabber struct {
	echo
	conns chan *engine.Conn
}

func (g connGrabber) OnOpen(c *engine.Conn) { g.conns <- c }

// TestSendFromOtherGoroutines: Send is safe from any goroutine, and each
// sender's messages arrive in the order it sent them.
func TestSendFromOtherGoroutines(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := connGrabber{conns: make(chan *engine.Conn, 1)}
		srv := startServer(t, tr, engine.Config{}, g)
		c := srv.dial(t, wstest.DialOptions{})
		sc := <-g.conns
		const senders, each = 4, 500
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range each {
					var p [8]byte
					binary.BigEndian.PutUint32(p[:], uint32(s))
					binary.BigEndian.PutUint32(p[4:], uint32(i))
					for {
						err := sc.Send(engine.Binary, p[:])
						if err == nil {
							break
						}
						if !errors.Is(err, engine.ErrBufferFull) {
							t.Errorf("Send: %v", err)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		next := make([]uint32, senders)
		for range senders * each {
			op, p, err := c.ReadMessage(0)
			if err != nil || op != wsproto.OpBinary || len(p) != 8 {
				t.Fatalf("read: %v %v %v", op, p, err)
			}
			s, i := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
			if i != next[s] {
				t.Fatalf("sender %d: got message %d, want %d", s, i, next[s])
			}
			next[s]++
		}
		wg.Wait()
	})
}

// TestSendAfterClose: once a connection is closing, Send reports
// net.ErrClosed instead of queueing.
func TestSendAfterClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := connGrabber{conns: make(chan *engine.Conn, 1)}
		srv := startServer(t, tr, engine.Config{}, g)
		c := srv.dial(t, wstest.DialOptions{})
		sc := <-g.conns
		if err := sc.Close(wsproto.CloseNormal, "done"); err != nil {
			t.Fatal(err)
		}
		if err := sc.Close(wsproto.CloseNormal, "again"); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := sc.Send(engine.Text, []byte("late")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Send after Close = %v, want net.ErrClosed", err)
		}
		if err := sc.Close(wsproto.CloseAbnormal, ""); err == nil {
			t.Fatal("Close accepted 1006, which may not be sent")
		}
		code, reason, err := c.ReadClose(0)
		if err != nil || code != wsproto.CloseNormal || reason != "done" {
			t.Fatalf("close %v %q %v", code, reason, err)
		}
	})
}

// pressure records buffer events.
type pressure struct {
	connGrabber
	full, drain chan struct{}
}

func (p pressure) OnBufferFull(*engine.Conn)  { p.full <- struct{}{} }
func (p pressure) OnBufferDrain(*engine.Conn) { p.drain <- struct{}{} }

// TestBackpressure: a client that stops reading makes Send fail with
// ErrBufferFull once MaxQueuedBytes are waiting, the handler hears of it,
// and when the client reads again the queue drains and the handler hears
// that too. Nothing is lost in between.
func TestBackpressure(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		p := pressure{connGrabber{conns: make(chan *engine.Conn, 1)}, make(chan struct{}, 4), make(chan struct{}, 4)}
		const limit = 256 << 10
		srv := startServer(t, tr, engine.Config{MaxQueuedBytes: limit, PingInterval: -1}, p)
		c := srv.dial(t, wstest.DialOptions{})
		sc := <-p.conns
		msg := bytes.Repeat([]byte("z"), 16<<10)
		sent := 0
		for {
			err := sc.Send(engine.Binary, msg)
			if errors.Is(err, engine.ErrBufferFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sent++
			if sent > 10_000 {
				t.Fatal("Send never reported a full buffer for a client that does not read")
			}
		}
		select {
		case <-p.full:
		case <-time.After(3 * time.Second):
			t.Fatal("OnBufferFull not called")
		}
		// The kernel's socket buffers hold some; the server holds at most
		// about the limit plus one message.
		for range sent {
			if _, got, err := c.ReadMessage(0); err != nil || len(got) != len(msg) {
				t.Fatalf("read: %d bytes, %v", len(got), err)
			}
		}
		select {
		case <-p.drain:
		case <-time.After(3 * time.Second):
			t.Fatal("OnBufferDrain not called after the client caught up")
		}
		if err := sc.Send(engine.Text, []byte("again")); err != nil {
			t.Fatalf("Send after drain: %v", err)
		}
		if op, got, err := c.ReadMessage(0); err != nil || op != wsproto.OpText || string(got) != "again" {
			t.Fatalf("after drain: %v %q %v", op, got, err)
		}
	})
}

// keeper keeps the payload of the first message past its callback, the
// misuse the documentation forbids, and looks at it again during the second
// (on the event loop, as a careless handler would). With released buffers
// poisoned in tests, the kept bytes no longer hold the first message.
type keeper struct {
	engine.NopHandler
	kept   *[]byte
	report chan string
}

func (k keeper) OnMessage(c *engine.Conn, _ engine.MessageType, data []byte) {
	if *k.kept == nil {
		*k.kept = data
	} else {
		k.report <- string(*k.kept)
	}
	_ = c.Send(engine.Text, []byte("ok"))
}

func TestPayloadNotValidAfterCallback(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cases := []struct {
			name  string
			first wstest.Frame
			extra []wstest.Frame
		}{
			{"single frame", wstest.Message(wsproto.OpText, []byte("first")), nil},
			{"reassembled", wstest.Frame{Op: wsproto.OpText, Payload: []byte("fir")},
				[]wstest.Frame{{Fin: true, Op: wsproto.OpContinuation, Payload: []byte("st")}}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				k := keeper{kept: new([]byte), report: make(chan string, 1)}
				srv := startServer(t, tr, engine.Config{}, k)
				c := srv.dial(t, wstest.DialOptions{})
				if err := c.Write(append([]wstest.Frame{tc.first}, tc.extra...)...); err != nil {
					t.Fatal(err)
				}
				expectEchoOf(t, c, wsproto.OpText, "ok")
				if got := <-k.report; got == "first" {
					t.Fatal("a payload kept past OnMessage still reads as the message; released buffers must be overwritten in tests")
				}
			})
		}
	})
}
