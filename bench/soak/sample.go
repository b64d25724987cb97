package soak

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// ServerStats is wssd's "stats" log line (-stats-interval), in JSON.
type ServerStats struct {
	Conns        int64 `json:"conns"`
	HeapInuse    int64 `json:"heap_inuse"`
	HeapReleased int64 `json:"heap_released"`
	HeapLive     int64 `json:"heap_live"`
	RSS          int64 `json:"rss"`
	Goroutines   int64 `json:"goroutines"`
	GC           int64 `json:"gc"`
}

// parseStatsLine reads a stats line of wssd's JSON log; ok is false for
// any other line. A stats line without one of the figures is an error:
// the soak would otherwise check a bound against zero.
func parseStatsLine(line []byte) (st ServerStats, ok bool, err error) {
	if !bytes.Contains(line, []byte(`"msg":"stats"`)) {
		return st, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return st, false, fmt.Errorf("soak: stats line: %w", err)
	}
	if string(m["msg"]) != `"stats"` {
		return st, false, nil
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{
		{"conns", &st.Conns}, {"heap_inuse", &st.HeapInuse}, {"heap_released", &st.HeapReleased},
		{"heap_live", &st.HeapLive},
		{"rss", &st.RSS}, {"goroutines", &st.Goroutines}, {"gc", &st.GC},
	} {
		raw, found := m[f.key]
		if !found {
			return st, false, fmt.Errorf("soak: stats line without %s: %s", f.key, line)
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return st, false, fmt.Errorf("soak: stats line, %s: %w", f.key, err)
		}
	}
	return st, true, nil
}

// procFDs returns the number of process pid's open file descriptors.
func procFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// Sample is the state of the server and the clients at one moment.
type Sample struct {
	At     time.Duration `json:"at"` // since the baseline
	RSS    int64         `json:"rss"`
	FDs    int           `json:"fds"`
	Server ServerStats   `json:"server"` // the latest stats line
	Honest HonestCounts  `json:"honest"`
	// Hostile is the number of hostile clients in flight.
	Hostile int64 `json:"hostile"`
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// String is one line for the log of a run.
func (s Sample) String() string {
	return fmt.Sprintf("t=%-6v rss=%s heap_inuse=%s heap_released=%s heap_live=%s goroutines=%d gc=%d fds=%d server_conns=%d | honest open=%d sent=%d received=%d lost=%d corrupt=%d dropped=%d churned=%d | hostile in flight=%d",
		s.At.Round(time.Second), mib(s.RSS), mib(s.Server.HeapInuse), mib(s.Server.HeapReleased), mib(s.Server.HeapLive), s.Server.Goroutines,
		s.Server.GC, s.FDs, s.Server.Conns, s.Honest.Open, s.Honest.Sent, s.Honest.Received, s.Honest.Lost,
		s.Honest.Corrupt, s.Honest.Dropped, s.Honest.Churned, s.Hostile)
}
