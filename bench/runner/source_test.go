package runner

import (
	"net/netip"
	"strings"
	"testing"
)

// TestSource: each loadgen dials from its own sourcesPerClient loopback
// addresses, none shared with another loadgen, none the server's.
func TestSource(t *testing.T) {
	seen := map[string]int{}
	for i := range 200 {
		addrs := strings.Split(source(i), ",")
		if len(addrs) != sourcesPerClient {
			t.Fatalf("loadgen %d: %d addresses, want %d", i, len(addrs), sourcesPerClient)
		}
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil || !ip.IsLoopback() || a == "127.0.0.1" {
				t.Fatalf("loadgen %d: address %q (%v)", i, a, err)
			}
			if j, ok := seen[a]; ok {
				t.Fatalf("%s is loadgen %d's and %d's", a, j, i)
			}
			seen[a] = i
		}
	}
}
