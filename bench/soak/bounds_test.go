package soak_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/soak"
)

const mib = 1 << 20

// base is a baseline sample of 1,000 honest connections.
func base() soak.Sample {
	return soak.Sample{
		RSS: 100 * mib, FDs: 1010,
		Server: soak.ServerStats{Conns: 1000, HeapInuse: 60 * mib, HeapLive: 50 * mib, Goroutines: 20, GC: 10},
		Honest: soak.HonestCounts{Open: 1000},
	}
}

// healthy is a final sample of a run that went well.
func healthy() soak.Sample {
	s := base()
	s.At = 10 * time.Minute
	s.RSS = 110 * mib
	s.Server.HeapLive = 52 * mib
	s.Server.GC = 400
	s.Honest = soak.HonestCounts{Open: 1000, Sent: 30000, Received: 30000, Churned: 100, Pongs: 5000}
	return s
}

func TestChecks(t *testing.T) {
	b := soak.DefaultBounds(2, 100, 2)
	during := func(f func(*soak.Sample)) []soak.Sample {
		s := healthy()
		s.At = 5 * time.Minute
		s.Hostile = 100
		f(&s)
		return []soak.Sample{s}
	}
	cases := []struct {
		name    string
		final   func(*soak.Sample)
		samples []soak.Sample
		// failed names the checks that must fail, and no other.
		failed []string
	}{
		{name: "healthy"},
		{name: "RSS within 25% and 16 MiB", final: func(s *soak.Sample) { s.RSS = 141 * mib }},
		{name: "RSS grew", final: func(s *soak.Sample) { s.RSS = 142 * mib }, failed: []string{"final RSS"}},
		{name: "live heap grew", final: func(s *soak.Sample) { s.Server.HeapLive = 71 * mib }, failed: []string{"final live Go heap"}},
		{name: "heap in use swings between GCs", final: func(s *soak.Sample) { s.Server.HeapInuse = 90 * mib }},
		{name: "goroutines leaked", final: func(s *soak.Sample) { s.Server.Goroutines = 37 }, failed: []string{"final goroutines"}},
		{name: "goroutines back", final: func(s *soak.Sample) { s.Server.Goroutines = 36 }},
		{name: "fds leaked", final: func(s *soak.Sample) { s.FDs = 1043 }, failed: []string{"final open files"}},
		{name: "fds within slack", final: func(s *soak.Sample) { s.FDs = 1042 }},
		{name: "server holds a connection no client holds", final: func(s *soak.Sample) { s.Server.Conns = 1001 }, failed: []string{"final server connections"}},
		{name: "fewer honest connections, the server agrees", final: func(s *soak.Sample) {
			s.Honest.Open, s.Server.Conns, s.FDs = 999, 999, 1009
		}, failed: []string{"honest connections missing at the end"}},
		{name: "a message lost", final: func(s *soak.Sample) { s.Honest.Lost, s.Honest.Received = 1, 29999 }, failed: []string{"honest messages lost"}},
		{name: "an echo corrupt", final: func(s *soak.Sample) { s.Honest.Corrupt, s.Honest.Received = 1, 29999 }, failed: []string{"honest echoes corrupt or out of order"}},
		{name: "a connection dropped", final: func(s *soak.Sample) { s.Honest.Dropped = 1 }, failed: []string{"honest connections dropped"}},
		{name: "a reconnection failed", final: func(s *soak.Sample) { s.Honest.ConnectFails = 1 }, failed: []string{"honest reconnections failed"}},
		{name: "counts do not add up", final: func(s *soak.Sample) { s.Honest.Received = 29999 }, failed: []string{"honest echoes unanswered"}},
		{name: "no message flowed", final: func(s *soak.Sample) { s.Honest.Sent, s.Honest.Received = 0, 0 }, failed: []string{"honest echoes sent"}},
		{name: "RSS doubled during the run", samples: during(func(s *soak.Sample) { s.RSS = 300 * mib }), failed: []string{"peak RSS"}},
		{name: "RSS up with the ping floods' queues", samples: during(func(s *soak.Sample) { s.RSS = 280 * mib })},
		{name: "handshake goroutines", samples: during(func(s *soak.Sample) { s.Server.Goroutines = 20 + 256*2 + 64 })},
		{name: "goroutines beyond the handshake bound", samples: during(func(s *soak.Sample) { s.Server.Goroutines = 20 + 256*2 + 65 }), failed: []string{"peak goroutines"}},
		{name: "fds with every hostile client in flight", samples: during(func(s *soak.Sample) { s.FDs = 1010 + 100 + 32 })},
		{name: "fds beyond the hostile clients", samples: during(func(s *soak.Sample) { s.FDs = 1010 + 100 + 33 }), failed: []string{"peak open files"}},
		{name: "fds of reconnected honest clients", samples: during(func(s *soak.Sample) { s.Honest.Open, s.FDs = 1050, 1010+50+100+32 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			final := healthy()
			if tc.final != nil {
				tc.final(&final)
			}
			var failed []string
			for _, c := range b.Checks(1000, base(), final, tc.samples) {
				if !c.OK() {
					failed = append(failed, c.Name)
					t.Log(c)
				}
			}
			if !slices.Equal(failed, tc.failed) {
				t.Fatalf("failed checks %q, want %q", failed, tc.failed)
			}
		})
	}
}
