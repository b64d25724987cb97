package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/wssd/wssd/wsproto"
)

// wireTap records what a Go client writes to its connection, and what it
// reads, in plaintext over wss too, so that a test can check which frames
// it really sent: a library that quietly coalesced a "fragmented" message
// would otherwise test nothing.
type wireTap struct {
	mu  sync.Mutex
	out bytes.Buffer
	in  bytes.Buffer
}

// dial is a DialContext for the client libraries that taps the connection.
func (w *wireTap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, tap: w}, nil
}

// dialTLS is a DialTLSContext for the client libraries: it runs the TLS
// handshake itself, trusting the test certificate, and taps the plaintext.
func (w *wireTap) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg := clientTLS()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg.ServerName = host
	cfg.NextProtos = []string{"http/1.1"}
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, tap: w}, nil
}

// frames decodes the frame headers the client has written after its
// upgrade request.
func (w *wireTap) frames() ([]wsproto.Header, error) { return w.parse(&w.out) }

// serverFrames decodes the frame headers the client has read after the
// server's upgrade response.
func (w *wireTap) serverFrames() ([]wsproto.Header, error) { return w.parse(&w.in) }

func (w *wireTap) parse(buf *bytes.Buffer) ([]wsproto.Header, error) {
	w.mu.Lock()
	b := bytes.Clone(buf.Bytes())
	w.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, errors.New("no upgrade request or response on the wire")
	}
	b = b[i+4:]
	var hs []wsproto.Header
	for len(b) > 0 {
		h, n, err := wsproto.ParseHeader(b)
		if err != nil {
			return hs, fmt.Errorf("frame %d: %w", len(hs), err)
		}
		if int64(len(b)-n) < h.Length {
			return hs, fmt.Errorf("frame %d: %d payload bytes of %d", len(hs), len(b)-n, h.Length)
		}
		hs = append(hs, h)
		b = b[n+int(h.Length):]
	}
	return hs, nil
}

// dataFrames checks that hs begin with one data message of type op, in
// frames of which only the last has FIN, with only control frames among
// them, and returns how many frames it took.
func dataFrames(hs []wsproto.Header, op wsproto.Opcode) (int, error) {
	n := 0
	for _, h := range hs {
		if h.Op.IsControl() {
			continue
		}
		wantOp := wsproto.OpContinuation
		if n == 0 {
			wantOp = op
		}
		if h.Op != wantOp {
			return n, fmt.Errorf("data frame %d is %v, want %v", n, h.Op, wantOp)
		}
		n++
		if h.Fin {
			return n, nil
		}
	}
	return n, fmt.Errorf("no frame with FIN among the client's %d data frames", n)
}

// tappedConn copies every byte written to it, and read from it, into its
// tap.
type tappedConn struct {
	net.Conn
	tap *wireTap
}

// Write holds the tap's lock while it writes, so that the tap has the bytes
// in the order they went out even when several goroutines write: recording
// after the write would let the frames a client writes once the server has
// answered the upgrade request overtake that request, which the HTTP
// client wrote on another goroutine.
func (c *tappedConn) Write(p []byte) (int, error) {
	c.tap.mu.Lock()
	defer c.tap.mu.Unlock()
	n, err := c.Conn.Write(p)
	c.tap.out.Write(p[:n])
	return n, err
}

// Read records what it reads in the tap.
func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.mu.Lock()
	c.tap.in.Write(p[:n])
	c.tap.mu.Unlock()
	return n, err
}
