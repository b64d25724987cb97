package logtest

import (
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	log, b := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { log.Debug("from a goroutine", "n", 1) })
	}
	wg.Wait()
	if n := b.Count("msg=\"from a goroutine\" n=1"); n != 8 {
		t.Fatalf("%d lines, want 8:\n%s", n, b)
	}
}
