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
	// A burst is over when a tick allocates less than trimQuiet, or than
	// 1/trimQuietShare of the live heap if that is more: a server of many
	// connections allocates more while idle (crypto/tls allocates for each
	// record it reads, a pong's included).
	trimQuiet      = 1 << 20
	trimQuietShare = 64
	// A return to the OS is worth it from trimMinWaste, or from
	// 1/trimWasteShare of the live heap if that is more: between trims,
	// what an idle server allocates grows its RSS by up to that share.
	trimMinWaste   = 4 << 20
	trimWasteShare = 8
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
// (the tick allocated little) and left enough behind.
func shouldTrim(prev, cur heapSample) bool {
	if cur.allocs-prev.allocs >= max(trimQuiet, cur.live/trimQuietShare) {
		return false
	}
	return cur.waste() >= max(trimMinWaste, cur.live/trimWasteShare)
}

// Run watches the heap once a second until ctx ends. When a second has
// allocated less than 1 MiB (or 1/64 of the live heap, if more) after a
// burst that left at least 4 MiB (or an eighth of the live heap, if more) in
// garbage or free pages, it collects and returns the free memory to the
// operating system (debug.FreeOSMemory), at most once every 10 seconds. It logs each return at debug level. Run one per process.
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
