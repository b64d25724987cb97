package engine

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/wssd/wssd/wsproto"
)

// Stats is a snapshot of a server's counters, taken by [Server.Stats]. The
// totals (uint64) only grow over a server's life; Open and Admitted go up
// and down.
//
// Each figure is read atomically, but not all at the same instant: while
// connections open and close, Open may differ from Upgraded less Closed by
// the few that are changing, and the sum of Closes from Closed likewise.
type Stats struct {
	// Serving is true from Start until Shutdown begins or the server stops:
	// the server takes new connections.
	Serving bool
	// Open is the number of upgraded connections not yet closed: OnOpen
	// was called for them and OnClose not yet.
	Open int64
	// Admitted is the number of connections the acceptor admitted that are
	// not closed yet, upgraded or not: what Config.MaxConns bounds.
	Admitted int64

	// Accepted counts the TCP connections taken from the listeners,
	// including those then refused (MaxConns, MaxConnsPerIP).
	Accepted uint64
	// Upgraded counts the connections that completed the WebSocket
	// upgrade (OnOpen was called for them).
	Upgraded uint64
	// Closed counts the upgraded connections that have closed (OnClose
	// was called for them); Closes says why.
	Closed uint64
	// Closes counts closed connections by cause, indexed by CloseCause.
	Closes [numCloseCauses]uint64

	// Refused counts connections refused before or during the upgrade, by
	// reason, indexed by RefusalReason.
	Refused [numRefusalReasons]uint64
	// UpgradeRefused counts the upgrade requests answered with an HTTP
	// error, by status (a status outside 100-599, which only a handler's
	// RejectError can give, counts under 0); they add up to
	// Refused[RefusedUpgrade]. It holds only the statuses answered at least
	// once, and is the caller's to keep.
	UpgradeRefused map[int]uint64
	// AcceptDelayed counts connections held back by Config.AcceptRate (not
	// refused: they are served later).
	AcceptDelayed uint64
	// AcceptErrors counts failures of accept(2) other than running out of
	// file descriptors, and hand-overs to an event loop that failed.
	AcceptErrors uint64

	// MessagesIn counts the data messages delivered to OnMessage;
	// CompressedIn those of them that arrived compressed.
	MessagesIn, CompressedIn uint64
	// MessagesOut counts the data messages queued by Send, SendPrepared
	// and Broadcast; CompressedOut those of them queued compressed.
	MessagesOut, CompressedOut uint64
	// BufferFull counts the data messages refused with ErrBufferFull: the
	// connection had Config.MaxQueuedBytes waiting.
	BufferFull uint64
	// BytesIn counts the bytes read from upgraded connections after their
	// upgrade request: TLS records for wss, frames for ws, as the "ws
	// close" log line's bytes_in.
	BytesIn uint64
	// BytesOut counts the bytes written to upgraded connections after the
	// 101 response, as the "ws close" log line's bytes_out: for a closed
	// connection what the kernel took; for an open one, also what still
	// waits in the event loop's buffer for the socket.
	BytesOut uint64
}

// CloseCause is why an upgraded connection closed, as Stats counts it.
type CloseCause uint8

const (
	// ClosedByPeer: the peer began the closing handshake.
	ClosedByPeer CloseCause = iota
	// ClosedByApp: Conn.Close began the closing handshake (while the
	// connection's send queue had room).
	ClosedByApp
	// ClosedBufferFull: Conn.Close began the closing handshake while the
	// connection's send queue was full (Send had returned ErrBufferFull):
	// the application dropped a peer that does not read.
	ClosedBufferFull
	// ClosedProtocolError: the peer broke RFC 6455 or RFC 7692 (close 1002,
	// 1007 or 1009).
	ClosedProtocolError
	// ClosedPongTimeout: the peer did not answer a ping in time.
	ClosedPongTimeout
	// ClosedIdleTimeout: nothing was received for Config.IdleTimeout.
	ClosedIdleTimeout
	// ClosedShutdown: Server.Shutdown closed the connection.
	ClosedShutdown
	// ClosedTransport: the connection ended without a closing handshake
	// that anyone began: the peer closed or reset TCP, a read or write
	// failed, TLS failed or ended with close_notify.
	ClosedTransport
	numCloseCauses
)

var closeCauseNames = [numCloseCauses]string{
	ClosedByPeer:        "peer",
	ClosedByApp:         "app",
	ClosedBufferFull:    "buffer_full",
	ClosedProtocolError: "protocol_error",
	ClosedPongTimeout:   "pong_timeout",
	ClosedIdleTimeout:   "idle_timeout",
	ClosedShutdown:      "shutdown",
	ClosedTransport:     "transport",
}

// String returns the cause's name in snake case, as a metric label.
func (c CloseCause) String() string { return nameOf(closeCauseNames[:], c) }

// RefusalReason is why a connection was refused before it was upgraded,
// as Stats counts it.
type RefusalReason uint8

const (
	// RefusedMaxConns: Config.MaxConns connections were open.
	RefusedMaxConns RefusalReason = iota
	// RefusedPerIP: the client had Config.MaxConnsPerIP connections open.
	RefusedPerIP
	// RefusedNoFiles: the process was out of file descriptors (EMFILE,
	// ENFILE).
	RefusedNoFiles
	// RefusedUpgrade: the upgrade request was answered with an HTTP error
	// (Stats.UpgradeRefused by status).
	RefusedUpgrade
	// RefusedTLSHandshake: the TLS handshake failed.
	RefusedTLSHandshake
	// RefusedTLSBusy: no TLS handshake could start: as many as
	// Config.MaxConcurrentHandshakes allows were running and queued, or the
	// client address's share of them (Config.MaxHandshakesPerIP).
	RefusedTLSBusy
	// RefusedProxyHeader: Config.ProxyProtocol is on and the connection did
	// not start with a valid PROXY header from a trusted proxy.
	RefusedProxyHeader
	// RefusedHandshakeTimeout: the upgrade, TLS handshake included, did not
	// complete within Config.HandshakeTimeout.
	RefusedHandshakeTimeout
	numRefusalReasons
)

var refusalReasonNames = [numRefusalReasons]string{
	RefusedMaxConns:         "max_conns",
	RefusedPerIP:            "max_conns_per_ip",
	RefusedNoFiles:          "no_files",
	RefusedUpgrade:          "upgrade",
	RefusedTLSHandshake:     "tls_handshake",
	RefusedTLSBusy:          "tls_busy",
	RefusedProxyHeader:      "proxy_header",
	RefusedHandshakeTimeout: "handshake_timeout",
}

// String returns the reason's name in snake case, as a metric label.
func (r RefusalReason) String() string { return nameOf(refusalReasonNames[:], r) }

// nameOf returns the name of e, or "unknown" for a value out of range.
func nameOf[E ~uint8](names []string, e E) string {
	if int(e) < len(names) {
		return names[e]
	}
	return "unknown"
}

// Stats returns the server's counters. It may be called from any goroutine,
// before Start and after Shutdown too; it does not wait for the event
// loops.
func (s *Server) Stats() Stats {
	st := Stats{
		Serving:       s.started.Load() && !s.draining.Load() && !s.stopped(),
		Open:          s.open.Load(),
		Admitted:      s.conns.Load(),
		Accepted:      s.counts.accepted.Load(),
		AcceptDelayed: s.counts.delayed.Load(),
		AcceptErrors:  s.counts.acceptErrors.Load(),
	}
	for i := range st.Refused {
		st.Refused[i] = s.counts.refused[i].Load()
	}
	for status := range s.counts.upgradeRefused {
		if n := s.counts.upgradeRefused[status].Load(); n > 0 {
			if st.UpgradeRefused == nil {
				st.UpgradeRefused = make(map[int]uint64)
			}
			st.UpgradeRefused[status] = n
		}
	}
	s.loops.Range(func(_, v any) bool {
		v.(*loop).stats.addTo(&st)
		return true
	})
	return st
}

// stopped reports whether the event loops have stopped.
func (s *Server) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serverCounts are the counters of events that are not per message: the
// acceptor's, and refusals, which the refusal log serializes anyway.
type serverCounts struct {
	accepted       atomic.Uint64
	delayed        atomic.Uint64
	acceptErrors   atomic.Uint64
	refused        [numRefusalReasons]atomic.Uint64
	upgradeRefused [600]atomic.Uint64 // by status; 0 for one out of range
}

// refuse counts a refusal for reason.
func (s *Server) refuse(reason RefusalReason) { s.counts.refused[reason].Add(1) }

// refuseUpgrade counts an upgrade request answered with status.
func (s *Server) refuseUpgrade(status int) {
	if status < 100 || status >= len(s.counts.upgradeRefused) {
		status = 0
	}
	s.counts.upgradeRefused[status].Add(1)
	s.refuse(RefusedUpgrade)
}

// loopStats are one event loop's counters of what happens per message and
// per connection; Stats sums them over the loops, so that no counter is
// shared by the loops. Each group is on cache lines of its own: the first
// is written by the loop only, the second also by the goroutines that send
// to the loop's connections. They are atomic only for Stats to read them
// while the loop runs; an uncontended atomic add costs a few nanoseconds.
type loopStats struct {
	_ cpu.CacheLinePad
	// Written on the loop.
	bytesIn, bytesOut    atomic.Uint64
	msgsIn, compressedIn atomic.Uint64
	upgraded, closed     atomic.Uint64
	closes               [numCloseCauses]atomic.Uint64
	_                    cpu.CacheLinePad
	// Written by Send, SendPrepared and Broadcast, from any goroutine.
	msgsOut, compressedOut atomic.Uint64
	bufferFull             atomic.Uint64
	_                      cpu.CacheLinePad
}

func (ls *loopStats) addTo(st *Stats) {
	st.BytesIn += ls.bytesIn.Load()
	st.BytesOut += ls.bytesOut.Load()
	st.MessagesIn += ls.msgsIn.Load()
	st.CompressedIn += ls.compressedIn.Load()
	st.Upgraded += ls.upgraded.Load()
	st.Closed += ls.closed.Load()
	for i := range st.Closes {
		st.Closes[i] += ls.closes[i].Load()
	}
	st.MessagesOut += ls.msgsOut.Load()
	st.CompressedOut += ls.compressedOut.Load()
	st.BufferFull += ls.bufferFull.Load()
}

// countIn counts n bytes read from c once it is upgraded. Called on the
// loop.
func (c *Conn) countIn(n int) {
	c.bytesIn += int64(n)
	c.loop.stats.bytesIn.Add(uint64(n))
}

// countSent counts a data message queued on c, compressed or not, or
// refused with ErrBufferFull (err). Called by the sender, on any goroutine.
func (c *Conn) countSent(compressed bool, err error) {
	ls := &c.loop.stats
	switch {
	case err == nil:
		ls.msgsOut.Add(1)
		if compressed {
			ls.compressedOut.Add(1)
		}
	case err == ErrBufferFull:
		ls.bufferFull.Add(1)
	}
}

// closeCause is why c, an upgraded connection, ended with err (its
// closeErr, or gnet's reason): the engine's own causes first, then who
// began the closing handshake.
func (c *Conn) closeCause(err error) CloseCause {
	var ce *wsproto.CloseError
	switch {
	case errors.Is(err, ErrServerClosed):
		return ClosedShutdown
	case errors.Is(err, ErrIdleTimeout):
		return ClosedIdleTimeout
	case errors.Is(err, ErrPongTimeout):
		return ClosedPongTimeout
	case !errors.As(err, &ce) && wsproto.CloseCodeOf(err) != wsproto.CloseInternalError:
		return ClosedProtocolError
	}
	c.mu.Lock()
	app, full := c.appClosed, c.appClosedFull
	c.mu.Unlock()
	switch {
	case full:
		return ClosedBufferFull
	case app:
		return ClosedByApp
	case ce != nil:
		return ClosedByPeer
	}
	return ClosedTransport
}
