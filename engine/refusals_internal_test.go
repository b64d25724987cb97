package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRefusalLog(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	upgrade404 := refusalKind{level: slog.LevelInfo, msg: "upgrade refused", status: 404}
	tlsFail := refusalKind{level: slog.LevelInfo, msg: "TLS handshake failed"}
	debugOnly := refusalKind{level: slog.LevelDebug, msg: "quiet"}
	type event struct {
		at    time.Duration // after t0
		kind  refusalKind
		flush bool // a timer tick instead of a refusal
	}
	cases := []struct {
		name  string
		evs   []event
		lines []string // what each line must hold, in order
	}{
		{
			name:  "the first refusal is logged at once",
			evs:   []event{{at: 0, kind: upgrade404}},
			lines: []string{"status=404 count=1"},
		},
		{
			name: "a burst is one line, then one with the count",
			evs: []event{
				{at: 0, kind: upgrade404}, {at: 10 * time.Millisecond, kind: upgrade404},
				{at: 20 * time.Millisecond, kind: upgrade404}, {at: 500 * time.Millisecond, flush: true},
				{at: 1100 * time.Millisecond, flush: true},
			},
			lines: []string{"count=1", "count=2"},
		},
		{
			name: "kinds are counted apart",
			evs: []event{
				{at: 0, kind: upgrade404}, {at: time.Millisecond, kind: tlsFail},
				{at: 2 * time.Millisecond, kind: upgrade404}, {at: 1500 * time.Millisecond, flush: true},
			},
			lines: []string{`msg="upgrade refused"`, `msg="TLS handshake failed"`, `msg="upgrade refused" n=2 status=404 count=1`},
		},
		{
			name: "after a quiet second the next refusal is logged at once",
			evs: []event{
				{at: 0, kind: tlsFail}, {at: 3 * time.Second, kind: tlsFail},
			},
			lines: []string{"count=1", "count=1"},
		},
		{
			name:  "a level the logger drops is not counted",
			evs:   []event{{at: 0, kind: debugOnly}, {at: 2 * time.Second, flush: true}},
			lines: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)))
			for i, ev := range tc.evs {
				if ev.flush {
					r.flush(t0.Add(ev.at))
					continue
				}
				r.note(t0.Add(ev.at), ev.kind, slog.Int("n", i))
			}
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if len(got) != len(tc.lines) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tc.lines), buf.String())
			}
			for i, want := range tc.lines {
				if !strings.Contains(got[i], want) {
					t.Errorf("line %d: %s\nwant it to hold %q", i, got[i], want)
				}
			}
		})
	}
}
