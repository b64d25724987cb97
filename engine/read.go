package engine

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

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
		c.in = c.growInput(c.in, len(c.in.B)+len(data))
		c.in.B = append(c.in.B, data...)
		buf = c.in.B
	}
	n := c.consume(buf)
	rest := buf[n:]
	switch {
	case !c.alive():
		// release returns c.in once the outermost exit is reached.
	case len(rest) == 0:
		bufpool.Put(c.in)
		c.in = nil
	case c.in == nil:
		c.in = c.growInput(nil, len(rest))
		c.in.B = append(c.in.B, rest...)
	case n > 0:
		c.in.B = c.in.B[:copy(c.in.B, rest)]
	}
}

// minInput is the least room an input buffer is given.
const minInput = 4 << 10

// growInput returns in, or a larger pooled buffer holding its bytes, with
// room for n bytes. The room follows what has arrived, doubling at most,
// never what a frame header announces: a header claiming a megabyte and
// then silence holds a few kilobytes, not a megabyte. It stops at the size
// of the frame in progress, so a large message arriving in several reads is
// copied a few times at most.
func (c *Conn) growInput(in *bufpool.Buffer, n int) *bufpool.Buffer {
	if in != nil && n <= cap(in.B) {
		return in
	}
	size := max(n, minInput)
	if in != nil {
		size = max(size, 2*cap(in.B))
	} else {
		size = max(size, 2*n)
	}
	if need := c.parser.Need(); need >= n {
		size = min(size, need)
	}
	out := bufpool.GetCap(size)
	if in != nil {
		out.B = append(out.B, in.B...)
		bufpool.Put(in)
	}
	return out
}

// consume acts on buf and returns how many of its bytes it used.
func (c *Conn) consume(buf []byte) int {
	used := 0
	if c.state == stateUpgrading {
		used = c.upgrade(buf)
		if c.state != stateOpen {
			return used
		}
		if c.tls == nil {
			c.countIn(len(buf) - used) // frames that came with the request
		}
	}
	for c.state == stateOpen || c.state == stateClosing {
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
	if c.state == stateFailing || c.state == stateDraining {
		return len(buf) // nothing the peer sends now is read
	}
	return used
}

// upgrade looks for a complete request head in buf and answers it. It
// returns the bytes used: the head, or nothing while it is incomplete.
func (c *Conn) upgrade(buf []byte) int {
	if c.srv.cfg.HTTPHandler != nil {
		if n, served := c.serveHTTP(buf); served {
			return n // plain HTTP (http.go)
		}
	}
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
	if err != nil {
		c.refused(err, r.URI)
	}
	c.write(out.B)
	bufpool.Put(out)
	if !c.alive() {
		return n // the response could not be written: gnet closed the socket
	}
	if err != nil {
		c.closeErr = err
		c.linger()
		return n
	}
	c.setState(stateOpen)
	c.opened = time.Now().UnixNano()
	c.outBase = c.handed
	c.lastRecv, c.lastSend, c.lastPing = c.loop.now, c.loop.now, c.loop.now // the heartbeat spreads itself (quietAfter)
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
	c.negotiate(r)
	return nil
}

// refused logs an upgrade request that got an HTTP error, rate-limited
// per status.
func (c *Conn) refused(err error, uri string) {
	status := http.StatusForbidden // what wsproto answers to a handler's plain error
	var rej *wsproto.RejectError
	if errors.As(err, &rej) {
		status = rej.Status
	}
	c.srv.refuseUpgrade(status)
	attrs := []slog.Attr{slog.Any("peer", c.remote), slog.String("reason", err.Error())}
	if uri != "" {
		attrs = append(attrs, slog.String("uri", uri))
	}
	c.srv.refusals.note(time.Now(), refusalKind{level: slog.LevelInfo, msg: "upgrade refused", status: status}, attrs...)
}

// reject answers a request that cannot be handed to the handshake parser.
func (c *Conn) reject(rej *wsproto.RejectError) {
	c.refused(rej, "")
	out := bufpool.Get()
	out.B = wsproto.AppendReject(out.B, rej)
	c.write(out.B)
	bufpool.Put(out)
	c.closeErr = rej
	if c.alive() {
		c.linger()
	}
}

// dispatch acts on one message or control frame.
func (c *Conn) dispatch(m wsproto.Message) {
	c.lastRecv = c.loop.now
	c.pingOut = false
	switch m.Op {
	case wsproto.OpText, wsproto.OpBinary:
		if c.state == stateOpen {
			c.loop.stats.msgsIn.Add(1)
			if m.Compressed {
				c.loop.stats.compressedIn.Add(1)
			}
			c.srv.h.OnMessage(c, MessageType(m.Op), m.Payload)
			bufpool.Poison(m.Payload) // in tests, a payload kept past the call reads garbage
		}
	case wsproto.OpPing:
		if c.state == stateOpen {
			c.owePong(m.Payload)
		}
	case wsproto.OpPong:
	case wsproto.OpClose:
		code, reason, _ := wsproto.ParseClose(m.Payload) // the Parser validated it
		c.mu.Lock()
		began := c.closeSent
		c.mu.Unlock()
		switch {
		case began == nil: // the peer begins: echo its code (RFC 6455 section 5.5.1)
			c.closeErr = &wsproto.CloseError{Code: code, Reason: string(reason)}
			_ = c.queueClose(code, "")
		case c.closeErr == nil: // the peer answered the close we began
			c.closeErr = began
		}
		c.drain() // the server closes TCP first (section 7.1.1), once the echo is out
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
