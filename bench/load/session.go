package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conn is one kept connection. Its goroutine reads frames and acts on them
// according to the session's current task.
type conn struct {
	s   *Session
	id  int
	nc  net.Conn
	fr  *frameReader
	wmu sync.Mutex // pongs, echoes and broadcasts come from two goroutines

	dead     atomic.Bool
	sentAt   atomic.Int64 // echo: when the message in flight was sent (ns)
	received atomic.Int64 // broadcast: messages received since Arm
}

// task is what a connection does with the data messages it receives.
type task struct {
	kind     int // taskIdle, taskEcho, taskBroadcast
	frame    []byte
	deadline int64 // echo: no message is sent after this (ns)
	rounds   int64 // broadcast: messages each connection expects
	wg       *sync.WaitGroup
}

const (
	taskIdle = iota
	taskEcho
	taskBroadcast
)

// Session is a set of kept connections to one target.
type Session struct {
	t     *Target
	conns []*conn
	task  atomic.Pointer[task]

	alive   atomic.Int64
	errs    atomic.Int64
	msgs    atomic.Int64
	lat     *shards
	started time.Time
	armCPU  time.Duration

	// broadcast bookkeeping, per round
	roundMax   []atomic.Int64 // latest arrival, ns after the send
	roundCount []atomic.Int64
}

// Open connects n connections, concurrency at a time, each retried up to
// retries times, and reports how it went. Connections that fail after their
// retries are left out; Open fails only if none connect.
func Open(ctx context.Context, t *Target, n, concurrency, retries int) (*Session, Result, error) {
	s := &Session{t: t, lat: newShards()}
	s.task.Store(&task{kind: taskIdle})
	req := upgradeRequest(t.Addr.String())
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
					nc, fr, err = t.dial(dctx, req)
					cancel()
					if err == nil {
						s.lat.record(i, time.Since(t0))
						c := &conn{s: s, nc: nc, fr: fr}
						mu.Lock()
						c.id = len(s.conns)
						s.conns = append(s.conns, c)
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
		Cmd:     "open",
		Conns:   len(s.conns),
		Failed:  failed.Load(),
		Seconds: time.Since(start).Seconds(),
		Lat:     EncodeHist(s.lat.merged()),
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
			c.data(n, prefix)
		}
	}
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
	case taskBroadcast:
		c.finishBroadcast(t)
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
		if c.write(t.frame) != nil {
			c.finishEcho(t)
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

// Echo has every connection send a size-byte binary message, wait for it to
// come back and send the next, for d.
func (s *Session) Echo(size int, d time.Duration) Result {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var wg sync.WaitGroup
	t := &task{kind: taskEcho, frame: appendFrame(nil, opBinary, payload), wg: &wg}
	s.lat.reset()
	s.msgs.Store(0)
	ru0 := rusage()
	start := time.Now()
	t.deadline = start.Add(d).UnixNano()
	s.task.Store(t)
	wg.Add(len(s.conns))
	for _, c := range s.conns {
		c.sentAt.Store(time.Now().UnixNano())
		if c.dead.Load() || c.write(t.frame) != nil {
			c.finishEcho(t)
		}
	}
	waitTimeout(&wg, d+30*time.Second)
	el := time.Since(start)
	s.task.Store(&task{kind: taskIdle})
	r := Result{Cmd: "echo", Size: size, Conns: int(s.alive.Load()), Msgs: s.msgs.Load(), Seconds: el.Seconds(),
		Lat: EncodeHist(s.lat.merged()), Errors: s.errs.Load()}
	r.addCPU(ru0)
	return r
}

// Arm prepares every connection to receive rounds broadcast messages.
func (s *Session) Arm(rounds int) {
	s.roundMax = make([]atomic.Int64, rounds)
	s.roundCount = make([]atomic.Int64, rounds)
	s.lat.reset()
	s.msgs.Store(0)
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
// messages of size bytes, one every interval.
func (s *Session) Send(rounds, size int, interval time.Duration) Result {
	var buf, payload []byte
	c := s.conns[0]
	t0 := time.Now()
	for round := range rounds {
		payload = append(payload[:0], "broadcast:"...)
		payload = appendStamp(payload, int64(round), time.Now().UnixNano())
		for len(payload) < len("broadcast:")+size {
			payload = append(payload, 'x')
		}
		buf = appendFrame(buf[:0], opText, payload)
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
		Errors: s.errs.Load(), Seconds: time.Since(s.started).Seconds()}
	r.addCPU(s.armCPU)
	for i := range s.roundMax {
		r.RoundMaxNs = append(r.RoundMaxNs, s.roundMax[i].Load())
		r.RoundCount = append(r.RoundCount, s.roundCount[i].Load())
	}
	return r
}

// Stats reports the live connections and the process's CPU time so far.
func (s *Session) Stats() Result {
	r := Result{Cmd: "stats", Conns: int(s.alive.Load()), Errors: s.errs.Load()}
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
