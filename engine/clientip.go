package engine

import (
	"net/http"
	"net/netip"
	"strings"
)

// IPSource says where a connection's client IP came from.
type IPSource uint8

// Sources of the client IP, in the order wssd consults them. Each hop is
// believed only if the one before it (starting with the TCP peer) is a
// trusted proxy.
const (
	// SourcePeer: the TCP peer itself; no trusted proxy said otherwise.
	SourcePeer IPSource = iota
	// SourceProxyProtocol: the source a trusted peer announced in a PROXY
	// protocol header (Config.ProxyProtocol).
	SourceProxyProtocol
	// SourceXRealIP: the X-Real-IP header a trusted proxy set.
	SourceXRealIP
	// SourceForwarded: the rightmost untrusted "for=" of the Forwarded
	// header (RFC 7239).
	SourceForwarded
	// SourceXForwardedFor: the rightmost untrusted address of
	// X-Forwarded-For.
	SourceXForwardedFor
)

func (s IPSource) String() string {
	switch s {
	case SourcePeer:
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

// trustedProxies decides whose forwarding headers are believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP resolves the client's address from the nearest hop, the TCP peer
// or the source a trusted peer announced with the PROXY protocol. Headers
// count only when that hop is a trusted proxy, in this order: X-Real-IP
// (the one address the adjacent proxy asserts), then Forwarded, then
// X-Forwarded-For, each list read from the right, where the first address
// that is not a trusted proxy is the client (those to its left could have
// been written by the client itself).
func (t trustedProxies) clientIP(hop netip.Addr, src IPSource, h http.Header) (netip.Addr, IPSource) {
	if !t.contains(hop) {
		return hop, src
	}
	if v := h.Get("X-Real-Ip"); v != "" {
		if a, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil {
			return a.Unmap(), SourceXRealIP
		}
	}
	if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		if a, ok := t.walk(hop, fwd, forwardedFor); ok {
			return a, SourceForwarded
		}
	}
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		if a, ok := t.walk(hop, xff, parseAddrField); ok {
			return a, SourceXForwardedFor
		}
	}
	return hop, src
}

// walk reads a comma-separated list of hops, spread over header lines, from
// the right, and returns the first address that is not a trusted proxy, or
// the last believable one. A malformed entry ends what can be believed.
func (t trustedProxies) walk(hop netip.Addr, lines []string, parse func(string) (netip.Addr, bool)) (netip.Addr, bool) {
	found := false
	for i := len(lines) - 1; i >= 0; i-- {
		fields := strings.Split(lines[i], ",")
		for j := len(fields) - 1; j >= 0; j-- {
			a, ok := parse(fields[j])
			if !ok {
				return hop, found
			}
			hop, found = a.Unmap(), true
			if !t.contains(hop) {
				return hop, true
			}
		}
	}
	return hop, found
}

func parseAddrField(f string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(f))
	return a, err == nil
}

// forwardedFor returns the address of the "for" parameter of one element of
// a Forwarded header (RFC 7239): for=192.0.2.60, for="[2001:db8::17]:4711",
// for="198.51.100.7:80". Obfuscated and "unknown" nodes are not addresses.
func forwardedFor(elem string) (netip.Addr, bool) {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(k, "for") {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if ap, err := netip.ParseAddrPort(v); err == nil {
			return ap.Addr(), true
		}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		a, err := netip.ParseAddr(v)
		return a, err == nil && a.Zone() == ""
	}
	return netip.Addr{}, false
}
