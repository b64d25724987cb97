// Package wstest is a raw-frame WebSocket client for wssd's tests and
// benchmarks: it can send any frame, legal or not, split its writes at any
// byte, and read the server's frames one by one.
package wstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/wssd/wssd/wsproto"
)

// DialOptions tunes Dial. The zero value dials plain ws to path "/".
type DialOptions struct {
	Path      string        // request URI; "/" when empty
	Header    http.Header   // extra request header fields
	Protocols []string      // offered subprotocols
	LocalIP   string        // source address, such as "127.0.0.2"
	TLS       *tls.Config   // non-nil dials wss
	Timeout   time.Duration // for dial and handshake; 5 s when zero
	Raw       func() []byte // replaces the whole request head when set
	// PreHandshake is written first on the TCP connection, before TLS and
	// the request: a PROXY protocol header, as a load balancer sends it.
	PreHandshake []byte
	// ReadBuffer, when positive, fixes the socket's receive buffer (SO_RCVBUF)
	// before it connects, so the kernel cannot grow it: a test that reads
	// nothing knows how much the kernel can hold for it.
	ReadBuffer int
}

// Client is one raw WebSocket connection. It is not safe for concurrent use,
// except that Close may be called at any time.
type Client struct {
	Conn net.Conn
	br   *bufio.Reader
	// Response is the server's answer to the handshake.
	Response *http.Response
}

// NewClient wraps a connection whose handshake is done, or not wanted.
func NewClient(conn net.Conn) *Client {
	return &Client{Conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
}

// Dial connects to addr and performs the opening handshake. A server that
// answers with anything but 101 yields an error and, when the answer is
// HTTP, the Client with its Response set.
func Dial(addr string, o DialOptions) (*Client, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	if o.ReadBuffer > 0 {
		d.ControlContext = func(_ context.Context, _, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.ReadBuffer)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	if o.LocalIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalIP)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	var conn net.Conn
	var err error
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err == nil && len(o.PreHandshake) > 0 {
		_, err = conn.Write(o.PreHandshake)
	}
	if err == nil && o.TLS != nil {
		cfg := o.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err = tc.HandshakeContext(ctx); err != nil {
			conn.Close()
		}
		conn = tc
	}
	if err != nil {
		return nil, err
	}
	c := NewClient(conn)
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()

	key := newKey()
	var head []byte
	if o.Raw != nil {
		head = o.Raw()
	} else {
		head = RequestHead(addr, o.Path, key, o.Protocols, o.Header)
	}
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading handshake response: %w", err)
	}
	c.Response = resp
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return c, fmt.Errorf("handshake refused: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if o.Raw == nil && resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key) {
		conn.Close()
		return nil, errors.New("handshake: wrong Sec-WebSocket-Accept")
	}
	return c, nil
}

// RequestHead returns a valid upgrade request head.
func RequestHead(host, path, key string, protocols []string, h http.Header) []byte {
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if len(protocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(protocols, ", "))
	}
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

func newKey() string {
	var k [16]byte
	_, _ = rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// AcceptKey computes Sec-WebSocket-Accept for key (RFC 6455, section 4.2.2).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Frame is a frame the client sends; anything may be set, legal or not.
type Frame struct {
	Fin      bool
	Rsv      byte
	Op       wsproto.Opcode
	Payload  []byte
	Unmasked bool // send without a mask (a protocol violation)
}

// Bytes encodes f with a random mask (unless Unmasked).
func (f Frame) Bytes() []byte {
	return f.AppendTo(make([]byte, 0, wsproto.MaxHeaderSize+len(f.Payload)))
}

// Message returns a single-frame message.
func Message(op wsproto.Opcode, payload []byte) Frame {
	return Frame{Fin: true, Op: op, Payload: payload}
}

// Write sends frames back to back in one write.
func (c *Client) Write(frames ...Frame) error {
	var b []byte
	for _, f := range frames {
		b = append(b, f.Bytes()...)
	}
	_, err := c.Conn.Write(b)
	return err
}

// WriteSplit sends b in pieces of at most chunk bytes, pausing between them
// so that the server reads them separately.
func (c *Client) WriteSplit(b []byte, chunk int, pause time.Duration) error {
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := c.Conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if len(b) > 0 && pause > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// ReadFrame reads one server frame within timeout (5 s when zero).
func (c *Client) ReadFrame(timeout time.Duration) (wsproto.Header, []byte, error) {
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.Conn.SetReadDeadline(time.Time{}) }()
	var hb [wsproto.MaxHeaderSize]byte
	if _, err := io.ReadFull(c.br, hb[:2]); err != nil {
		return wsproto.Header{}, nil, err
	}
	n := 2
	for {
		h, hn, err := wsproto.ParseHeader(hb[:n])
		if err == nil {
			if hn != n {
				return h, nil, fmt.Errorf("header parse consumed %d of %d bytes", hn, n)
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return h, nil, err
			}
			if h.Masked {
				wsproto.Unmask(p, h.Mask, 0)
			}
			return h, p, nil
		}
		if !errors.Is(err, io.ErrShortBuffer) || n == len(hb) {
			return h, nil, err
		}
		if _, err := io.ReadFull(c.br, hb[n:n+1]); err != nil {
			return wsproto.Header{}, nil, err
		}
		n++
	}
}

// ReadMessage reads frames until a whole data message or a control frame
// arrives and returns it; fragments are joined.
func (c *Client) ReadMessage(timeout time.Duration) (wsproto.Opcode, []byte, error) {
	var op wsproto.Opcode
	var msg []byte
	for {
		h, p, err := c.ReadFrame(timeout)
		if err != nil {
			return 0, nil, err
		}
		if h.Op.IsControl() {
			return h.Op, p, nil
		}
		if h.Op != wsproto.OpContinuation {
			op = h.Op
		}
		msg = append(msg, p...)
		if h.Fin {
			return op, msg, nil
		}
	}
}

// ReadClose reads until the server's close frame and returns its code and
// reason; data frames and pings before it are skipped.
func (c *Client) ReadClose(timeout time.Duration) (wsproto.CloseCode, string, error) {
	for {
		h, p, err := c.ReadFrame(timeout)
		if err != nil {
			return 0, "", err
		}
		if h.Op == wsproto.OpClose {
			code, reason, err := wsproto.ParseClose(p)
			return code, string(reason), err
		}
	}
}

// WaitEOF waits until the server closes the TCP connection, discarding
// anything it sends, and reports whether it did within timeout.
func (c *Client) WaitEOF(timeout time.Duration) bool {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Close closes the TCP connection without a closing handshake.
func (c *Client) Close() error { return c.Conn.Close() }

// AppendTo appends f's encoding, as Bytes returns it, to dst: a test that
// sends much data encodes its frames into one buffer with it.
func (f Frame) AppendTo(dst []byte) []byte {
	h := wsproto.Header{Fin: f.Fin, Rsv: f.Rsv, Op: f.Op, Masked: !f.Unmasked, Length: int64(len(f.Payload))}
	if h.Masked {
		_, _ = rand.Read(h.Mask[:])
	}
	dst = wsproto.AppendHeader(dst, h)
	start := len(dst)
	dst = append(dst, f.Payload...)
	if h.Masked {
		wsproto.Unmask(dst[start:], h.Mask, 0)
	}
	return dst
}
