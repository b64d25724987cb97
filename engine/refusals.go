package engine

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// refusalInterval is the least time between two log lines of one kind of
// refusal.
const refusalInterval = time.Second

// refusalLog logs refused connections so that an operator sees them without
// a flood of them flooding the log: at most one line a second for each kind
// (a rejected upgrade's status, a failed TLS handshake, a bad PROXY header),
// carrying the latest refusal's details and how many of that kind there
// were since the previous line. It is safe for concurrent use; every event
// loop reports to the same one.
type refusalLog struct {
	log *slog.Logger

	mu    sync.Mutex
	kinds map[refusalKind]*refusalCount
}

// refusalKind groups refusals in the log: one line a second per kind.
type refusalKind struct {
	level  slog.Level
	msg    string
	status int // the HTTP status of a rejected upgrade, or 0
}

type refusalCount struct {
	last    time.Time   // when the last line of this kind was written
	pending int         // refusals since then, not yet logged
	latest  []slog.Attr // the details of the latest of them
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, kinds: make(map[refusalKind]*refusalCount)}
}

// note records one refusal of kind k. It writes a line, with attrs and the
// count of refusals of that kind since the previous line, when none was
// written within refusalInterval; otherwise it only counts, and flush
// writes the line later.
func (r *refusalLog) note(now time.Time, k refusalKind, attrs ...slog.Attr) {
	if !r.log.Enabled(context.Background(), k.level) {
		return
	}
	r.mu.Lock()
	rc := r.kinds[k]
	if rc == nil {
		rc = &refusalCount{}
		r.kinds[k] = rc
	}
	rc.pending++
	rc.latest = attrs
	if now.Sub(rc.last) < refusalInterval {
		r.mu.Unlock()
		return
	}
	count := rc.pending
	rc.pending, rc.last, rc.latest = 0, now, nil
	r.mu.Unlock()
	r.write(k, attrs, count)
}

// flush writes a line for each kind whose refusals were only counted, once
// its interval is over. The server calls it on every timer tick.
func (r *refusalLog) flush(now time.Time) {
	type line struct {
		k     refusalKind
		attrs []slog.Attr
		count int
	}
	var lines []line
	r.mu.Lock()
	for k, rc := range r.kinds {
		if rc.pending > 0 && now.Sub(rc.last) >= refusalInterval {
			lines = append(lines, line{k, rc.latest, rc.pending})
			rc.pending, rc.last, rc.latest = 0, now, nil
		}
	}
	r.mu.Unlock()
	for _, l := range lines {
		r.write(l.k, l.attrs, l.count)
	}
}

func (r *refusalLog) write(k refusalKind, attrs []slog.Attr, count int) {
	if k.status != 0 {
		attrs = append(attrs, slog.Int("status", k.status))
	}
	attrs = append(attrs, slog.Int("count", count))
	r.log.LogAttrs(context.Background(), k.level, k.msg, attrs...)
}
