package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/wsproto"
)

// Compression configures permessage-deflate (RFC 7692), set in
// Config.Compression. The zero value compresses each message on its own
// with the fastest encoder, sends messages under 128 bytes uncompressed, and
// lets clients keep their context.
//
// # Memory
//
// With the default policy an idle connection holds no compression state:
// encoders and decoders are borrowed from pools for one message and given
// back. What a connection may keep between messages is a window of the
// bytes it last received compressed, when its client keeps its context
// (browsers do: none offers client_no_context_takeover): up to 2^15 bytes
// (32 KiB), grown only as the client actually sends compressed data, so a
// chat client that sends a few hundred bytes holds a few hundred bytes.
// ClientMaxWindowBits narrows it for clients that accept a narrower window
// (Chrome, Node's ws and Python's websockets offer client_max_window_bits;
// Firefox and Safari do not), and RequireClientNoContextTakeover refuses it
// altogether, at the price of no compression for browsers.
// ServerContextTakeover adds a window of what the server sent: up to 8 KiB
// at Level 0, 32 KiB at other levels.
type Compression struct {
	// ServerContextTakeover lets the server compress each message with the
	// ones it sent before as a dictionary, when the client allows it:
	// smaller messages when they repeat each other, for a window held per
	// connection (see Memory). Default false: every answer says
	// server_no_context_takeover.
	ServerContextTakeover bool
	// ClientMaxWindowBits (8 to 15; 0 means 15) is the window asked of
	// clients that offer client_max_window_bits: it bounds what a
	// connection keeps of what its client sent. 8 is asked as 9: zlib,
	// under most clients, cannot compress with less, and Python's
	// websockets fails the connection when asked to; 2^9 bytes are kept
	// either way.
	ClientMaxWindowBits int
	// RequireClientNoContextTakeover declines the offers of clients that
	// keep their context, so that no connection holds a window of received
	// data; browsers then get no compression.
	RequireClientNoContextTakeover bool
	// Threshold is the size below which a message is sent uncompressed:
	// compressing a few bytes costs more CPU than it saves on the wire, and
	// may make them longer. Default 128; negative compresses every message.
	// A message that compression would not shrink is sent uncompressed
	// whatever its size.
	Threshold int
	// Level is the DEFLATE level, 0 to 9. The default, 0, picks the
	// fastest encoder that shrinks each message: klauspost's stateless
	// encoder from 256 bytes, the standard library's BestSpeed below that
	// and where the stateless one could not (see wsproto.MinDeflateLevel);
	// 1 to 9 use pooled encoders of klauspost/compress/flate at that level,
	// which compress large messages better for more CPU.
	Level int
}

// DefaultCompressionThreshold is the Threshold of a zero Compression.
const DefaultCompressionThreshold = 128

func (z *Compression) check() error {
	switch {
	case z.ClientMaxWindowBits != 0 && (z.ClientMaxWindowBits < 8 || z.ClientMaxWindowBits > 15):
		return fmt.Errorf("engine: Compression.ClientMaxWindowBits %d is not between 8 and 15", z.ClientMaxWindowBits)
	case z.Level < wsproto.MinDeflateLevel || z.Level > wsproto.MaxDeflateLevel:
		return fmt.Errorf("engine: Compression.Level %d is not between %d and %d", z.Level, wsproto.MinDeflateLevel, wsproto.MaxDeflateLevel)
	}
	return nil
}

func (z *Compression) threshold() int {
	switch {
	case z.Threshold == 0:
		return DefaultCompressionThreshold
	case z.Threshold < 0:
		return 0
	}
	return z.Threshold
}

func (z *Compression) policy() wsproto.DeflatePolicy {
	return wsproto.DeflatePolicy{
		ServerContextTakeover:          z.ServerContextTakeover,
		ClientMaxWindowBits:            z.ClientMaxWindowBits,
		RequireClientNoContextTakeover: z.RequireClientNoContextTakeover,
	}
}

// negotiate accepts one of r's permessage-deflate offers, if the server
// compresses and the client offered one it can take. Called on the loop
// during the upgrade, once the handler accepted it.
func (c *Conn) negotiate(r *wsproto.Request) {
	z := c.srv.cfg.Compression
	if z == nil || len(r.Extensions) == 0 {
		return
	}
	p, ok := wsproto.NegotiateDeflate(r.Extensions, z.policy())
	if !ok {
		return
	}
	r.Extension = p.String()
	c.parser.Inflater = wsproto.NewInflater(p.ClientWindow(), p.ClientNoContextTakeover)
	c.deflater = wsproto.NewDeflater(p, z.Level)
	c.deflateMin = z.threshold()
}

// Compressed reports whether permessage-deflate was negotiated on c. It may
// be called from any goroutine once OnOpen has been called.
func (c *Conn) Compressed() bool { return c.deflater != nil }

// compress returns, in a pooled buffer, p as one compressed frame, or nil
// when p goes uncompressed. A deflater that keeps a context must see the
// messages in the order of the queue, so it compresses only under c.mu
// (locked); one that keeps none is safe to share and compresses only
// outside it, on the sender's goroutine.
func (c *Conn) compress(op wsproto.Opcode, p []byte, locked bool) *bufpool.Buffer {
	if c.deflater == nil || op.IsControl() || len(p) < c.deflateMin || c.deflater.KeepsContext() != locked {
		return nil
	}
	return c.compressFrame(op, p)
}

// compressFrame returns a pooled buffer holding p as one compressed frame,
// or nil when compression would not shrink it.
func (c *Conn) compressFrame(op wsproto.Opcode, p []byte) *bufpool.Buffer {
	z := bufpool.GetCap(len(p) + wsproto.MaxHeaderSize)
	payload, ok := c.deflater.AppendCompressed(z.B[:0], p)
	if !ok {
		bufpool.Put(z)
		return nil
	}
	f := bufpool.GetCap(len(payload) + wsproto.MaxHeaderSize)
	f.B = wsproto.AppendCompressedFrame(f.B, op, payload)
	bufpool.Put(z)
	return f
}

// PreparedMessage is a data message framed once, and compressed once when
// the server compresses, for sending to many connections
// (Conn.SendPrepared, Server.Broadcast): each connection then only copies
// it into its queue, and encrypts it for wss. It is immutable and may be
// used from any goroutine.
type PreparedMessage struct {
	data     []byte // the message, for a deflater that keeps context
	plain    []byte // the uncompressed frame
	deflated []byte // the compressed frame; nil when it is not sent compressed
}

// errMessageType is returned for a MessageType other than Text and Binary.
var errMessageType = errors.New("engine: a data message is Text or Binary")

// Prepare frames data as a message of type typ for many connections. When
// s compresses (Config.Compression) and data is not below its threshold,
// it is also compressed once, on the caller's goroutine; connections that
// negotiated compression get that frame. data is copied.
func (s *Server) Prepare(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != Text && typ != Binary {
		return nil, errMessageType
	}
	op := wsproto.Opcode(typ)
	pm := &PreparedMessage{
		plain: wsproto.AppendFrame(make([]byte, 0, wsproto.HeaderSize(len(data), false)+len(data)), op, true, data),
	}
	pm.data = pm.plain[len(pm.plain)-len(data):]
	if z := s.cfg.Compression; z != nil && len(data) >= z.threshold() {
		if payload, ok := wsproto.Compress(nil, data, z.Level); ok {
			pm.deflated = wsproto.AppendCompressedFrame(make([]byte, 0, len(payload)+wsproto.MaxHeaderSize), op, payload)
		}
	}
	return pm, nil
}

// frameFor returns the frame of pm that c sends, and whether it is the
// compressed one. Called under c.mu.
func (pm *PreparedMessage) frameFor(c *Conn) ([]byte, bool) {
	if pm.deflated != nil && c.deflater != nil && c.deflater.Shared() {
		return pm.deflated, true
	}
	return pm.plain, false
}

// SendPrepared queues pm on c, as Send would queue its message: the same
// errors, the same limit. It may be called from any goroutine.
func (c *Conn) SendPrepared(pm *PreparedMessage) error {
	c.mu.Lock()
	if err := c.admitLocked(true); err != nil {
		c.refuseLocked()
		c.countSent(false, err)
		return err
	}
	frame, deflated := pm.frameFor(c)
	c.countSent(deflated, nil)
	if deflated {
		c.deflater.Took(pm.data)
	}
	c.appendLocked(frame)
	trigger := c.claimFlushLocked()
	c.mu.Unlock()
	if trigger {
		return c.schedule()
	}
	return nil
}

// Broadcast sends pm to each of conns with one task per event loop, which
// queues and writes it to that loop's connections together: no task per
// connection. It returns once the tasks are handed to the loops. A
// connection whose queue is full (Config.MaxQueuedBytes) does not get the
// message, and its handler's OnBufferFull is called as when Send returns
// ErrBufferFull; closed connections are skipped. conns may hold
// connections of any loop; Broadcast copies what it needs, so the caller
// may reuse conns as soon as it returns.
// It returns ErrServerClosed if the server no longer runs.
func (s *Server) Broadcast(pm *PreparedMessage, conns []*Conn) error {
	byLoop := make(map[*loop][]*Conn, s.cfg.EventLoops)
	for _, c := range conns {
		if c != nil && c.loop != nil {
			byLoop[c.loop] = append(byLoop[c.loop], c)
		}
	}
	var err error
	for l, cs := range byLoop {
		if e := l.el.Execute(context.Background(), &broadcastTask{pm: pm, conns: cs}); e != nil {
			err = ErrServerClosed
		}
	}
	return err
}

// broadcastTask writes a prepared message to connections of one loop.
type broadcastTask struct {
	pm    *PreparedMessage
	conns []*Conn
}

func (t *broadcastTask) Run(context.Context) error {
	for _, c := range t.conns {
		if !c.alive() || c.state != stateOpen {
			continue
		}
		c.enter()
		_ = c.SendPrepared(t.pm) // entered: the exit below writes it
		c.exit()
	}
	return nil
}
