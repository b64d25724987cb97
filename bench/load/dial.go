package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proto is what a connection speaks after TCP.
type Proto int

// Protocols.
const (
	// WebSocket upgrades, over TLS if Target.TLS.
	WebSocket Proto = iota
	// Raw sends frames with no upgrade: the gnet echo ceiling.
	Raw
	// Handshake completes a TLS handshake and waits for the server to
	// close: the tls-loop ceiling. Churn only.
	Handshake
	// Pusher upgrades like WebSocket (to Target.Path,
	// /app/{key}?protocol=7) and speaks the Pusher Channels protocol: a
	// connection is open once the server's pusher:connection_established
	// came.
	Pusher
	// Centrifugo upgrades like WebSocket (to Target.Path,
	// /connection/websocket) and speaks Centrifugo's JSON protocol: a
	// connection is open once its connect command was answered.
	Centrifugo
)

func (p Proto) String() string {
	switch p {
	case WebSocket:
		return "ws"
	case Raw:
		return "raw"
	case Handshake:
		return "tls-handshake"
	case Pusher:
		return "pusher"
	case Centrifugo:
		return "centrifugo"
	}
	return fmt.Sprintf("Proto(%d)", int(p))
}

// ParseProto parses a Proto's String.
func ParseProto(s string) (Proto, error) {
	for _, p := range []Proto{WebSocket, Raw, Handshake, Pusher, Centrifugo} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("load: unknown protocol %q", s)
}

// Target says where and how connections go.
type Target struct {
	Addr  netip.AddrPort
	TLS   bool
	Proto Proto
	// Sources are the local addresses to dial from, in turn (each has its
	// own ~28,000 ephemeral ports). Empty: the kernel chooses.
	Sources []netip.Addr
	// ReadBuffer is each connection's read buffer. Default 2 KiB.
	ReadBuffer int
	// Path is the upgrade request's path. Default "/".
	Path string
	// Deflate offers permessage-deflate (RFC 7692) as Chrome does. On the
	// connections whose server accepts it, messages are sent compressed
	// and compressed ones received are inflated.
	Deflate bool

	next atomic.Uint64
}

// clientTLS is the benchmark's client side of TLS: no verification (the
// server's identity is not what is measured), no session resumption (every
// handshake is a full one), X25519 for every server alike (nbio's TLS fork
// has no post-quantum key exchange).
var clientTLS = &tls.Config{
	InsecureSkipVerify: true,
	MinVersion:         tls.VersionTLS12,
	CurvePreferences:   []tls.CurveID{tls.X25519},
	NextProtos:         []string{"http/1.1"},
}

// bindNoPort defers the choice of the local port to connect, so that one
// source address serves any number of destinations.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// dialTCP opens a TCP connection from the next source address.
func (t *Target) dialTCP(ctx context.Context) (*net.TCPConn, error) {
	d := net.Dialer{Control: bindNoPort}
	if len(t.Sources) > 0 {
		src := t.Sources[t.next.Add(1)%uint64(len(t.Sources))]
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	c, err := d.DialContext(ctx, "tcp", t.Addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// upgradeRequest is the request every connection sends; the key is fixed
// (servers only hash it) and the client does not check the accept value.
func upgradeRequest(host, path string) []byte {
	return upgradeRequestExt(host, path, "")
}

// upgradeRequestExt is upgradeRequest offering the extensions ext, if any.
func upgradeRequestExt(host, path, ext string) []byte {
	if path == "" {
		path = "/"
	}
	if ext != "" {
		ext = "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n")
}

// request is the upgrade request of t's connections.
func (t *Target) request() []byte {
	if t.Deflate {
		return upgradeRequestExt(t.Addr.String(), t.Path, deflateOffer)
	}
	return upgradeRequest(t.Addr.String(), t.Path)
}

var errUpgrade = errors.New("load: upgrade refused")

// dial opens one connection and completes its handshakes: TLS if asked,
// then the upgrade (WebSocket), or nothing more (Raw), or a wait for the
// server's close (Handshake). The returned reader holds any bytes that came
// after the upgrade response, and collects whole payloads when the server
// accepted permessage-deflate, whose parameters are then returned.
func (t *Target) dial(ctx context.Context, req []byte) (net.Conn, *frameReader, *deflateParams, error) {
	tc, err := t.dialTCP(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	_ = tc.SetNoDelay(true)
	var c net.Conn = tc
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	fail := func(err error) (net.Conn, *frameReader, *deflateParams, error) {
		_ = tc.SetLinger(0)
		tc.Close()
		return nil, nil, nil, err
	}
	if t.TLS {
		tlc := tls.Client(tc, clientTLS)
		if err := tlc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		c = tlc
	}
	bufSize := t.ReadBuffer
	if bufSize <= 0 {
		bufSize = 2048
	}
	fr := &frameReader{r: c, buf: make([]byte, bufSize)}
	var deflate *deflateParams
	switch t.Proto {
	case Handshake:
		for fr.fill() == nil { // until the server closes
			fr.i, fr.n = 0, 0
		}
	case WebSocket, Pusher, Centrifugo:
		if _, err := c.Write(req); err != nil {
			return fail(err)
		}
		for {
			if err := fr.fill(); err != nil {
				return fail(err)
			}
			if end := bytes.Index(fr.buf[:fr.n], []byte("\r\n\r\n")); end >= 0 {
				if !bytes.HasPrefix(fr.buf, []byte("HTTP/1.1 101 ")) {
					return fail(errUpgrade)
				}
				if t.Deflate {
					if deflate, err = parseDeflateAnswer(fr.buf[:end]); err != nil {
						return fail(err)
					}
					fr.collect = deflate != nil
				}
				fr.i = end + 4
				break
			}
		}
		switch t.Proto {
		case Pusher:
			if err := awaitEstablished(fr); err != nil {
				return fail(err)
			}
		case Centrifugo:
			if err := awaitConnected(c, fr); err != nil {
				return fail(err)
			}
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, fr, deflate, nil
}
