package engine_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
)

func TestMain(m *testing.M) {
	bufpool.SetPoison(true) // payloads kept past their callback read garbage
	before := goroutineIDs()
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(before, 10*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// goroutineStacks returns the stack of every goroutine, keyed by its header
// line ("goroutine 7 [running]:" without the state).
func goroutineStacks() map[string]string {
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

func goroutineIDs() []string {
	var ids []string
	for id := range goroutineStacks() {
		ids = append(ids, id)
	}
	return ids
}

// leakedGoroutines waits up to wait for goroutines started by the tests to
// end, and describes those that do not.
func leakedGoroutines(before []string, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutineStacks() {
			if slices.Contains(before, id) || strings.Contains(stack, "testing.(*M).Run") ||
				strings.Contains(stack, "runtime.Stack") || strings.Contains(stack, "panjf2000/ants") {
				continue
			}
			leaked = append(leaked, stack)
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
