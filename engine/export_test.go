package engine

import (
	"net/http"
	"net/netip"
)

// ResolveClientIP exposes client IP resolution to the tests.
func ResolveClientIP(trusted []netip.Prefix, peer netip.Addr, h http.Header) (netip.Addr, IPSource) {
	return trustedProxies(trusted).clientIP(peer, SourcePeer, h)
}

// ProxyHeaderLength and ParseProxyHeader expose the PROXY protocol stage.
var (
	ProxyHeaderLength = proxyHeaderLength
	ParseProxyHeader  = parseProxyHeader
)
