package tlsconn

import (
	"context"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"
)

// DefaultTimeout is the handshake timeout used when
// [HandshakerConfig.Timeout] is zero.
const DefaultTimeout = 10 * time.Second

// defaultMaxInput is the default for HandshakerConfig.MaxInput.
const defaultMaxInput = 256 << 10

// idleLinger is how long a handshake goroutine with nothing left to do waits
// for the next handshake before it exits. A new goroutine starts on a small
// stack that crypto/tls's server handshake outgrows more than once, each
// time copying it; a goroutine that is reused keeps the stack it grew. A
// second keeps them through a steady stream of connections without
// holding them through a quiet spell.
const idleLinger = time.Second

// MaxWaitingInput is the most ciphertext a handshake may buffer before its
// goroutine runs: while its first record is incomplete and while it is
// queued. It is what such a handshake needs: the largest first record a
// client may send (a 5-byte header and 16 KiB, RFC 8446 Section 5.1) and 1 KiB
// for what may follow it before the server answers (a TLS 1.3 client's
// compatibility ChangeCipherSpec, say). A [HandshakerConfig.MaxInput] below it
// applies instead.
const MaxWaitingInput = recordHeaderLen + maxFirstRecordLen + 1<<10

// HandshakerConfig configures a [Handshaker]. The zero value is ready to use.
type HandshakerConfig struct {
	// MaxConcurrent is the most handshakes that run at once, each on its
	// own goroutine. Zero means 256*GOMAXPROCS. A goroutine whose handshake
	// is over takes the next queued one, or waits up to a second for a new
	// one before it exits, so that a stream of connections reuses a few
	// goroutines (and the stacks they grew) instead of starting one each.
	//
	// A handshake goroutine spends most of its life blocked, waiting one
	// round trip (tens to hundreds of milliseconds) for the client's
	// Finished, while its CPU work is short: a core completes a few
	// thousand server handshakes a second (TLS 1.3, ECDSA P-256,
	// X25519MLKEM768). A bound near the number of CPUs would therefore cap
	// throughput at a few handshakes per round trip; keeping a core busy
	// across a 60 ms round trip takes a couple of hundred handshakes in
	// flight. The bound is there for memory: an
	// in-flight handshake holds about 25 KiB (an 8 KiB stack and its
	// handshake state), so the default caps it near 6 MiB per CPU.
	MaxConcurrent int

	// MaxQueued is how many handshakes may wait for a free slot once
	// MaxConcurrent run; further ones are refused with
	// [ErrTooManyHandshakes]. A queued handshake holds no goroutine, only
	// its Conn and at most [MaxWaitingInput] (17 KiB) of buffered input,
	// and its wait counts against Timeout. Zero means 4*MaxConcurrent; a
	// negative value means none may wait.
	MaxQueued int

	// MaxPerIP is the most handshakes, running and queued together, that
	// one client address may have; further ones from that address are
	// refused with [ErrTooManyPerIP], so that one address, say one that
	// sends ClientHellos and then nothing, cannot take every slot and lock
	// other clients out until its handshakes time out. An IPv6 address
	// counts with its /64 prefix, which one host typically has to itself.
	// Connections given no address (see [Server]) are not counted. Zero
	// means a sixteenth of MaxConcurrent+MaxQueued, at least 8 but at most
	// half of MaxConcurrent (at least 1), so that one address never holds
	// every running slot; a negative value means no per-address bound.
	MaxPerIP int

	// Timeout bounds each handshake, measured from the call to [Server]
	// (so it also covers waiting for the ClientHello and waiting in the
	// queue) to its completion; a late handshake fails with
	// [ErrHandshakeTimeout]. A handshake blocked in a tls.Config callback
	// (GetCertificate, say) fails only once the callback returns. Zero
	// means [DefaultTimeout]; a negative value means no timeout.
	Timeout time.Duration

	// MaxInput is the most ciphertext a connection may buffer while its
	// handshake goroutine runs; past it, [Conn.Feed] fails the handshake
	// with [ErrInputLimit]. Before the goroutine runs, the bound is
	// [MaxWaitingInput] (or MaxInput, if smaller). Zero means 256 KiB: room
	// for a large client certificate chain and a request pipelined after
	// the client's Finished (a WebSocket upgrade, say). A TLS 1.3 client
	// may start sending application data as soon as it has sent its
	// Finished, before the server has processed it; servers that expect
	// large uploads right away need a larger value. A negative value means
	// no limit.
	MaxInput int
}

// A Handshaker runs the handshakes of a server's connections on short-lived
// goroutines, bounding how many run at once, how many wait, and how many of
// either one client address may have. Create one per server with
// [NewHandshaker] and pass it to every [Server] call.
//
// A Handshaker is safe for concurrent use.
type Handshaker struct {
	maxRunning int
	maxQueued  int
	maxPerIP   int
	timeout    time.Duration
	maxInput   int
	maxWaiting int // min(MaxWaitingInput, maxInput)

	// done is closed once the Handshaker is closed and no handshake
	// goroutine is left.
	done chan struct{}

	mu         sync.Mutex // guards the fields below and Conn.prev/Conn.next/Conn.slot
	closed     bool
	goroutines int                // handshake goroutines alive, running or idle
	running    connList           // conns whose handshake goroutine runs
	idle       []chan *Conn       // idle goroutines' hand-over channels, the most recent last
	queued     connList           // conns waiting for a goroutine, oldest first
	perIP      map[netip.Addr]int // running and queued handshakes by Conn.slot
}

// NewHandshaker returns a Handshaker with the limits in cfg.
func NewHandshaker(cfg HandshakerConfig) *Handshaker {
	h := &Handshaker{
		maxRunning: cfg.MaxConcurrent,
		maxQueued:  cfg.MaxQueued,
		maxPerIP:   cfg.MaxPerIP,
		timeout:    cfg.Timeout,
		maxInput:   cfg.MaxInput,
		done:       make(chan struct{}),
		perIP:      make(map[netip.Addr]int),
	}
	if h.maxRunning <= 0 {
		h.maxRunning = 256 * runtime.GOMAXPROCS(0)
	}
	switch {
	case h.maxQueued == 0:
		h.maxQueued = 4 * h.maxRunning
	case h.maxQueued < 0:
		h.maxQueued = 0
	}
	switch {
	case h.maxPerIP == 0:
		h.maxPerIP = max(1, min(max(8, (h.maxRunning+h.maxQueued)/16), h.maxRunning/2))
	case h.maxPerIP < 0:
		h.maxPerIP = math.MaxInt
	}
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	switch {
	case h.maxInput == 0:
		h.maxInput = defaultMaxInput
	case h.maxInput < 0:
		h.maxInput = math.MaxInt
	}
	h.maxWaiting = min(MaxWaitingInput, h.maxInput)
	return h
}

// Close refuses new handshakes and fails those that are queued or running
// with [ErrHandshakerClosed]. It does not wait: queued handshakes fail at
// once (their wake functions are called before Close returns), and running
// ones are told to stop; their goroutines report the failure through wake
// and exit as soon as crypto/tls returns control, which a goroutine blocked
// in a tls.Config callback (GetCertificate, say) does only when the callback
// returns. Such a goroutine then sends nothing more. [Handshaker.Wait] waits
// for the goroutines.
//
// Close may be called concurrently with any method of any Conn, more than
// once, and from a wake function.
func (h *Handshaker) Close() {
	var wake []func()
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for c := h.queued.pop(); c != nil; c = h.queued.pop() {
			h.forgetLocked(c)
			c.sh.mu.Lock()
			if w := c.failLocked(ErrHandshakerClosed); w != nil {
				wake = append(wake, w)
			}
			c.sh.mu.Unlock()
		}
		for _, ch := range h.idle {
			ch <- nil // the goroutine exits
		}
		h.idle = nil
		for c := h.running.head; c != nil; c = c.next {
			c.sh.mu.Lock()
			if c.sh.stop == nil {
				c.sh.stop = ErrHandshakerClosed
			}
			c.sh.cond.Broadcast()
			c.sh.mu.Unlock()
		}
		h.checkIdleLocked()
	}
	h.mu.Unlock()
	for _, w := range wake {
		w()
	}
}

// Wait waits until the Handshaker is closed and every handshake goroutine
// has exited, or until ctx is done, and then returns ctx's error. Call it
// after [Handshaker.Close], not from a wake function.
func (h *Handshaker) Wait(ctx context.Context) error {
	select {
	case <-h.done:
		return nil // even if ctx is done as well
	default:
	}
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkIdleLocked closes h.done once h is closed and the last goroutine has
// gone. h.mu is held.
func (h *Handshaker) checkIdleLocked() {
	if h.closed && h.goroutines == 0 {
		select {
		case <-h.done:
		default:
			close(h.done)
		}
	}
}

// start runs c's handshake on an idle goroutine or a new one, or queues it,
// or refuses it. c's first record has arrived. It returns the error c
// failed with, if any.
func (h *Handshaker) start(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	if c.state != stateAwaitRecord { // the timer fired meanwhile
		return c.err
	}
	var err error
	switch {
	case h.closed:
		err = ErrHandshakerClosed
	case c.peer.IsValid() && h.perIP[c.peer] >= h.maxPerIP:
		err = ErrTooManyPerIP
	case h.running.n < h.maxRunning:
		h.runLocked(c)
		if n := len(h.idle); n > 0 {
			h.idle[n-1] <- c // buffered, and empty while listed
			h.idle = h.idle[:n-1]
		} else {
			h.goroutines++
			go h.run(c)
		}
	case h.queued.n < h.maxQueued:
		c.state = stateQueued
		h.queued.push(c)
	default:
		err = ErrTooManyHandshakes
	}
	if err != nil {
		c.failLocked(err)
		return err
	}
	if c.peer.IsValid() {
		h.perIP[c.peer]++
		c.slot = c.peer
	}
	return nil
}

// forgetLocked gives back the per-address share of c, which has left the
// running or the queued list. h.mu is held.
func (h *Handshaker) forgetLocked(c *Conn) {
	if !c.slot.IsValid() {
		return
	}
	if n := h.perIP[c.slot] - 1; n > 0 {
		h.perIP[c.slot] = n
	} else {
		delete(h.perIP, c.slot)
	}
	c.slot = netip.Addr{}
}

// runLocked marks c as owned by a handshake goroutine. h.mu and c.sh.mu are
// held.
func (h *Handshaker) runLocked(c *Conn) {
	c.state = stateRunning
	c.sh.blocking = true
	h.running.push(c)
}

// run is a handshake goroutine: it runs c's handshake, then those of queued
// conns until the queue is empty, then those [Handshaker.start] hands it
// while it is idle, until it has been idle for idleLinger or h is closed.
func (h *Handshaker) run(c *Conn) {
	ch := make(chan *Conn, 1)
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for {
		c.handshake()
		if c = h.next(c, ch); c != nil {
			continue
		}
		if linger == nil {
			linger = time.NewTimer(idleLinger)
		} else {
			linger.Reset(idleLinger)
		}
		select {
		case c = <-ch:
		case <-linger.C:
			c = h.retire(ch)
		}
		if c == nil {
			h.mu.Lock()
			h.goroutines--
			h.checkIdleLocked()
			h.mu.Unlock()
			return
		}
	}
}

// next retires the finished conn done and returns the next queued conn, now
// running. With none queued it returns nil, having listed the calling
// goroutine as idle with its hand-over channel ch, unless h is closed; then
// the goroutine exits.
func (h *Handshaker) next(done *Conn, ch chan *Conn) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running.remove(done)
	h.forgetLocked(done)
	c := h.queued.pop()
	if c == nil {
		if h.closed {
			ch <- nil
		} else {
			h.idle = append(h.idle, ch)
		}
		return nil
	}
	c.sh.mu.Lock()
	h.runLocked(c)
	c.sh.mu.Unlock()
	return c
}

// retire takes the idle goroutine whose hand-over channel is ch off the idle
// list, its time being up. If start or Close took it first, it returns what
// they sent: a conn to run, or nil to exit.
func (h *Handshaker) retire(ch chan *Conn) *Conn {
	h.mu.Lock()
	i := slices.Index(h.idle, ch)
	if i >= 0 {
		h.idle = slices.Delete(h.idle, i, i+1)
	}
	h.mu.Unlock()
	if i >= 0 {
		return nil
	}
	return <-ch // sent under h.mu, before ch left the list
}

// connList is an intrusive doubly linked list of Conns, linked through
// Conn.prev and Conn.next; a Conn is in at most one list. Guarded by
// Handshaker.mu.
type connList struct {
	head, tail *Conn
	n          int
}

func (l *connList) push(c *Conn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *connList) remove(c *Conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	l.n--
}

func (l *connList) pop() *Conn {
	c := l.head
	if c != nil {
		l.remove(c)
	}
	return c
}
