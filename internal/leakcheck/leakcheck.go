// Package leakcheck fails a test binary that leaves goroutines behind. Call
// Main from TestMain.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// ignored are goroutines started by dependencies at init, not by tests.
var ignored = []string{
	"testing.(*M).Run",
	"runtime.Stack",
	"panjf2000/ants",        // gnet's worker pool, created at package init
	"os/signal.signal_recv", // lives for the process once signal.Notify was called
}

// Main runs the tests and exits with Run's code.
func Main(m *testing.M, wait time.Duration) { os.Exit(Run(m, wait)) }

// Run runs the tests and returns the exit code: a run whose tests passed
// fails when goroutines it started are still alive after wait.
func Run(m *testing.M, wait time.Duration) int {
	before := ids()
	code := m.Run()
	if code == 0 {
		if leaked := leaked(before, wait); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	return code
}

// stacks returns every goroutine's stack keyed by its "goroutine N" header.
func stacks() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		id, _, _ := strings.Cut(g, " [")
		out[id] = g
	}
	return out
}

func ids() []string {
	var out []string
	for id := range stacks() {
		out = append(out, id)
	}
	return out
}

func leaked(before []string, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		var found []string
	next:
		for id, stack := range stacks() {
			if slices.Contains(before, id) {
				continue
			}
			for _, ig := range ignored {
				if strings.Contains(stack, ig) {
					continue next
				}
			}
			found = append(found, stack)
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return strings.Join(found, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
