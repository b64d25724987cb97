package tlsconn

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// DefaultTimeout is the handshake timeout used when
// [HandshakerConfig.Timeout] is zero.
const DefaultTimeout = 10 * time.Second

// defaultMaxInput is the default for HandshakerConfig.MaxInput.
const defaultMaxInput = 256 << 10

// HandshakerConfig configures a [Handshaker]. The zero value is ready to use.
type HandshakerConfig struct {
	// MaxConcurrent is the most handshakes that run at once, each on its
	// own short-lived goroutine. Zero means 256*GOMAXPROCS.
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
	// its Conn and buffered ClientHello (under 10 KiB), and its wait counts
	// against Timeout. Zero means 4*MaxConcurrent; a negative value means
	// none may wait.
	MaxQueued int

	// Timeout bounds each handshake, measured from the call to [Server]
	// (so it also covers waiting for the ClientHello and waiting in the
	// queue) to its completion; a late handshake fails with
	// [ErrHandshakeTimeout]. A handshake blocked in a tls.Config callback
	// (GetCertificate, say) fails only once the callback returns. Zero
	// means [DefaultTimeout]; a negative value means no timeout.
	Timeout time.Duration

	// MaxInput is the most ciphertext a connection may buffer before its
	// handshake completes; past it, [Conn.Feed] fails the handshake with
	// [ErrInputLimit]. It bounds the memory held by handshakes that are
	// queued or wait for their peer. Zero means 256 KiB: room for a large
	// client certificate chain and a request pipelined after the client's
	// Finished (a WebSocket upgrade, say). A TLS 1.3 client may start
	// sending application data as soon as it has sent its Finished, before
	// the server has processed it; servers that expect large uploads right
	// away need a larger value. A negative value means no limit.
	MaxInput int
}

// A Handshaker runs the handshakes of a server's connections on short-lived
// goroutines, bounding how many run at once and how many wait. Create one per
// server with [NewHandshaker] and pass it to every [Server] call.
//
// A Handshaker is safe for concurrent use.
type Handshaker struct {
	maxRunning int
	maxQueued  int
	timeout    time.Duration
	maxInput   int

	wg sync.WaitGroup // one per handshake goroutine

	mu      sync.Mutex // guards the fields below and Conn.prev/Conn.next
	closed  bool
	running connList // conns whose handshake goroutine runs
	queued  connList // conns waiting for a goroutine, oldest first
}

// NewHandshaker returns a Handshaker with the limits in cfg.
func NewHandshaker(cfg HandshakerConfig) *Handshaker {
	h := &Handshaker{
		maxRunning: cfg.MaxConcurrent,
		maxQueued:  cfg.MaxQueued,
		timeout:    cfg.Timeout,
		maxInput:   cfg.MaxInput,
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
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	switch {
	case h.maxInput == 0:
		h.maxInput = defaultMaxInput
	case h.maxInput < 0:
		h.maxInput = math.MaxInt
	}
	return h
}

// Close refuses new handshakes, fails those that are queued or running with
// [ErrHandshakerClosed] (calling their wake functions), and waits for every
// handshake goroutine to finish. A handshake blocked in a tls.Config callback
// (GetCertificate, say) is waited for until the callback returns.
//
// Close may be called concurrently with any method of any Conn, and more
// than once, but not from a wake function: it waits for the goroutines
// that call them.
func (h *Handshaker) Close() {
	var wake []func()
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for c := h.queued.pop(); c != nil; c = h.queued.pop() {
			c.sh.mu.Lock()
			if w := c.failLocked(ErrHandshakerClosed); w != nil {
				wake = append(wake, w)
			}
			c.sh.mu.Unlock()
		}
		for c := h.running.head; c != nil; c = c.next {
			c.sh.mu.Lock()
			if c.sh.stop == nil {
				c.sh.stop = ErrHandshakerClosed
			}
			c.sh.cond.Broadcast()
			c.sh.mu.Unlock()
		}
	}
	h.mu.Unlock()
	for _, w := range wake {
		w()
	}
	h.wg.Wait()
}

// start runs c's handshake on a new goroutine, or queues it, or refuses it.
// c's first record has arrived. It returns the error c failed with, if any.
func (h *Handshaker) start(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	if c.state != stateAwaitRecord { // the timer fired meanwhile
		return c.err
	}
	switch {
	case h.closed:
		c.failLocked(ErrHandshakerClosed)
		return ErrHandshakerClosed
	case h.running.n < h.maxRunning:
		h.runLocked(c)
		h.wg.Add(1)
		go h.run(c)
	case h.queued.n < h.maxQueued:
		c.state = stateQueued
		h.queued.push(c)
	default:
		c.failLocked(ErrTooManyHandshakes)
		return ErrTooManyHandshakes
	}
	return nil
}

// runLocked marks c as owned by a handshake goroutine. h.mu and c.sh.mu are
// held.
func (h *Handshaker) runLocked(c *Conn) {
	c.state = stateRunning
	c.sh.blocking = true
	h.running.push(c)
}

// run is a handshake goroutine: it runs c's handshake, then those of queued
// conns until the queue is empty.
func (h *Handshaker) run(c *Conn) {
	defer h.wg.Done()
	for c != nil {
		c.handshake()
		c = h.next(c)
	}
}

// next retires the finished conn done and returns the next queued conn, now
// running, or nil.
func (h *Handshaker) next(done *Conn) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running.remove(done)
	c := h.queued.pop()
	if c == nil {
		return nil
	}
	c.sh.mu.Lock()
	h.runLocked(c)
	c.sh.mu.Unlock()
	return c
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
