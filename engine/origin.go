package engine

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wssd/wssd/wsproto"
)

// originPolicy is Config.AllowedOrigins, parsed: the origins whose pages may
// open a WebSocket. The zero value allows every request.
type originPolicy struct {
	exact     map[origin]struct{}
	wildcards []origin // host is the domain after "*."
}

// origin is a serialized origin's parts (RFC 6454), lowercased, its port
// empty when it is the scheme's default.
type origin struct{ scheme, host, port string }

// newOriginPolicy parses allowed origins: "https://app.example.com",
// "http://localhost:3000" and "https://*.example.com" (every subdomain).
func newOriginPolicy(allowed []string) (originPolicy, error) {
	var p originPolicy
	for _, s := range allowed {
		o, err := parseOrigin(s)
		if err != nil {
			return p, fmt.Errorf("engine: allowed origin %q: %w", s, err)
		}
		if domain, ok := strings.CutPrefix(o.host, "*."); ok {
			if domain == "" || strings.Contains(domain, "*") {
				return p, fmt.Errorf("engine: allowed origin %q: a wildcard is \"*.\" before a domain", s)
			}
			o.host = domain
			p.wildcards = append(p.wildcards, o)
			continue
		}
		if strings.Contains(o.host, "*") {
			return p, fmt.Errorf("engine: allowed origin %q: a wildcard is \"*.\" before a domain", s)
		}
		if p.exact == nil {
			p.exact = map[origin]struct{}{}
		}
		p.exact[o] = struct{}{}
	}
	return p, nil
}

// parseOrigin reads scheme://host[:port], as browsers send Origin.
func parseOrigin(s string) (origin, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return origin{}, err
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return origin{}, fmt.Errorf("not scheme://host[:port]")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return origin{}, fmt.Errorf("an origin has no user, path, query or fragment")
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if defaultPorts[o.scheme] == o.port {
		o.port = ""
	}
	return o, nil
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// check returns a 403 RejectError unless the request's Origin is allowed.
// A request without Origin does not come from a browser page and passes.
func (p originPolicy) check(h http.Header) error {
	if p.exact == nil && p.wildcards == nil {
		return nil
	}
	values := h.Values("Origin")
	switch {
	case len(values) == 0:
		return nil
	case len(values) > 1:
		return &wsproto.RejectError{Status: http.StatusForbidden, Reason: "more than one Origin header"}
	}
	if o, err := parseOrigin(values[0]); err == nil && p.allows(o) {
		return nil
	}
	return &wsproto.RejectError{Status: http.StatusForbidden, Reason: fmt.Sprintf("Origin %q is not allowed", values[0])}
}

func (p originPolicy) allows(o origin) bool {
	if _, ok := p.exact[o]; ok {
		return true
	}
	for _, w := range p.wildcards {
		if w.scheme == o.scheme && w.port == o.port && strings.HasSuffix(o.host, "."+w.host) {
			return true
		}
	}
	return false
}
