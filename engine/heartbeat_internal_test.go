package engine

import (
	"testing"
	"time"
)

// TestQuietAfterMean: connections are pinged after a quiet time spread
// over half an interval around PingInterval, so that on average a quiet
// connection is pinged once per PingInterval, as configured: with half a
// million connections the pings are most of the idle CPU, and a spread
// below the interval (½ to 1 of it, as before) pinged a third more often.
func TestQuietAfterMean(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"default", DefaultPingInterval},
		{"short", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const fds = 20000
			iv := int64(tc.interval)
			var sum, lo, hi int64
			lo = iv * 2
			for fd := range fds {
				q := quietAfter(fd, tc.interval)
				sum += q
				lo, hi = min(lo, q), max(hi, q)
			}
			mean := float64(sum) / fds
			if d := mean/float64(iv) - 1; d < -0.01 || d > 0.01 {
				t.Errorf("mean quiet time %v, want PingInterval %v within 1%%", time.Duration(mean), tc.interval)
			}
			if lo < iv*3/4 || hi >= iv*5/4 {
				t.Errorf("quiet times from %v to %v, want within [¾, 1¼) of %v", time.Duration(lo), time.Duration(hi), tc.interval)
			}
			if hi-lo < iv*2/5 {
				t.Errorf("quiet times from %v to %v: not spread over half an interval", time.Duration(lo), time.Duration(hi))
			}
		})
	}
}
