package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	trimTick = time.Second
	// trimQuiet is the most a tick may allocate for the burst to be over.
	trimQuiet = 1 << 20
	// trimMinWaste is the least worth a collection and a return to the OS.
	trimMinWaste = 8 << 20
	// trimMinGap bounds the cost: at most one forced collection per gap.
	trimMinGap = 10 * time.Second
)

// heapSample is what Run reads from runtime/metrics.
type heapSample struct {
	allocs  uint64 // bytes allocated since the process started
	objects uint64 // heap bytes holding objects, live or not yet collected
	free    uint64 // heap bytes free and not returned to the operating system
	live    uint64 // heap bytes found live by the last collection
}

var heapMetrics = [...]string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/live:bytes",
}

func readHeap(s []metrics.Sample) heapSample {
	metrics.Read(s)
	return heapSample{
		allocs:  s[0].Value.Uint64(),
		objects: s[1].Value.Uint64(),
		free:    s[2].Value.Uint64(),
		live:    s[3].Value.Uint64(),
	}
}

// waste is what a collection followed by a return to the operating system
// could give back: objects allocated since the last collection (garbage, or
// new live ones) and free pages still held.
func (h heapSample) waste() uint64 {
	held := h.objects + h.free
	return held - min(held, h.live)
}

// shouldTrim says, from two samples a tick apart, whether the burst is over
// (the tick allocated less than trimQuiet) and left enough behind: at least
// trimMinWaste and a quarter of the live heap.
func shouldTrim(prev, cur heapSample) bool {
	if cur.allocs-prev.allocs >= trimQuiet {
		return false
	}
	return cur.waste() >= max(trimMinWaste, cur.live/4)
}

// Run watches the heap once a second until ctx ends. When a second has
// allocated less than 1 MiB after a burst that left at least 8 MiB and a
// quarter of the live heap in garbage or free pages, it collects and returns
// the free memory to the operating system (debug.FreeOSMemory), at most once
// every 10 seconds. It logs each return at debug level. Run one per process.
func Run(ctx context.Context, log *slog.Logger) {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	prev := readHeap(s)
	var last time.Time
	t := time.NewTicker(trimTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := readHeap(s)
			if shouldTrim(prev, cur) && now.Sub(last) >= trimMinGap {
				debug.FreeOSMemory()
				last = time.Now()
				after := readHeap(s)
				log.Debug("returned memory to the OS after a burst", "waste", cur.waste(), "heap_live", after.live,
					"took", last.Sub(now))
				cur = after
			}
			prev = cur
		}
	}
}
