package runner

import (
	"slices"
	"testing"
)

func TestMedianEcho(t *testing.T) {
	row := func(server string, size int, perSec, perCPU float64) EchoRow {
		return EchoRow{Key: Key{server, "ws"}, Size: size, PerSecond: perSec, PerServerCPUSecond: perCPU}
	}
	cases := []struct {
		name    string
		in      []EchoRow
		want    []float64   // PerSecond of each output row, in order
		wantCPU []float64   // PerServerCPUSecond of each output row
		runs    [][]float64 // Runs of each output row
	}{
		{
			name: "one round is kept as it is",
			in:   []EchoRow{row("wssd", 64, 10, 20), row("gws", 64, 30, 40)},
			want: []float64{10, 30}, wantCPU: []float64{20, 40}, runs: [][]float64{nil, nil},
		},
		{
			name: "three rounds: the median round, rounds in the order they ran",
			in: []EchoRow{
				row("wssd", 64, 50, 5), row("gws", 64, 7, 1),
				row("wssd", 64, 10, 9), row("gws", 64, 9, 3),
				row("wssd", 64, 30, 7), row("gws", 64, 8, 2),
			},
			want: []float64{30, 8}, wantCPU: []float64{7, 2},
			runs: [][]float64{{50, 10, 30}, {7, 9, 8}},
		},
		{
			name: "the CPU median is taken on its own",
			in:   []EchoRow{row("wssd", 64, 1, 100), row("wssd", 64, 2, 1), row("wssd", 64, 3, 50)},
			want: []float64{2}, wantCPU: []float64{50}, runs: [][]float64{{1, 2, 3}},
		},
		{
			name: "two rounds: the lower one",
			in:   []EchoRow{row("wssd", 64, 8, 1), row("wssd", 64, 4, 2)},
			want: []float64{4}, wantCPU: []float64{1}, runs: [][]float64{{8, 4}},
		},
		{
			name: "sizes are kept apart",
			in:   []EchoRow{row("wssd", 64, 1, 1), row("wssd", 512, 2, 2), row("wssd", 64, 3, 3), row("wssd", 512, 4, 4)},
			want: []float64{1, 2}, wantCPU: []float64{1, 2}, runs: [][]float64{{1, 3}, {2, 4}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := medianEcho(c.in)
			if len(out) != len(c.want) {
				t.Fatalf("%d rows, want %d", len(out), len(c.want))
			}
			for i, r := range out {
				if r.PerSecond != c.want[i] || r.PerServerCPUSecond != c.wantCPU[i] || !slices.Equal(r.Runs, c.runs[i]) {
					t.Errorf("row %d: %.0f/s, %.0f per CPU-s, runs %v; want %.0f, %.0f, %v",
						i, r.PerSecond, r.PerServerCPUSecond, r.Runs, c.want[i], c.wantCPU[i], c.runs[i])
				}
				if len(r.Runs) > 0 && len(r.PerServerCPUSecondRuns) != len(r.Runs) {
					t.Errorf("row %d: %d CPU rounds for %d rounds", i, len(r.PerServerCPUSecondRuns), len(r.Runs))
				}
			}
		})
	}
}
