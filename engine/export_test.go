package engine

import (
	"net/http"
	"net/netip"
	"syscall"
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

// WithAcceptFault returns cfg with a fault injected into the acceptor: the
// n-th accept, counted from 1, fails with fault(n) when that is not 0.
func WithAcceptFault(cfg Config, fault func(n int) syscall.Errno) Config {
	cfg.acceptFault = fault
	return cfg
}

// PerIPKey exposes what MaxConnsPerIP counts a peer under.
func PerIPKey(trusted []netip.Prefix, peer netip.Addr) (netip.Addr, bool) {
	return perIPKey(trusted, peer)
}
