package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/soak"
)

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c soak.Config)
	}{
		{name: "defaults: 15,000 wss connections for 10 minutes", args: []string{"-wssd", "w"}, check: func(t *testing.T, c soak.Config) {
			if !c.TLS || c.Conns != 15000 || c.Duration != 10*time.Minute || c.ChurnPerMinute != 150 || c.Bounds != nil {
				t.Fatalf("%+v", c)
			}
			for _, k := range soak.Kinds {
				if c.Hostile[k.Name] != k.Default {
					t.Errorf("%s: %+v, want the default %+v", k.Name, c.Hostile[k.Name], k.Default)
				}
			}
		}},
		{name: "short run scales the hostile counts", args: []string{"-wssd", "w", "-duration", "60s", "-conns", "2000"}, check: func(t *testing.T, c soak.Config) {
			if c.Conns != 2000 || c.Duration != time.Minute || c.Hostile["reset"].Count != 1200 || c.Hostile["reset"].Rate != 20 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "a count given is kept", args: []string{"-wssd", "w", "-duration", "60s", "-reset-count", "5", "-reset-rate", "1", "-reset-inflight", "2"}, check: func(t *testing.T, c soak.Config) {
			if got := c.Hostile["reset"]; got != (soak.Limit{Count: 5, Rate: 1, InFlight: 2}) {
				t.Fatalf("reset limit %+v", got)
			}
		}},
		{name: "no hostile clients", args: []string{"-wssd", "w", "-hostile=false"}, check: func(t *testing.T, c soak.Config) {
			for name, l := range c.Hostile {
				if l.Count != 0 {
					t.Errorf("%s: %+v", name, l)
				}
			}
		}},
		{name: "ws", args: []string{"-wssd", "w", "-transport", "ws"}, check: func(t *testing.T, c soak.Config) {
			if c.TLS {
				t.Fatal("-transport ws speaks TLS")
			}
		}},
		{name: "a bound loosened", args: []string{"-wssd", "w", "-rss-growth", "0.5"}, check: func(t *testing.T, c soak.Config) {
			if c.Bounds == nil || c.Bounds.RSSGrowth != 0.5 || c.Bounds.HeapGrowth != 0.25 || c.Bounds.HostileInFlight == 0 {
				t.Fatalf("%+v", c.Bounds)
			}
		}},
		{name: "no binary", wantErr: "-wssd"},
		{name: "bad transport", args: []string{"-wssd", "w", "-transport", "h2"}, wantErr: "-transport"},
		{name: "no connections", args: []string{"-wssd", "w", "-conns", "0"}, wantErr: "positive"},
		{name: "stray argument", args: []string{"-wssd", "w", "x"}, wantErr: "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
