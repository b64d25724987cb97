package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/wssd/wssd/internal/bufpool"
)

// PROXY protocol header signatures and sizes (haproxy.org/download/2.9/doc/proxy-protocol.txt).
var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	proxyV1Max    = 107 // the longest v1 line, CRLF included
	proxyV2Fixed  = 16  // signature, version and command, family, length
	proxyV2MaxLen = proxyV2Fixed + 0xFFFF
)

// Errors that end a connection on a listener that requires the PROXY protocol.
var (
	errNoProxyHeader        = errors.New("engine: connection did not start with a PROXY protocol header")
	errUntrustedProxyHeader = errors.New("engine: PROXY protocol header from a peer that is not a trusted proxy")
)

// proxyHeaderLength returns the size of the PROXY protocol header at the
// start of b, -1 while b may still become one, or errNoProxyHeader.
func proxyHeaderLength(b []byte) (int, error) {
	switch {
	case bytes.HasPrefix(b, proxyV1Sig):
		if i := bytes.Index(b[:min(len(b), proxyV1Max)], []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= proxyV1Max {
			return 0, errNoProxyHeader
		}
		return -1, nil
	case bytes.HasPrefix(b, proxyV2Sig):
		if len(b) < proxyV2Fixed {
			return -1, nil
		}
		return proxyV2Fixed + int(binary.BigEndian.Uint16(b[14:16])), nil
	case bytes.HasPrefix(proxyV1Sig, b), bytes.HasPrefix(proxyV2Sig, b):
		return -1, nil // a prefix of a signature: wait for more
	}
	return 0, errNoProxyHeader
}

// parseProxyHeader decodes a complete header with go-proxyproto. It returns
// the announced source, or an invalid AddrPort for a LOCAL command (a
// health check of the proxy's own) and for an unknown family.
func parseProxyHeader(b []byte) (netip.AddrPort, error) {
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(b), max(len(b), 16)))
	if err != nil {
		return netip.AddrPort{}, err
	}
	if h.Command != proxyproto.PROXY {
		return netip.AddrPort{}, nil
	}
	if src, ok := h.SourceAddr.(*net.TCPAddr); ok {
		ap := src.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	return netip.AddrPort{}, nil
}

// receiveProxyHeader reads the PROXY protocol header a connection must
// start with and returns the bytes after it, which belong to TLS or HTTP.
// The caller hands them on and then calls release.
func (c *Conn) receiveProxyHeader(data []byte) (rest []byte, release func(), ok bool) {
	buf := data
	if c.in != nil {
		c.in.B = append(c.in.B, data...)
		buf = c.in.B
	}
	n, err := proxyHeaderLength(buf)
	if err == nil && n < 0 {
		if c.in == nil {
			c.in = bufpool.Get()
			c.in.B = append(c.in.B, data...)
		}
		return nil, nil, false
	}
	if err == nil && len(buf) < n {
		if len(buf) > proxyV2MaxLen {
			err = errNoProxyHeader
		} else {
			if c.in == nil {
				c.in = bufpool.Get()
				c.in.B = append(c.in.B, data...)
			}
			return nil, nil, false
		}
	}
	var src netip.AddrPort
	if err == nil && !c.srv.trusted.contains(c.remote.Addr()) {
		err = errUntrustedProxyHeader
	}
	if err == nil {
		src, err = parseProxyHeader(buf[:n])
	}
	if err != nil {
		c.srv.refuse(RefusedProxyHeader)
		c.srv.refusals.note(time.Now(), refusalKind{level: slog.LevelWarn, msg: "connection refused: bad PROXY protocol header"},
			slog.Any("peer", c.remote), slog.String("err", err.Error()))
		c.closeErr = err
		c.drain()
		return nil, nil, false
	}
	c.awaitProxy = false
	c.ipSource = sourceProxyUnknown // LOCAL or UNKNOWN: nobody vouches for the client's headers
	if src.IsValid() {
		c.clientIP, c.ipSource = src.Addr(), SourceProxyProtocol
		if c.tls != nil {
			c.tls.SetPeer(c.clientIP) // before any TLS byte: the handshake counts against the client
		}
	}
	in := c.in
	c.in = nil
	return buf[n:], func() { bufpool.Put(in) }, true
}
