package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wssd/wssd/internal/chatmsg"
)

// conn is one kept connection. Its goroutine reads frames and acts on them
// according to the session's current task.
type conn struct {
	s   *Session
	id  int
	nc  net.Conn
	fr  *frameReader
	wmu sync.Mutex // pongs, echoes and broadcasts come from two goroutines

	// inf is set when the server accepted permessage-deflate: msg gathers
	// a compressed message's frames, plain is what it inflates to.
	inf        *inflater
	msg, plain []byte
	inMsg      bool // msg is a compressed message waiting for its last frame

	dead     atomic.Bool
	sentAt   atomic.Int64 // echo: when the message in flight was sent (ns)
	received atomic.Int64 // broadcast: messages received since Arm

	// rate: when each message in flight was due to be sent (ns), oldest
	// first; replies come back in order.
	qmu   sync.Mutex
	q     []int64
	qhead int
}

// task is what a connection does with the data messages it receives.
type task struct {
	kind     int      // taskIdle, taskEcho, taskBroadcast, taskRate, taskSubscribe, taskStamp
	msgs     messages // echo: what each connection sends
	deadline int64    // echo: no message is sent after this (ns)
	rounds   int64    // broadcast: messages each connection expects
	wg       *sync.WaitGroup
}

const (
	taskIdle = iota
	taskEcho
	taskBroadcast
	taskRate
	taskSubscribe
	taskStamp // each message timed from the stamp it carries (Listen)
)

// messages are the frames connections send, the i-th connection the
// i-th frame modulo their number: plain, and compressed for connections
// on which permessage-deflate was negotiated.
type messages struct {
	plain, deflated [][]byte
}

func (m *messages) frame(c *conn) []byte {
	i := c.id % len(m.plain)
	if c.inf != nil && m.deflated != nil {
		return m.deflated[i]
	}
	return m.plain[i]
}

// Session is a set of kept connections to one target.
type Session struct {
	t     *Target
	conns []*conn
	task  atomic.Pointer[task]

	alive atomic.Int64
	errs  atomic.Int64
	msgs  atomic.Int64
	// compressed counts the data messages received compressed since the
	// command began.
	compressed atomic.Int64
	// deflated counts the connections on which permessage-deflate was
	// negotiated; clientBits is the narrowest window their servers
	// allowed the client.
	deflated   int
	clientBits int
	pending    atomic.Int64 // rate: messages sent and not yet back
	lat        *shards
	started    time.Time
	armCPU     time.Duration

	// broadcast bookkeeping, per round
	roundMax   []atomic.Int64 // latest arrival, ns after the send
	roundCount []atomic.Int64
}

// Open connects n connections, concurrency at a time, each retried up to
// retries times, and reports how it went. Connections that fail after their
// retries are left out; Open fails only if none connect.
func Open(ctx context.Context, t *Target, n, concurrency, retries int) (*Session, Result, error) {
	s := &Session{t: t, lat: newShards(), clientBits: 15}
	s.task.Store(&task{kind: taskIdle})
	req := t.request()
	ru0 := rusage()
	start := time.Now()
	var (
		mu     sync.Mutex
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
		lastEr atomic.Value
	)
	for range max(1, min(concurrency, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				var err error
				for range retries + 1 {
					t0 := time.Now()
					dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
					var nc net.Conn
					var fr *frameReader
					var deflate *deflateParams
					nc, fr, deflate, err = t.dial(dctx, req)
					cancel()
					if err == nil {
						s.lat.record(i, time.Since(t0))
						c := &conn{s: s, nc: nc, fr: fr}
						mu.Lock()
						c.id = len(s.conns)
						s.conns = append(s.conns, c)
						if deflate != nil {
							c.inf = newInflater(deflate)
							s.deflated++
							s.clientBits = min(s.clientBits, deflate.clientBits)
						}
						mu.Unlock()
						s.alive.Add(1)
						go c.run()
						break
					}
					if ctx.Err() != nil {
						break
					}
					if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EMFILE) {
						time.Sleep(50 * time.Millisecond)
					}
				}
				if err != nil {
					failed.Add(1)
					lastEr.Store(err.Error())
				}
			}
		})
	}
	wg.Wait()
	r := Result{
		Cmd:      "open",
		Conns:    len(s.conns),
		Deflated: s.deflated,
		Failed:   failed.Load(),
		Seconds:  time.Since(start).Seconds(),
		Lat:      EncodeHist(s.lat.merged()),
	}
	r.addCPU(ru0)
	if e, ok := lastEr.Load().(string); ok {
		r.LastError = e
	}
	s.lat.reset()
	if len(s.conns) == 0 {
		return nil, r, fmt.Errorf("load: no connection to %s: %s", t.Addr, r.LastError)
	}
	return s, r, nil
}

// write writes p in one call.
func (c *conn) write(p []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(p)
	c.wmu.Unlock()
	return err
}

func (c *conn) run() {
	defer func() {
		c.dead.Store(true)
		c.nc.Close()
		c.abandon()
		c.s.alive.Add(-1)
	}()
	var pong []byte
	for {
		op, n, prefix, err := c.fr.next()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.s.errs.Add(1)
			}
			return
		}
		switch op {
		case opPing:
			pong = appendFrame(pong[:0], opPong, prefix)
			if c.write(pong) != nil {
				return
			}
		case opPong:
		case opClose:
			_ = c.write(appendFrame(nil, opClose, nil))
			return
		default:
			if c.inf == nil || !c.compressedFrame(op) {
				c.deliver(n, prefix)
				continue
			}
			if c.inMsg {
				continue // more frames to come
			}
			if c.plain, err = c.inf.inflate(c.plain[:0], c.msg); err != nil {
				c.s.errs.Add(1)
				return
			}
			c.s.compressed.Add(1)
			c.deliver(len(c.plain), c.plain[:min(len(c.plain), prefixLen)])
		}
	}
}

// compressedFrame gathers the frame just read into c.msg if it belongs to a
// compressed message, and reports whether it did.
func (c *conn) compressedFrame(op byte) bool {
	switch {
	case op != opCont && c.fr.rsv1: // a compressed message's first frame
		c.msg = append(c.msg[:0], c.fr.whole...)
	case op == opCont && c.inMsg:
		c.msg = append(c.msg, c.fr.whole...)
	default:
		return false
	}
	c.inMsg = !c.fr.fin
	return true
}

// finishEcho ends the connection's part in an echo run, once.
func (c *conn) finishEcho(t *task) {
	if c.sentAt.Swap(0) != 0 {
		t.wg.Done()
	}
}

// finishBroadcast ends the connection's part in a broadcast, once.
func (c *conn) finishBroadcast(t *task) {
	if c.received.Swap(t.rounds) < t.rounds {
		t.wg.Done()
	}
}

// abandon releases whoever waits for this connection.
func (c *conn) abandon() {
	t := c.s.task.Load()
	switch t.kind {
	case taskEcho:
		c.finishEcho(t)
	case taskBroadcast, taskSubscribe:
		c.finishBroadcast(t)
	}
}

// deliver hands a data message to the task: its payload, or on a Pusher or
// Centrifugo connection what the message means.
func (c *conn) deliver(n int, prefix []byte) {
	switch c.s.t.Proto {
	case Pusher:
		c.pusherData(n, prefix)
	case Centrifugo:
		c.centrifugoData(n, prefix)
	default:
		c.data(n, prefix)
	}
}

func (c *conn) data(n int, prefix []byte) {
	now := time.Now().UnixNano()
	t := c.s.task.Load()
	switch t.kind {
	case taskEcho:
		sent := c.sentAt.Load()
		if sent == 0 {
			return
		}
		c.s.lat.record(c.id, time.Duration(now-sent))
		c.s.msgs.Add(1)
		if now >= t.deadline {
			c.finishEcho(t)
			return
		}
		c.sentAt.Store(now)
		if c.write(t.msgs.frame(c)) != nil {
			c.finishEcho(t)
		}
	case taskRate:
		due, ok := c.pop()
		if !ok {
			return
		}
		c.s.lat.record(c.id, time.Duration(now-due))
		c.s.msgs.Add(1)
		c.s.pending.Add(-1)
	case taskSubscribe:
		if c.received.Swap(1) == 0 {
			c.s.msgs.Add(1)
			t.wg.Done()
		}
	case taskStamp:
		if _, sent, ok := parseStamp(prefix); ok {
			c.s.lat.record(c.id, time.Duration(now-sent))
			c.s.msgs.Add(1)
		}
	case taskBroadcast:
		round, sent, ok := parseStamp(prefix)
		if !ok || round >= int64(len(c.s.roundMax)) {
			return
		}
		d := now - sent
		c.s.lat.record(c.id, time.Duration(d))
		c.s.msgs.Add(1)
		c.s.roundCount[round].Add(1)
		for m := c.s.roundMax[round].Load(); d > m && !c.s.roundMax[round].CompareAndSwap(m, d); m = c.s.roundMax[round].Load() {
		}
		if c.received.Add(1) == t.rounds {
			t.wg.Done()
		}
	}
}

// binaryFrame returns a size-byte binary message, masked.
func binaryFrame(size int) []byte {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	return appendFrame(nil, opBinary, payload)
}

// chatFrames returns k text messages of size bytes, JSON chat messages
// (package chatmsg), and, when connections negotiated permessage-deflate,
// the same compressed.
func (s *Session) chatFrames(size, k int) messages {
	var m messages
	for i := range k {
		p := chatmsg.Append(nil, i, size)
		m.plain = append(m.plain, appendFrame(nil, opText, p))
		if s.deflated > 0 {
			m.deflated = append(m.deflated, appendFrameRsv(nil, opText, rsv1, compressMessage(p, s.clientBits)))
		}
	}
	return m
}

// Echo has every connection send a size-byte binary message, wait for it to
// come back and send the next, for d. With chat, the messages are JSON
// text (package chatmsg; 16 different ones over the connections),
// compressed on connections that negotiated permessage-deflate.
func (s *Session) Echo(size int, d time.Duration, chat bool) Result {
	var wg sync.WaitGroup
	t := &task{kind: taskEcho, msgs: messages{plain: [][]byte{binaryFrame(size)}}, wg: &wg}
	if chat {
		t.msgs = s.chatFrames(size, 16)
	}
	s.lat.reset()
	s.msgs.Store(0)
	s.compressed.Store(0)
	ru0 := rusage()
	start := time.Now()
	t.deadline = start.Add(d).UnixNano()
	s.task.Store(t)
	wg.Add(len(s.conns))
	for _, c := range s.conns {
		c.sentAt.Store(time.Now().UnixNano())
		if c.dead.Load() || c.write(t.msgs.frame(c)) != nil {
			c.finishEcho(t)
		}
	}
	waitTimeout(&wg, d+30*time.Second)
	el := time.Since(start)
	s.task.Store(&task{kind: taskIdle})
	r := Result{Cmd: "echo", Size: size, Conns: int(s.alive.Load()), Msgs: s.msgs.Load(), Seconds: el.Seconds(),
		Lat: EncodeHist(s.lat.merged()), Errors: s.errs.Load(), Compressed: s.compressed.Load()}
	r.addCPU(ru0)
	return r
}

// push records that a message due at the given time was sent.
func (c *conn) push(due int64) {
	c.qmu.Lock()
	c.q = append(c.q, due)
	c.qmu.Unlock()
}

// pop returns when the oldest message in flight was due.
func (c *conn) pop() (int64, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qhead == len(c.q) {
		return 0, false
	}
	due := c.q[c.qhead]
	c.qhead++
	if c.qhead == len(c.q) {
		c.q, c.qhead = c.q[:0], 0
	}
	return due, true
}

// Rate sends size-byte binary messages at perSecond in total, for d, to the
// connections in turn, whether or not earlier ones came back, and waits up
// to drain for the last replies. A message's latency runs from when it was
// due, not from when it went out: a sender that falls behind (or a server
// that holds it up) shows in the percentiles instead of silently lowering
// the rate (no coordinated omission). Result.Msgs counts replies,
// Result.Sent the messages sent.
func (s *Session) Rate(perSecond float64, size int, d, drain time.Duration) Result {
	frame := binaryFrame(size)
	for _, c := range s.conns {
		c.qmu.Lock()
		c.q, c.qhead = c.q[:0], 0
		c.qmu.Unlock()
	}
	s.lat.reset()
	s.msgs.Store(0)
	s.pending.Store(0)
	s.task.Store(&task{kind: taskRate})
	ru0 := rusage()
	interval := time.Duration(float64(time.Second) / max(perSecond, 1e-3))
	start := time.Now()
	var sent, skipped int64
	for next := 0; ; {
		el := time.Since(start)
		if el >= d {
			break
		}
		for due := int64(el/interval) + 1; sent < due; sent++ {
			c := s.conns[next%len(s.conns)]
			next++
			if c.dead.Load() {
				skipped++
				continue
			}
			c.push(start.Add(time.Duration(sent) * interval).UnixNano())
			s.pending.Add(1)
			if c.write(frame) != nil {
				s.errs.Add(1)
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(sent) * interval)))
	}
	el := time.Since(start)
	for wait := time.Now().Add(drain); s.pending.Load() > 0 && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	s.task.Store(&task{kind: taskIdle})
	r := Result{Cmd: "rate", Size: size, Conns: int(s.alive.Load()), Msgs: s.msgs.Load(), Sent: sent - skipped,
		Seconds: el.Seconds(), Lat: EncodeHist(s.lat.merged()), Errors: s.errs.Load()}
	r.addCPU(ru0)
	return r
}

// Arm prepares every connection to receive rounds broadcast messages.
func (s *Session) Arm(rounds int) {
	s.roundMax = make([]atomic.Int64, rounds)
	s.roundCount = make([]atomic.Int64, rounds)
	s.lat.reset()
	s.msgs.Store(0)
	s.compressed.Store(0)
	var wg sync.WaitGroup
	for _, c := range s.conns {
		c.received.Store(0)
	}
	wg.Add(len(s.conns))
	t := &task{kind: taskBroadcast, rounds: int64(rounds), wg: &wg}
	s.task.Store(t)
	for _, c := range s.conns {
		if c.dead.Load() {
			c.finishBroadcast(t)
		}
	}
	s.started = time.Now()
	s.armCPU = rusage()
}

// Send asks the server, through the first connection, to broadcast rounds
// messages of size bytes, one every interval. With chat, the message is
// its stamp followed by a JSON chat message (package chatmsg) rather than
// x's, and it is sent compressed if the connection negotiated
// permessage-deflate.
func (s *Session) Send(rounds, size int, interval time.Duration, chat bool) Result {
	var buf, payload []byte
	c := s.conns[0]
	t0 := time.Now()
	for round := range rounds {
		payload = append(payload[:0], "broadcast:"...)
		payload = appendStamp(payload, int64(round), time.Now().UnixNano())
		if pad := len("broadcast:") + size - len(payload); chat && pad > 0 {
			payload = chatmsg.Append(payload, round, pad)
		}
		for len(payload) < len("broadcast:")+size {
			payload = append(payload, 'x')
		}
		if chat && c.inf != nil {
			buf = appendFrameRsv(buf[:0], opText, rsv1, compressMessage(payload, s.clientBits))
		} else {
			buf = appendFrame(buf[:0], opText, payload)
		}
		if err := c.write(buf); err != nil {
			return Result{Cmd: "send", LastError: err.Error()}
		}
		time.Sleep(time.Until(t0.Add(time.Duration(round+1) * interval)))
	}
	return Result{Cmd: "send", Msgs: int64(rounds), Seconds: time.Since(t0).Seconds()}
}

// Collect waits up to timeout for the armed broadcasts and reports them.
func (s *Session) Collect(timeout time.Duration) Result {
	t := s.task.Load()
	if t.kind == taskBroadcast {
		waitTimeout(t.wg, timeout)
	}
	s.task.Store(&task{kind: taskIdle})
	r := Result{Cmd: "collect", Conns: int(s.alive.Load()), Msgs: s.msgs.Load(), Lat: EncodeHist(s.lat.merged()),
		Errors: s.errs.Load(), Seconds: time.Since(s.started).Seconds(), Compressed: s.compressed.Load()}
	r.addCPU(s.armCPU)
	for i := range s.roundMax {
		r.RoundMaxNs = append(r.RoundMaxNs, s.roundMax[i].Load())
		r.RoundCount = append(r.RoundCount, s.roundCount[i].Load())
	}
	return r
}

// subscribeMessage appends the i-th connection's subscription: a Pusher
// client's pusher:subscribe to a private channel, with its signature, about
// 150 bytes of JSON.
func subscribeMessage(dst []byte, i int) []byte {
	sig := sha256.Sum256(fmt.Appendf(nil, "%d:private-chat-%d", i, i))
	dst = append(dst, `{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:`...)
	dst = hex.AppendEncode(dst, sig[:])
	return fmt.Appendf(dst, `","channel":"private-chat-%d"}}`, i)
}

// Subscribe has every connection send one small text message after
// connecting, as a Pusher client subscribes to its channel (compressed where
// permessage-deflate was negotiated), and waits up to timeout for each to
// get an answer (echo servers send it back): what a connection holds after
// it is then what a real client's holds. Result.Msgs counts the connections
// answered.
func (s *Session) Subscribe(timeout time.Duration) Result {
	var p []byte
	return s.subscribeEach("subscribe", timeout, func(frame []byte, c *conn) []byte {
		p = subscribeMessage(p[:0], c.id)
		if c.inf != nil {
			return appendFrameRsv(frame, opText, rsv1, compressMessage(p, s.clientBits))
		}
		return appendFrame(frame, opText, p)
	})
}

// subscribeEach sends each connection the frame that frameFor appends to
// its argument, and waits up to timeout for each to be answered (see
// conn.deliver for what counts): Subscribe's and PusherSubscribe's shared
// run. The result is named cmd.
func (s *Session) subscribeEach(cmd string, timeout time.Duration, frameFor func(frame []byte, c *conn) []byte) Result {
	var wg sync.WaitGroup
	t := &task{kind: taskSubscribe, rounds: 1, wg: &wg}
	s.msgs.Store(0)
	s.compressed.Store(0)
	for _, c := range s.conns {
		c.received.Store(0)
	}
	wg.Add(len(s.conns))
	s.task.Store(t)
	ru0 := rusage()
	start := time.Now()
	var frame []byte
	for _, c := range s.conns {
		frame = frameFor(frame[:0], c)
		if c.dead.Load() || c.write(frame) != nil {
			c.finishBroadcast(t)
		}
	}
	waitTimeout(&wg, timeout)
	s.task.Store(&task{kind: taskIdle})
	r := Result{Cmd: cmd, Conns: int(s.alive.Load()), Msgs: s.msgs.Load(), Compressed: s.compressed.Load(),
		Errors: s.errs.Load(), Seconds: time.Since(start).Seconds()}
	r.addCPU(ru0)
	return r
}

// Stats reports the live connections, the messages counted by the task
// running (listen: the events received so far) and the process's CPU time
// so far.
func (s *Session) Stats() Result {
	r := Result{Cmd: "stats", Conns: int(s.alive.Load()), Errors: s.errs.Load(), Msgs: s.msgs.Load()}
	r.addCPU(rusageZero)
	return r
}

// Close closes every connection.
func (s *Session) Close() {
	for _, c := range s.conns {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.nc.Close()
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// appendStamp writes "round,unixnano," at the start of a broadcast payload.
func appendStamp(b []byte, round, nanos int64) []byte {
	b = strconv.AppendInt(b, round, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, nanos, 10)
	return append(b, ',')
}

func parseStamp(p []byte) (round, nanos int64, ok bool) {
	var fields [2]int64
	f := 0
	start := 0
	for i, ch := range p {
		if ch != ',' {
			continue
		}
		v, err := strconv.ParseInt(string(p[start:i]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		fields[f] = v
		f++
		start = i + 1
		if f == 2 {
			return fields[0], fields[1], true
		}
	}
	return 0, 0, false
}
