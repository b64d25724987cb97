package load

import (
	"context"
	"crypto/tls"
	"net"
)

// Opcodes, for callers that build frames with [AppendFrame] and read them
// with [Conn.ReadFrame].
const (
	OpText   = opText
	OpBinary = opBinary
	OpClose  = opClose
	OpPing   = opPing
	OpPong   = opPong
)

// Conn is one upgraded WebSocket connection for clients outside this
// package (the soak test): the bench's frame reader over a net.Conn.
// ReadFrame must be called from one goroutine; Write may be called from
// another (tls.Conn and net.TCPConn allow one reader and one writer).
type Conn struct {
	net.Conn
	fr *frameReader
}

// Dial opens a connection from the next source address and upgrades it to
// t.Path, over TLS if t.TLS; ctx bounds the whole of it.
func (t *Target) Dial(ctx context.Context) (*Conn, error) {
	nc, fr, _, err := t.dial(ctx, upgradeRequest(t.Addr.String(), t.Path))
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: nc, fr: fr}, nil
}

// ReadFrame reads one frame: its opcode, payload length and the first 125
// bytes of its payload. prefix is valid until the next ReadFrame.
func (c *Conn) ReadFrame() (op byte, length int, prefix []byte, err error) {
	return c.fr.next()
}

// DialTCP opens a bare TCP connection from the next source address, for
// clients that speak something else than a proper upgrade.
func (t *Target) DialTCP(ctx context.Context) (*net.TCPConn, error) {
	return t.dialTCP(ctx)
}

// ClientTLS returns a copy of the client TLS configuration every bench
// connection uses.
func ClientTLS() *tls.Config { return clientTLS.Clone() }

// AppendFrame appends a masked client frame, FIN set, to dst.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	return appendFrame(dst, op, payload)
}

// UpgradeRequest returns the upgrade request every bench connection sends.
func UpgradeRequest(host, path string) []byte { return upgradeRequest(host, path) }

// Reset closes c, or the TCP connection under a TLS c, with an RST.
func Reset(c net.Conn) { reset(c) }
