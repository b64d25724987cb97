package engine

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// IPSource says where a connection's client IP came from, and, as
// Config.RealIPHeader, the one source a server believes.
type IPSource uint8

// Sources of the client IP. Only the TCP peer and the one source named by
// Config.RealIPHeader are ever consulted, and that source only when the hop
// that wrote it is a trusted proxy.
const (
	// SourcePeer: the TCP peer itself; no trusted proxy said otherwise.
	SourcePeer IPSource = iota
	// SourceProxyProtocol: the source a trusted peer announced in a PROXY
	// protocol header (Config.ProxyProtocol). As Config.RealIPHeader: no
	// header is read, the PROXY header alone names the client (HAProxy's
	// send-proxy-v2, cloud network load balancers).
	SourceProxyProtocol
	// SourceXRealIP: the X-Real-IP header a trusted proxy set, one address
	// (nginx's "proxy_set_header X-Real-IP $remote_addr").
	SourceXRealIP
	// SourceForwarded: the rightmost "for=" of the Forwarded header
	// (RFC 7239) that is not a trusted proxy.
	SourceForwarded
	// SourceXForwardedFor: the rightmost address of X-Forwarded-For that
	// is not a trusted proxy (AWS ALB, Google's and Cloudflare's load
	// balancers, Envoy, and nginx's $proxy_add_x_forwarded_for).
	SourceXForwardedFor

	// sourceProxyUnknown marks a connection whose trusted peer sent a
	// PROXY header without an address (LOCAL, UNKNOWN): nobody vouches for
	// the client, so none of its headers may count.
	sourceProxyUnknown IPSource = 0xFF
)

// ErrUnknownIPSource is returned by IPSource.UnmarshalText for a name that
// is not a source.
var ErrUnknownIPSource = errors.New("engine: unknown client IP source (want X-Real-IP, X-Forwarded-For, Forwarded or proxy-protocol)")

func (s IPSource) String() string {
	switch s {
	case SourcePeer, sourceProxyUnknown:
		return "peer"
	case SourceProxyProtocol:
		return "proxy-protocol"
	case SourceXRealIP:
		return "x-real-ip"
	case SourceForwarded:
		return "forwarded"
	case SourceXForwardedFor:
		return "x-forwarded-for"
	}
	return "unknown"
}

// MarshalText returns the source's name, as String does.
func (s IPSource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a source's name, in any case: X-Real-IP,
// X-Forwarded-For, Forwarded, proxy-protocol or peer. It lets an IPSource be
// a flag (flag.TextVar) or a configuration file field.
func (s *IPSource) UnmarshalText(b []byte) error {
	for _, v := range []IPSource{SourcePeer, SourceProxyProtocol, SourceXRealIP, SourceForwarded, SourceXForwardedFor} {
		if strings.EqualFold(string(b), v.String()) {
			*s = v
			return nil
		}
	}
	return ErrUnknownIPSource
}

// realIP resolves client addresses the way nginx's realip module does: the
// operator names the one source the proxy in front sets, and the trusted
// prefixes; nothing else is read.
type realIP struct {
	trusted []netip.Prefix
	header  IPSource // SourceProxyProtocol, SourceXRealIP, SourceForwarded or SourceXForwardedFor
}

func (r realIP) contains(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP resolves the client's address from the nearest hop and its
// source: the TCP peer (SourcePeer), the address a trusted peer announced in
// a PROXY header (SourceProxyProtocol), or sourceProxyUnknown for a PROXY
// header without one. Only when that hop is a trusted proxy is the one
// header r names read:
//   - X-Real-IP must hold exactly one address;
//   - X-Forwarded-For and Forwarded are read from the right, over all their
//     lines: the first address that is not a trusted proxy is the client
//     (those to its left could have been written by the client itself), and
//     if all are trusted, the leftmost.
//
// A value that does not parse, anywhere in the part of a list that is read,
// leaves the hop as the client: it never lets another source decide.
func (r realIP) clientIP(hop netip.Addr, src IPSource, h http.Header) (netip.Addr, IPSource) {
	if src == sourceProxyUnknown {
		return hop, SourcePeer
	}
	if r.header == SourceProxyProtocol || !r.contains(hop) {
		return hop, src
	}
	var (
		a  netip.Addr
		ok bool
	)
	switch r.header {
	case SourceXRealIP:
		if v := h.Values("X-Real-Ip"); len(v) == 1 {
			a, ok = parseNode(v[0])
		}
	case SourceForwarded:
		a, ok = r.walk(h.Values("Forwarded"), forwardedFor)
	case SourceXForwardedFor:
		a, ok = r.walk(h.Values("X-Forwarded-For"), parseNode)
	}
	if !ok {
		return hop, src
	}
	return a, r.header
}

// walk reads a comma-separated list of hops, spread over header lines, from
// the right, and returns the first address that is not a trusted proxy, or
// the leftmost if all are. It fails on an empty list and on any entry it
// reaches that does not parse.
func (r realIP) walk(lines []string, parse func(string) (netip.Addr, bool)) (netip.Addr, bool) {
	var last netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		fields := strings.Split(lines[i], ",")
		for j := len(fields) - 1; j >= 0; j-- {
			a, ok := parse(fields[j])
			if !ok {
				return netip.Addr{}, false
			}
			if last = a; !r.contains(a) {
				return a, true
			}
		}
	}
	return last, last.IsValid()
}

// parseNode reads one address of X-Real-IP or X-Forwarded-For: an IPv4 or
// IPv6 address, or one with a port ("192.0.2.1:443", "[2001:db8::1]:443"),
// as some load balancers write it. Zones are refused.
func parseNode(f string) (netip.Addr, bool) {
	f = strings.TrimSpace(f)
	a, err := netip.ParseAddr(f)
	if err != nil {
		ap, perr := netip.ParseAddrPort(f)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap(), a.Zone() == ""
}

// forwardedFor returns the address of the "for" parameter of one element of
// a Forwarded header (RFC 7239): for=192.0.2.60, for="[2001:db8::17]:4711",
// for="198.51.100.7:80". An element without one, and obfuscated and
// "unknown" nodes, are not addresses.
func forwardedFor(elem string) (netip.Addr, bool) {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(k, "for") {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1] // a bracketed IPv6 address without a port
		}
		return parseNode(v)
	}
	return netip.Addr{}, false
}

// newRealIP checks cfg's TrustedProxies and RealIPHeader (already given
// their defaults) and writes IPv4-mapped prefixes as IPv4.
func newRealIP(cfg Config) (realIP, error) {
	r := realIP{trusted: make([]netip.Prefix, len(cfg.TrustedProxies)), header: cfg.RealIPHeader}
	for i, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return r, fmt.Errorf("engine: invalid trusted proxy prefix %v", p)
		}
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		r.trusted[i] = netip.PrefixFrom(p.Addr().Unmap(), bits).Masked()
	}
	switch r.header {
	case SourceXRealIP, SourceForwarded, SourceXForwardedFor:
	case SourceProxyProtocol:
		if !cfg.ProxyProtocol {
			return r, errors.New("engine: RealIPHeader proxy-protocol needs ProxyProtocol: the address comes from the PROXY header")
		}
	default:
		return r, fmt.Errorf("engine: RealIPHeader %v is not a header a proxy sets", r.header)
	}
	return r, nil
}
