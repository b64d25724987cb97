package engine

import (
	"testing"
	"time"
)

// TestSweepParts: the sweep splits a tick into parts of at least 10 ms, at
// most ten of them.
func TestSweepParts(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		tick  time.Duration
		parts int
	}{
		{"defaults", Config{}, time.Second, 10},
		{"200 ms pong timeout", Config{PongTimeout: 200 * time.Millisecond}, 50 * time.Millisecond, 5},
		{"10 ms floor", Config{PongTimeout: 20 * time.Millisecond}, 10 * time.Millisecond, 1},
		{"5 s pings", Config{PingInterval: 5 * time.Second}, time.Second, 10},
		{"2 s idle timeout", Config{IdleTimeout: 2 * time.Second}, 500 * time.Millisecond, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.withDefaults()
			if got := cfg.tick(); got != tc.tick {
				t.Errorf("tick %v, want %v", got, tc.tick)
			}
			if got := cfg.sweepParts(); got != tc.parts {
				t.Errorf("%d parts, want %d", got, tc.parts)
			}
		})
	}
}
