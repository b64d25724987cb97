package wstest

import "testing"

// Transport is a way to reach a server under test. Every behaviour is tested
// over each of them, as net/http's tests run over h1, https and h2. Its
// name is also the URL scheme.
type Transport struct {
	Name string
	// TLS makes the server speak TLS; clients trust internal/testpki.
	TLS bool
}

// Transports lists the transports: ws, and wss.
var Transports = []Transport{{Name: "ws"}, {Name: "wss", TLS: true}}

// ForEachTransport runs f as a subtest per transport.
func ForEachTransport(t *testing.T, f func(t *testing.T, tr Transport)) {
	t.Helper()
	for _, tr := range Transports {
		t.Run(tr.Name, func(t *testing.T) { f(t, tr) })
	}
}
