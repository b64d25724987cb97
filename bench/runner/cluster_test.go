package runner

import (
	"testing"
	"time"
)

func TestClusterGap(t *testing.T) {
	cases := []struct {
		name string
		min  time.Duration
		n    int
		want time.Duration
	}{
		{"a few subscribers: the minimum", 200 * time.Millisecond, 3000, 200 * time.Millisecond},
		{"one process's 16,000: longer than the minimum", 200 * time.Millisecond, 16000, 640 * time.Millisecond},
		{"the goal's 500,000", 200 * time.Millisecond, 500000, 20 * time.Second},
		{"none", 50 * time.Millisecond, 0, 50 * time.Millisecond},
	}
	for _, c := range cases {
		if got := clusterGap(c.min, c.n); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
