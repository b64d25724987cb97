package engine

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/wsproto"
)

var (
	errHandshakeTimeout = errors.New("engine: upgrade request not received in time")
	getPrefix           = []byte("GET ")
)

// receiveWire takes bytes as they arrived on the socket: a PROXY protocol
// header first where one is required, then TLS records or plain HTTP and
// WebSocket frames.
func (c *Conn) receiveWire(data []byte) {
	if c.awaitProxy {
		rest, release, ok := c.receiveProxyHeader(data)
		if !ok || len(rest) == 0 {
			if release != nil {
				release()
			}
			return
		}
		defer release()
		data = rest
	}
	if c.tls != nil {
		c.receiveTLS(data)
	} else {
		c.receive(data)
	}
}

// receive takes the bytes that arrived on c and acts on them. Whatever does
// not form a whole request head or frame yet is kept in c.in; everything
// else is parsed where it lies, in the event loop's read buffer.
func (c *Conn) receive(data []byte) {
	buf := data
	if c.in != nil {
		if need := c.parser.Need(); need > cap(c.in.B) {
			c.in.B = slices.Grow(c.in.B, need-len(c.in.B)) // the frame's room, at once
		}
		c.in.B = append(c.in.B, data...)
		buf = c.in.B
	}
	n := c.consume(buf)
	rest := buf[n:]
	switch {
	case c.state == stateClosed || len(rest) == 0:
		bufpool.Put(c.in)
		c.in = nil
	case c.in == nil:
		c.in = bufpool.GetCap(max(len(rest), c.parser.Need()))
		c.in.B = append(c.in.B, rest...)
	case n > 0:
		c.in.B = c.in.B[:copy(c.in.B, rest)]
	}
}

// consume acts on buf and returns how many of its bytes it used.
func (c *Conn) consume(buf []byte) int {
	used := 0
	if c.state == stateUpgrading {
		used = c.upgrade(buf)
		if c.state == stateUpgrading {
			return used
		}
	}
	for (c.state == stateOpen || c.state == stateClosing) && !c.hangup {
		m, n, err := c.parser.Parse(buf[used:])
		if err != nil {
			c.fail(err)
			break
		}
		used += n
		if m.Op != 0 {
			c.dispatch(m)
		}
		if n == 0 {
			break
		}
	}
	if c.state == stateFailing {
		return len(buf) // after a violation nothing the peer sends is read
	}
	return used
}

// upgrade looks for a complete request head in buf and answers it. It
// returns the bytes used: the head, or nothing while it is incomplete.
func (c *Conn) upgrade(buf []byte) int {
	if !bytes.HasPrefix(getPrefix, buf[:min(len(buf), len(getPrefix))]) {
		c.reject(&wsproto.RejectError{Status: http.StatusBadRequest, Reason: "expected an HTTP GET WebSocket upgrade request"})
		return 0
	}
	maxHead := c.srv.cfg.MaxHeaderBytes
	n := wsproto.RequestHeadLength(buf[:min(len(buf), maxHead+len("\r\n\r\n"))])
	if n < 0 {
		if len(buf) >= maxHead {
			c.reject(&wsproto.RejectError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head too large"})
		}
		return 0
	}
	out := bufpool.Get()
	resp, r, err := wsproto.Handshake(out.B, buf[:n], c.accept)
	out.B = resp
	c.write(out.B)
	bufpool.Put(out)
	if err != nil {
		c.srv.log.Debug("handshake rejected", "peer", c.remote, "uri", r.URI, "err", err)
		c.closeErr = err
		c.linger()
		return n
	}
	c.state = stateOpen
	c.opened = time.Now().UnixNano()
	c.lastRecv, c.lastSend, c.lastPing = c.loop.now, c.loop.now, c.loop.now
	c.path = strings.Clone(r.Path)
	c.srv.opened(c)
	return n
}

// accept completes a handshake request: path, client IP, the handler's hook.
func (c *Conn) accept(r *wsproto.Request) error {
	s := c.srv
	if s.cfg.Path != "" && r.Path != s.cfg.Path {
		return &wsproto.RejectError{Status: http.StatusNotFound, Reason: "no WebSocket endpoint at this path"}
	}
	if err := s.origins.check(r.Header); err != nil {
		return err
	}
	h := Handshake{Request: r, Peer: c.remote, TLS: c.TLSState()}
	h.ClientIP, h.ClientIPSource = s.trusted.clientIP(c.clientIP, c.ipSource, r.Header)
	c.clientIP, c.ipSource = h.ClientIP, h.ClientIPSource
	if err := s.h.OnHandshake(c, &h); err != nil {
		return err
	}
	c.subprotocol = r.Subprotocol
	return nil
}

// reject answers a request that cannot be handed to the handshake parser.
func (c *Conn) reject(rej *wsproto.RejectError) {
	out := bufpool.Get()
	out.B = wsproto.AppendReject(out.B, rej)
	c.write(out.B)
	bufpool.Put(out)
	c.closeErr = rej
	c.linger()
}

// dispatch acts on one message or control frame.
func (c *Conn) dispatch(m wsproto.Message) {
	c.lastRecv = c.loop.now
	c.pingOut = false
	switch m.Op {
	case wsproto.OpText, wsproto.OpBinary:
		if c.state == stateOpen {
			c.srv.h.OnMessage(c, MessageType(m.Op), m.Payload)
			bufpool.Poison(m.Payload) // in tests, a payload kept past the call reads garbage
		}
	case wsproto.OpPing:
		_ = c.queue(wsproto.OpPong, m.Payload, true)
	case wsproto.OpPong:
	case wsproto.OpClose:
		code, reason, _ := wsproto.ParseClose(m.Payload) // the Parser validated it
		switch {
		case c.state == stateOpen:
			c.closeErr = &wsproto.CloseError{Code: code, Reason: string(reason)}
			// Echo the peer's code, as RFC 6455 section 5.5.1 suggests.
			_ = c.queueClose(code, "")
		case c.closeErr == nil: // the peer answered the close we began
			c.mu.Lock()
			c.closeErr = c.closeSent
			c.mu.Unlock()
		}
		c.state = stateClosing
		c.hangup = true // the server closes TCP first (section 7.1.1)
	}
}

// fail answers a protocol violation: a close frame with the code from
// wsproto's table, then input is discarded until the peer closes or the
// close timeout passes.
func (c *Conn) fail(err error) {
	c.closeErr = err
	_ = c.queueClose(wsproto.CloseCodeOf(err), strings.TrimPrefix(err.Error(), "wsproto: "))
	c.linger()
}

// maxLinger bounds how long a failed connection waits for the peer to close.
const maxLinger = 2 * time.Second

// linger ends a connection whose peer cannot be served further without
// losing the last words sent to it: once they are written the server shuts
// down its sending side, so the peer reads them and then end-of-stream, and
// it discards whatever arrives until the peer closes or the linger time
// passes. Closing at once could make the kernel answer unread input with a
// reset that destroys the response still in flight.
func (c *Conn) linger() {
	c.state = stateFailing
	c.deadline = c.loop.now + int64(min(c.srv.cfg.CloseTimeout, maxLinger))
}

// shutdownWrite sends FIN once a lingering connection's output is written.
// Called on the loop after each flush and sweep.
func (c *Conn) shutdownWrite() {
	if c.state != stateFailing || c.finSent {
		return
	}
	c.sayGoodbye()
	if c.state == stateClosed || c.gc.OutboundBuffered() > 0 {
		return
	}
	c.finSent = true
	_ = unix.Shutdown(c.gc.Fd(), unix.SHUT_WR)
}
