package soak_test

import (
	"strings"
	"testing"

	"github.com/wssd/wssd/bench/soak"
)

func TestParseStatsLine(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		want    soak.ServerStats
		ok      bool
		wantErr string
	}{
		{name: "stats line",
			line: `{"time":"2026-11-29T20:22:38Z","level":"INFO","msg":"stats","conns":15000,"heap_inuse":98304000,"heap_released":4096,"heap_live":81920000,"rss":123456789,"goroutines":21,"gc":42}`,
			want: soak.ServerStats{Conns: 15000, HeapInuse: 98304000, HeapReleased: 4096, HeapLive: 81920000, RSS: 123456789, Goroutines: 21, GC: 42}, ok: true},
		{name: "access log line", line: `{"time":"2026-11-29T20:22:38Z","level":"INFO","msg":"ws open","client_ip":"127.0.0.2","path":"/soak"}`},
		{name: "stats quoted inside another line", line: `{"level":"WARN","msg":"odd","err":"{\"msg\":\"stats\"}"}`},
		{name: "text log line", line: `time=2026-11-29T20:22:38Z level=INFO msg=stats conns=1`},
		{name: "a figure missing", line: `{"msg":"stats","conns":1,"heap_inuse":1,"heap_released":1,"heap_live":1,"rss":1,"gc":1}`, wantErr: "without goroutines"},
		{name: "a figure not a number", line: `{"msg":"stats","conns":"many","heap_inuse":1,"heap_released":1,"heap_live":1,"rss":1,"goroutines":1,"gc":1}`, wantErr: "conns"},
		{name: "truncated", line: `{"msg":"stats","conns":1,"heap_in`, wantErr: "stats line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := soak.ParseStatsLine([]byte(tc.line))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestAppendPayload(t *testing.T) {
	cases := []struct {
		name string
		id   int
		seq  int64
		size int
		want string
	}{
		{name: "padded", id: 7, seq: 3, size: 12, want: "7:3:opqrstuv"},
		{name: "prefix longer than size", id: 12345, seq: 678, size: 4, want: "12345:678:"},
		{name: "another message differs", id: 7, seq: 4, size: 12, want: "7:4:pqrstuvw"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(soak.AppendPayload([]byte("x"), tc.id, tc.seq, tc.size)); got != "x"+tc.want {
				t.Fatalf("got %q, want %q", got, "x"+tc.want)
			}
		})
	}
}
