package engine

import (
	"net/http"
	"net/netip"
	"strings"
)

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

// clientIP resolves the client's address. Headers count only when peer is a
// trusted proxy: X-Real-IP first, then X-Forwarded-For read from the right,
// where the first address that is not a trusted proxy is the client (the
// ones to its left could have been written by the client itself).
func (t trustedProxies) clientIP(peer netip.Addr, h http.Header) netip.Addr {
	if !t.contains(peer) {
		return peer
	}
	if v := h.Get("X-Real-Ip"); v != "" {
		if a, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil {
			return a.Unmap()
		}
	}
	xff := h.Values("X-Forwarded-For")
	hop := peer
	for i := len(xff) - 1; i >= 0; i-- {
		fields := strings.Split(xff[i], ",")
		for j := len(fields) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(fields[j]))
			if err != nil {
				return hop // a malformed entry ends what can be believed
			}
			hop = a.Unmap()
			if !t.contains(hop) {
				return hop
			}
		}
	}
	return hop
}
