package engine

import (
	"net/http"
	"net/netip"
)

// ResolveClientIP exposes client IP resolution to the tests.
func ResolveClientIP(trusted []netip.Prefix, peer netip.Addr, h http.Header) netip.Addr {
	return trustedProxies(trusted).clientIP(peer, h)
}
