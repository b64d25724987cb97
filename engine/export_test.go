package engine

import (
	"net/http"
	"net/netip"
)

// ResolveClientIP exposes client IP resolution to the tests: cfg's
// TrustedProxies, RealIPHeader and ProxyProtocol, the nearest hop and how it
// is known (SourcePeer, SourceProxyProtocol or SourceProxyUnknown).
func ResolveClientIP(cfg Config, hop netip.Addr, src IPSource, h http.Header) (netip.Addr, IPSource, error) {
	r, err := newRealIP(cfg.withDefaults())
	if err != nil {
		return netip.Addr{}, 0, err
	}
	a, s := r.clientIP(hop, src, h)
	return a, s, nil
}

// SourceProxyUnknown is the hop's source after a PROXY LOCAL or UNKNOWN header.
const SourceProxyUnknown = sourceProxyUnknown

// CheckOrigin exposes the Origin check: New's error for allowed, or the
// check's for h.
func CheckOrigin(allowed []string, h http.Header) (newErr, checkErr error) {
	p, err := newOriginPolicy(allowed)
	if err != nil {
		return err, nil
	}
	return nil, p.check(h)
}

// ProxyHeaderLength and ParseProxyHeader expose the PROXY protocol stage.
var (
	ProxyHeaderLength = proxyHeaderLength
	ParseProxyHeader  = parseProxyHeader
)
