package main

import (
	"context"
	"log/slog"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/procstat"
)

// countingHandler counts the open connections of the handler it wraps, for
// the stats line.
type countingHandler struct {
	engine.Handler
	open *atomic.Int64
}

func (h countingHandler) OnOpen(c *engine.Conn) {
	h.open.Add(1)
	h.Handler.OnOpen(c)
}

func (h countingHandler) OnClose(c *engine.Conn, err error) {
	h.open.Add(-1)
	h.Handler.OnClose(c, err)
}

// withStats returns h wrapped to count its connections and, every interval,
// logs one "stats" line: open connections, Go heap in use, released to
// the OS and live after the last GC, resident memory, goroutines and completed GC cycles. stop ends the
// logging and waits for it. With interval 0 it returns h and a no-op stop.
//
// The figures come from runtime/metrics, which does not stop the world
// (runtime.ReadMemStats does), and from /proc/self/status for the RSS (0
// where there is no /proc).
func withStats(log *slog.Logger, interval time.Duration, h engine.Handler) (_ engine.Handler, stop func()) {
	if interval <= 0 {
		return h, func() {}
	}
	open := new(atomic.Int64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		samples := []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"},
			{Name: "/memory/classes/heap/released:bytes"},
			{Name: "/sched/goroutines:goroutines"},
			{Name: "/gc/cycles/total:gc-cycles"},
			{Name: "/gc/heap/live:bytes"},
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			metrics.Read(samples)
			log.Info("stats",
				"conns", open.Load(),
				// heap_inuse is runtime.MemStats.HeapInuse: live and dead
				// objects plus the unused part of their spans.
				"heap_inuse", samples[0].Value.Uint64()+samples[1].Value.Uint64(),
				"heap_released", samples[2].Value.Uint64(),
				// heap_live is what the last GC found reachable: unlike
				// heap_inuse it does not swing with the garbage between
				// two cycles.
				"heap_live", samples[5].Value.Uint64(),
				"rss", selfRSS(),
				"goroutines", samples[3].Value.Uint64(),
				"gc", samples[4].Value.Uint64())
		}
	}()
	return countingHandler{Handler: h, open: open}, func() {
		cancel()
		<-done
	}
}

// selfRSS returns the process's resident set in bytes, as top shows it
// (VmRSS), or 0 if /proc cannot be read.
func selfRSS() int64 {
	n, _ := procstat.RSS(0)
	return n
}
