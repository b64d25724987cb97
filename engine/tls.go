package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/tlsconn"
	"github.com/wssd/wssd/wsproto"
)

// errPlainOnTLS answers a plain HTTP request on a port that speaks TLS.
var errPlainOnTLS = &wsproto.RejectError{
	Status: http.StatusBadRequest,
	Reason: "This port speaks TLS: connect with wss:// (or https://), not ws:// or http://.",
}

// tlsPhase is where a wss connection's TLS layer stands.
type tlsPhase uint8

const (
	tlsSniff     tlsPhase = iota // the first bytes may still be a plain HTTP request
	tlsHandshake                 // fed to crypto/tls; the handshake runs
	tlsUp                        // established: records are decrypted where they lie
)

// startTLS puts a TLS layer under c's upgrade parser. Called from OnOpen.
// Its handshake counts against the client address's share of handshake
// slots; a trusted proxy's own address is not counted (it speaks for many
// clients), and a PROXY protocol header names the client later (SetPeer).
func (c *Conn) startTLS() {
	peer := c.clientIP
	if c.srv.trusted.contains(peer) {
		peer = netip.Addr{}
	}
	c.tls = tlsconn.Server(c.srv.cfg.TLS, c.srv.handshaker, peer, c.wakeTLS)
}

// wakeTLS is called by c's handshake goroutine when it has ciphertext to
// send or a result: the rest happens on the event loop.
func (c *Conn) wakeTLS() {
	_ = c.loop.el.Execute(context.Background(), (*tlsTask)(c))
}

// tlsTask moves a handshake's news along on the event loop.
type tlsTask Conn

func (t *tlsTask) Run(context.Context) error {
	c := (*Conn)(t)
	if !c.alive() || c.tls == nil {
		return nil
	}
	c.enter()
	c.pumpTLS(nil)
	c.exit()
	return nil
}

// receiveTLS takes ciphertext that arrived on c.
func (c *Conn) receiveTLS(ciphertext []byte) {
	if c.state == stateFailing || c.state == stateDraining {
		return // input is discarded
	}
	if c.tlsPhase == tlsSniff {
		if c.srv.cfg.TLSAutodetect && c.in == nil && ciphertext[0] != 0x16 {
			// Not a TLS handshake record: plain ws on the TLS port.
			_ = c.tls.Close()
			c.tls = nil
			c.receive(ciphertext)
			return
		}
		// Until the first bytes show whether this is TLS or a plain HTTP
		// client (which gets a 400 that says so), keep them.
		if c.in != nil {
			c.in.B = append(c.in.B, ciphertext...)
			ciphertext = c.in.B
		}
		if tlsconn.MayBecomeHTTP(ciphertext) {
			if c.in == nil {
				c.in = bufpool.Get()
				c.in.B = append(c.in.B, ciphertext...)
			}
			return
		}
		c.tlsPhase = tlsHandshake
		if c.in != nil {
			defer func(in *bufpool.Buffer) { bufpool.Put(in) }(c.in)
			c.in = nil
		}
	}
	if c.tlsPhase == tlsUp {
		c.pumpTLS(ciphertext) // read by crypto/tls where it lies, without Feed's copy
		return
	}
	if err := c.tls.Feed(ciphertext); err != nil {
		c.tlsFailed(err, ciphertext)
		return
	}
	c.pumpTLS(nil)
}

// pumpTLS sends what TLS has to send, notes the end of the handshake, and
// passes decrypted bytes to the WebSocket layer: those fed before, then
// ciphertext, which only an established connection may pass.
func (c *Conn) pumpTLS(ciphertext []byte) {
	c.sendCiphertext()
	if !c.alive() {
		return
	}
	if c.tlsPhase != tlsUp {
		done, err := c.tls.HandshakeComplete()
		c.sendCiphertext() // an alert, after a failure
		if !done || !c.alive() {
			return
		}
		if err != nil {
			c.tlsFailed(err, nil)
			return
		}
		c.tlsPhase = tlsUp
	}
	plain, err := c.tls.AppendDecrypted(c.loop.plain[:0], ciphertext)
	c.loop.plain = plain[:0]
	if len(plain) > 0 && (c.state == stateUpgrading || c.state == stateOpen || c.state == stateClosing) {
		c.receive(plain)
	}
	if !c.alive() {
		return
	}
	if err != nil {
		if !errors.Is(err, io.EOF) && c.closeErr == nil {
			c.closeErr = err
		}
		// close_notify or a broken record: nothing more can be read, but
		// what is queued (a close echo, say) can still be written.
		c.drain()
	}
	c.sendCiphertext()
}

// tlsFailed ends a connection whose TLS layer failed. A plain HTTP request
// on the TLS port gets a plain 400 that says what to do instead.
func (c *Conn) tlsFailed(err error, first []byte) {
	if c.closeErr == nil {
		c.closeErr = err
	}
	if errors.Is(err, tlsconn.ErrNotTLS) && tlsconn.LooksLikeHTTP(first) {
		_ = c.tls.Close()
		c.tls = nil // the answer goes out in plain text
		c.reject(errPlainOnTLS)
		return
	}
	switch {
	case errors.Is(err, tlsconn.ErrHandshakeTimeout):
		c.srv.refuse(RefusedHandshakeTimeout)
	case errors.Is(err, tlsconn.ErrTooManyHandshakes), errors.Is(err, tlsconn.ErrTooManyPerIP):
		c.srv.refuse(RefusedTLSBusy)
	case !errors.Is(err, tlsconn.ErrHandshakerClosed): // closed by Shutdown: no refusal
		c.srv.refuse(RefusedTLSHandshake)
	}
	c.srv.refusals.note(time.Now(), refusalKind{level: slog.LevelInfo, msg: "TLS handshake failed"},
		slog.Any("peer", c.remote), slog.String("err", err.Error()))
	c.drain() // an alert may be queued: it goes out first
}

// sendCiphertext writes what the TLS layer produced to the socket.
func (c *Conn) sendCiphertext() {
	for c.alive() {
		out := c.tls.Outbound()
		if len(out) == 0 {
			return
		}
		n := len(out)
		c.sockWrite(out) // gnet copies what the socket does not take
		if !c.alive() {
			return // the write failed and gnet closed the connection
		}
		c.tls.DiscardOutbound(n)
	}
}

// writeTLS encrypts p and sends it.
func (c *Conn) writeTLS(p []byte) {
	if c.tlsPhase != tlsUp {
		return
	}
	if _, err := c.tls.Write(p); err != nil {
		if c.closeErr == nil {
			c.closeErr = err
		}
		c.drain()
	}
	c.sendCiphertext()
}

// sayGoodbye sends TLS's close_notify before the server closes or shuts down
// its sending side, once.
func (c *Conn) sayGoodbye() {
	if c.tls == nil || c.tlsPhase != tlsUp || c.notified || !c.alive() {
		return
	}
	c.notified = true
	_ = c.tls.CloseWrite()
	c.sendCiphertext()
}

// TLSState returns the connection's TLS state, or nil for plain ws. Call it
// from a Handler callback of this connection.
func (c *Conn) TLSState() *tls.ConnectionState {
	if c.tls == nil || c.tlsPhase != tlsUp {
		return nil
	}
	st := c.tls.ConnectionState()
	return &st
}
