package soak

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/bench/load"
)

// HonestCounts are the honest clients' running totals.
type HonestCounts struct {
	Open     int64 `json:"open"`     // connections upgraded and not yet closed
	Sent     int64 `json:"sent"`     // echo messages sent
	Received int64 `json:"received"` // echoes that came back intact and in order
	// Lost counts messages whose connection ended before their echo came
	// back, and those still missing when the run ends.
	Lost int64 `json:"lost"`
	// Corrupt counts echoes that came back altered, out of order, with the
	// wrong opcode, or unasked.
	Corrupt int64 `json:"corrupt"`
	// Dropped counts connections that ended without the client asking:
	// a close from the server, a reset, EOF, or a close handshake that did
	// not complete.
	Dropped      int64 `json:"dropped"`
	Churned      int64 `json:"churned"`       // connections closed by the client and reopened
	ConnectFails int64 `json:"connect_fails"` // dials (first or after churn) that failed
	Pongs        int64 `json:"pongs"`         // pings answered
}

// honest is a set of well-behaved clients. Each connection has one
// goroutine that reads it, answers pings, checks echoes and reconnects
// after a churn; one goroutine sends the echo messages to the connections
// in turn and another picks the connections that churn.
type honest struct {
	t       *load.Target
	msgSize int
	conns   []*honestConn
	stopped atomic.Bool // no reconnection, and an ending connection is no drop
	wg      sync.WaitGroup

	open, sent, received, lost, corrupt, dropped, churned, connectFails, pongs atomic.Int64

	mu      sync.Mutex
	reasons []string // the first few drops and corruptions, for the report
}

const maxReasons = 10

// honestConn is one honest client: a connection, and its successors after
// a churn.
type honestConn struct {
	h  *honest
	id int

	// mu orders the writes to c (pings answered from the reader, echoes
	// from the sender, the close of a churn) and guards c and closing.
	mu      sync.Mutex
	c       *load.Conn
	closing bool // a close frame was sent: nothing more may be
	// next is the sequence number of the next echo to send; expect the
	// one the next echo received must carry. Reset with each connection.
	next, expect atomic.Int64
}

// errChurned ends a connection the client closed itself.
var errChurned = errors.New("soak: closed by the client")

func (h *honest) note(format string, args ...any) {
	h.mu.Lock()
	if len(h.reasons) < maxReasons {
		h.reasons = append(h.reasons, fmt.Sprintf(format, args...))
	}
	h.mu.Unlock()
}

// openHonest opens n connections, concurrency at a time, and starts their
// goroutines. It fails if any connection cannot be opened after retries.
func openHonest(ctx context.Context, t *load.Target, n, concurrency, msgSize int) (*honest, error) {
	h := &honest{t: t, msgSize: msgSize}
	h.conns = make([]*honestConn, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range max(1, min(concurrency, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				hc := &honestConn{h: h, id: i}
				h.conns[i] = hc
				c, err := h.dial(ctx)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("soak: honest connection %d: %w", i, err) })
					return
				}
				hc.c = c
				h.open.Add(1)
				h.wg.Go(func() { hc.run(ctx, c) })
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		h.close()
		return nil, firstErr
	}
	return h, nil
}

// dial opens one connection, retrying a few times: the server refuses
// connections beyond its handshake queue, which a storm may reach.
func (h *honest) dial(ctx context.Context) (*load.Conn, error) {
	var err error
	for attempt := range 5 {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		var c *load.Conn
		c, err = h.t.Dial(dctx)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return nil, err
}

// run serves c and its successors until the honest clients stop.
func (hc *honestConn) run(ctx context.Context, c *load.Conn) {
	h := hc.h
	for {
		err := hc.serve(c)
		h.open.Add(-1)
		hc.mu.Lock()
		hc.c = nil
		hc.closing = false
		hc.mu.Unlock()
		c.Close()
		if missing := hc.next.Load() - hc.expect.Load(); missing > 0 {
			h.lost.Add(missing)
		}
		hc.next.Store(0)
		hc.expect.Store(0)
		if h.stopped.Load() {
			return
		}
		if errors.Is(err, errChurned) {
			h.churned.Add(1)
		} else {
			h.dropped.Add(1)
			h.note("connection %d dropped: %v", hc.id, err)
		}
		c, err = h.dial(ctx)
		if err != nil {
			if !h.stopped.Load() {
				h.connectFails.Add(1)
				h.note("connection %d not reopened: %v", hc.id, err)
			}
			return
		}
		hc.mu.Lock()
		hc.c = c
		hc.mu.Unlock()
		h.open.Add(1)
	}
}

// serve reads c until it ends, and says why.
func (hc *honestConn) serve(c *load.Conn) error {
	h := hc.h
	var pong []byte
	want := make([]byte, 0, h.msgSize)
	for {
		op, n, prefix, err := c.ReadFrame()
		if err != nil {
			hc.mu.Lock()
			closing := hc.closing
			hc.mu.Unlock()
			if closing {
				return fmt.Errorf("closing handshake not completed: %w", err)
			}
			return err
		}
		switch op {
		case load.OpPing:
			pong = load.AppendFrame(pong[:0], load.OpPong, prefix)
			if err := hc.write(pong, false); err != nil {
				return err
			}
			h.pongs.Add(1)
		case load.OpPong:
		case load.OpClose:
			hc.mu.Lock()
			closing := hc.closing
			if !closing {
				hc.closing = true
				_, _ = c.Write(load.AppendFrame(nil, load.OpClose, prefix[:min(len(prefix), 2)]))
			}
			hc.mu.Unlock()
			if closing {
				return errChurned
			}
			return fmt.Errorf("server closed with %s", closeText(prefix))
		default:
			seq := hc.expect.Load()
			want = appendPayload(want[:0], hc.id, seq, h.msgSize)
			switch {
			case seq >= hc.next.Load():
				h.corrupt.Add(1)
				h.note("connection %d: echo %q not asked for", hc.id, prefix)
			case op != opOf(seq) || n != len(want) || !bytes.Equal(prefix, want):
				h.corrupt.Add(1)
				h.note("connection %d: echo %d came back as opcode %d, %d bytes %q", hc.id, seq, op, n, prefix)
				hc.expect.Add(1)
			default:
				h.received.Add(1)
				hc.expect.Add(1)
			}
		}
	}
}

func closeText(p []byte) string {
	if len(p) < 2 {
		return "no code"
	}
	return strconv.Itoa(int(binary.BigEndian.Uint16(p))) + " " + strconv.Quote(string(p[2:]))
}

// write writes p unless a close frame went out before; close marks p as
// the close frame.
func (hc *honestConn) write(p []byte, close bool) error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.c == nil || hc.closing {
		return nil
	}
	hc.closing = close
	_ = hc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := hc.c.Write(p)
	return err
}

// echo sends the connection's next message, if it is open.
func (hc *honestConn) echo(frame []byte) []byte {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.c == nil || hc.closing {
		return frame
	}
	seq := hc.next.Load()
	payload := appendPayload(make([]byte, 0, hc.h.msgSize), hc.id, seq, hc.h.msgSize)
	frame = load.AppendFrame(frame[:0], opOf(seq), payload)
	hc.next.Add(1)
	hc.h.sent.Add(1)
	_ = hc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = hc.c.Write(frame) // a failed write ends the reader too
	return frame
}

// churn starts a closing handshake; the reader reopens the connection
// when the server's close arrives. The server has by then echoed every
// message sent before the close.
func (hc *honestConn) churn() {
	if hc.write(load.AppendFrame(nil, load.OpClose, []byte{0x03, 0xe8}), true) == nil {
		hc.mu.Lock()
		if hc.c != nil {
			// A server that never answers the close is a drop.
			_ = hc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		}
		hc.mu.Unlock()
	}
}

// opOf alternates text and binary messages, so that an echo with the
// wrong opcode shows.
func opOf(seq int64) byte {
	if seq%2 == 0 {
		return load.OpText
	}
	return load.OpBinary
}

// appendPayload appends message seq of connection id: "id:seq:" and
// letters that depend on both, size bytes in all (at least the prefix).
func appendPayload(dst []byte, id int, seq int64, size int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ':')
	for i := len(dst) - start; i < size; i++ {
		dst = append(dst, byte('a'+(int64(id)+seq+int64(i))%26))
	}
	return dst
}

// echoes sends an echo message on every connection once per interval,
// in turn, until ctx ends.
func (h *honest) echoes(ctx context.Context, interval time.Duration) {
	step := interval / time.Duration(len(h.conns))
	start := time.Now()
	var frame []byte
	for i := 0; ctx.Err() == nil; i++ {
		frame = h.conns[i%len(h.conns)].echo(frame)
		if d := time.Until(start.Add(time.Duration(i+1) * step)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}
}

// churn closes perMinute connections a minute, picked at random from
// seed, until ctx ends; each reopens once the server answered its close.
func (h *honest) churn(ctx context.Context, perMinute float64, seed uint64) {
	if perMinute <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	tick := time.NewTicker(time.Duration(float64(time.Minute) / perMinute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			h.conns[rng.IntN(len(h.conns))].churn()
		}
	}
}

// inFlight is the number of echoes sent and not yet back.
func (h *honest) inFlight() int64 {
	var n int64
	for _, hc := range h.conns {
		n += hc.next.Load() - hc.expect.Load()
	}
	return n
}

// drain waits up to d for every echo in flight to come back, and for the
// churned connections to be open again.
func (h *honest) drain(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if h.inFlight() == 0 && h.open.Load() == int64(len(h.conns)) {
			return
		}
	}
}

// counts returns the totals so far.
func (h *honest) counts() HonestCounts {
	return HonestCounts{
		Open: h.open.Load(), Sent: h.sent.Load(), Received: h.received.Load(), Lost: h.lost.Load(),
		Corrupt: h.corrupt.Load(), Dropped: h.dropped.Load(), Churned: h.churned.Load(),
		ConnectFails: h.connectFails.Load(), Pongs: h.pongs.Load(),
	}
}

// finalCounts stops the clients from reconnecting and counts the echoes
// still missing as lost; call it after drain and before close.
func (h *honest) finalCounts() HonestCounts {
	h.stopped.Store(true)
	c := h.counts()
	c.Lost += h.inFlight()
	return c
}

// notes returns the first reasons noted.
func (h *honest) notes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reasons...)
}

// close resets every connection and waits for the goroutines.
func (h *honest) close() {
	h.stopped.Store(true)
	for _, hc := range h.conns {
		if hc == nil {
			continue
		}
		hc.mu.Lock()
		if hc.c != nil {
			load.Reset(hc.c.Conn)
		}
		hc.mu.Unlock()
	}
	h.wg.Wait()
}
