package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/logtest"
)

func TestShouldTrim(t *testing.T) {
	const mib = 1 << 20
	idle := heapSample{allocs: 1000 * mib, objects: 75 * mib, free: 20 * mib, live: 75 * mib}
	cases := []struct {
		name      string
		prev, cur heapSample
		want      bool
	}{
		{name: "burst over, free pages held", prev: idle, cur: idle, want: true},
		{name: "burst over, garbage not collected",
			prev: heapSample{allocs: 1000 * mib, objects: 110 * mib, live: 60 * mib},
			cur:  heapSample{allocs: 1000*mib + 100, objects: 110 * mib, live: 60 * mib}, want: true},
		{name: "burst still allocating",
			prev: idle, cur: heapSample{allocs: idle.allocs + 2*mib, objects: 77 * mib, free: 20 * mib, live: 75 * mib}},
		{name: "just under the quiet limit",
			prev: idle, cur: heapSample{allocs: idle.allocs + trimQuiet - 1, objects: 76 * mib, free: 20 * mib, live: 75 * mib}, want: true},
		{name: "already trimmed", prev: idle, cur: heapSample{allocs: idle.allocs, objects: 75 * mib, free: mib / 4, live: 75 * mib}},
		{name: "less than an eighth of the live heap",
			prev: idle, cur: heapSample{allocs: idle.allocs, objects: 80 * mib, free: 4 * mib, live: 80 * mib}},
		{name: "an eighth of the live heap",
			prev: idle, cur: heapSample{allocs: idle.allocs, objects: 80 * mib, free: 10 * mib, live: 80 * mib}, want: true},
		{name: "small heap, under the minimum",
			prev: idle, cur: heapSample{allocs: idle.allocs, objects: 2 * mib, free: 3 * mib, live: 2 * mib}},
		{name: "small heap, at the minimum",
			prev: idle, cur: heapSample{allocs: idle.allocs, objects: 2 * mib, free: 4 * mib, live: 2 * mib}, want: true},
		{name: "large heap, quiet for its size",
			prev: heapSample{allocs: 1 << 40}, cur: heapSample{allocs: 1<<40 + 30*mib, objects: 2400 * mib, free: 400 * mib, live: 2400 * mib}, want: true},
		{name: "large heap, a burst",
			prev: heapSample{allocs: 1 << 40}, cur: heapSample{allocs: 1<<40 + 40*mib, objects: 2400 * mib, free: 400 * mib, live: 2400 * mib}},
		{name: "live above what is held, right after a collection",
			prev: idle, cur: heapSample{allocs: idle.allocs, objects: 70 * mib, live: 75 * mib}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := shouldTrim(tt.prev, tt.cur); got != tt.want {
				t.Fatalf("shouldTrim(%+v, %+v) = %v, want %v (waste %d)", tt.prev, tt.cur, got, tt.want, tt.cur.waste())
			}
		})
	}
}

// sink keeps the test's allocations from being optimised away.
var sink [][]byte

// TestHeapSampleSeesABurst checks that the metrics shouldTrim reads show a
// burst's garbage as waste, and a FreeOSMemory as its end.
func TestHeapSampleSeesABurst(t *testing.T) {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			t.Fatalf("%s: kind %v, want uint64", x.Name, x.Value.Kind())
		}
	}
	debug.FreeOSMemory()
	before := readHeap(s)
	if before.waste() >= trimMinWaste {
		t.Fatalf("right after FreeOSMemory: waste %d", before.waste())
	}
	old := debug.SetGCPercent(-1) // the burst's garbage stays until the trim
	defer debug.SetGCPercent(old)
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	burst := readHeap(s)
	if burst.allocs-before.allocs < 64<<20 {
		t.Fatalf("allocs grew by %d, want at least 64 MiB", burst.allocs-before.allocs)
	}
	if !shouldTrim(burst, burst) {
		t.Fatalf("after a 64 MiB burst: no trim (%+v, waste %d)", burst, burst.waste())
	}
	debug.FreeOSMemory()
	after := readHeap(s)
	if shouldTrim(after, after) {
		t.Fatalf("after the trim: trim again (%+v, waste %d)", after, after.waste())
	}
}

// TestRunReturnsABurst runs the trimmer over a burst of garbage that no
// collection frees (GOGC off): it must collect it and return it to the OS.
func TestRunReturnsABurst(t *testing.T) {
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	held := func() uint64 {
		h := readHeap(s)
		return h.objects + h.free
	}

	log, logged := logtest.New()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, log)
	}()
	defer func() {
		stop()
		<-done
	}()
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	burst := held()
	const msg = `msg="returned memory to the OS after a burst"`
	deadline := time.Now().Add(20 * trimTick)
	for logged.Count(msg) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no trim within %s of a 64 MiB burst; logged:\n%s", 20*trimTick, logged)
		}
		time.Sleep(trimTick / 10)
	}
	if after := held(); after+32<<20 > burst {
		t.Fatalf("the heap held %d bytes after the burst, %d after the trim: want 32 MiB less", burst, after)
	}
}
