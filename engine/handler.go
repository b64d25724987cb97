package engine

import (
	"crypto/tls"
	"net/netip"

	"github.com/wssd/wssd/wsproto"
)

// MessageType is the type of a data message.
type MessageType byte

// Message types, equal to their opcodes.
const (
	Text   = MessageType(wsproto.OpText)
	Binary = MessageType(wsproto.OpBinary)
)

func (t MessageType) String() string { return wsproto.Opcode(t).String() }

// Handler receives a server's connection events. All calls for one
// connection happen on its event loop, one at a time; they must not block.
// Embed NopHandler to implement only some of them.
type Handler interface {
	// OnHandshake is called with a valid upgrade request before the server
	// answers it. Returning an error refuses the connection: a
	// *wsproto.RejectError chooses the HTTP status, any other error gets 403.
	// c can be sent nothing yet; SetValue attaches the connection's value.
	OnHandshake(c *Conn, h *Handshake) error
	// OnOpen is called once the 101 response is written, for a connection
	// still alive; exactly one OnClose follows it. A connection whose
	// client left before the response could be written gets neither.
	OnOpen(c *Conn)
	// OnMessage is called with each complete text or binary message. data is
	// valid only until OnMessage returns: copy what you keep.
	OnMessage(c *Conn, typ MessageType, data []byte)
	// OnClose is called once for every opened connection when it is gone,
	// after which no callback is made for it and Send fails.
	// err says why: a *wsproto.CloseError for a closing handshake (the code
	// and reason of the side that began it), a wsproto protocol error the
	// peer committed, ErrPongTimeout, ErrIdleTimeout, ErrServerClosed, or
	// the transport's error when the TCP connection dropped.
	OnClose(c *Conn, err error)
	// OnBufferFull is called when Send starts failing with ErrBufferFull:
	// the peer reads slower than it is sent to.
	OnBufferFull(c *Conn)
	// OnBufferDrain is called when a full connection's queue has drained
	// below half of Config.MaxQueuedBytes and Send works again.
	OnBufferDrain(c *Conn)
}

// NopHandler implements every Handler method by doing nothing (and accepting
// every handshake). Embed it in a handler to override only some methods.
type NopHandler struct{}

func (NopHandler) OnHandshake(*Conn, *Handshake) error  { return nil }
func (NopHandler) OnOpen(*Conn)                         {}
func (NopHandler) OnMessage(*Conn, MessageType, []byte) {}
func (NopHandler) OnClose(*Conn, error)                 {}
func (NopHandler) OnBufferFull(*Conn)                   {}
func (NopHandler) OnBufferDrain(*Conn)                  {}

// Handshake is an upgrade request as Handler.OnHandshake sees it. The
// embedded request's Subprotocol and ResponseHeader fields set the answer.
type Handshake struct {
	*wsproto.Request
	// Peer is the TCP peer's address: a proxy's, behind a proxy.
	Peer netip.AddrPort
	// ClientIP is the client's address: the TCP peer's, or, when the peer
	// is a trusted proxy, the one it vouches for in the source
	// Config.RealIPHeader names (see IPSource).
	ClientIP netip.Addr
	// ClientIPSource says where ClientIP came from.
	ClientIPSource IPSource
	// TLS is the connection's TLS state, with the client's certificates
	// when Config.TLS asks for them; nil for plain ws.
	TLS *tls.ConnectionState
}
