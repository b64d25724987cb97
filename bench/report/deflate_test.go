package report

import (
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/runner"
)

func TestDeflate(t *testing.T) {
	key := func(s, tr string) runner.Key { return runner.Key{Server: s, Transport: tr} }
	stats := func(offered bool, conns int, msgs int64) *runner.DeflateStats {
		if !offered {
			return &runner.DeflateStats{Received: msgs}
		}
		return &runner.DeflateStats{Offered: true, Negotiated: conns, Received: msgs, Compressed: msgs}
	}
	echo := func(s string, offered bool, perSec, perCPU float64) runner.EchoRow {
		return runner.EchoRow{Key: key(s, "ws"), Size: 512, Conns: 10, Msgs: 100, PerSecond: perSec, PerServerCPUSecond: perCPU,
			Deflate: stats(offered, 10, 100)}
	}
	idle := func(tr string, offered bool, growth float64) runner.IdleRow {
		return runner.IdleRow{Key: key("wssd", tr), Conns: 10, Alive: 10, RSSPerConn: growth, HeapPerConn: 100, LiveHeapPerConn: growth / 2,
			RSSSamples: []runner.RSSSample{{AfterSeconds: 3, PerConn: growth + 900}, {AfterSeconds: 60, PerConn: growth + 600}},
			Deflate:    stats(offered, 10, 10)}
	}
	res := &runner.Results{
		Config: runner.Config{DeflateSize: 512, EchoConns: 10, IdleSettle: 3 * time.Second, IdleHold: time.Minute,
			BroadcastRounds: 5, BroadcastSize: 64},
		DeflateEcho: []runner.EchoRow{
			echo("wssd", false, 1000, 100_000), echo("wssd", true, 500, 40_000),
			echo("gws", false, 900, 90_000), echo("gws", true, 400, 50_000),
		},
		DeflateIdle: []runner.IdleRow{idle("ws", false, 1100), idle("ws", true, 1400), idle("wss", false, 6000), idle("wss", true, 6700)},
		DeflateBroadcast: []runner.BroadcastRow{
			{Key: key("wssd", "ws"), Conns: 10, TimeToLastMedianUs: 200, Delivered: 50, Expected: 50, Deflate: stats(false, 10, 50)},
			{Key: key("wssd", "ws"), Conns: 10, TimeToLastMedianUs: 300, Delivered: 50, Expected: 50, Deflate: stats(true, 10, 50)},
		},
		Broadcast: []runner.BroadcastRow{
			{Key: key("wssd", "ws"), Conns: 10, TimeToLastMedianUs: 150},
			{Key: key("gnet-echo", "ws"), Conns: 10, TimeToLastMedianUs: 100},
		},
	}
	var b strings.Builder
	if err := Markdown(&b, res, nil); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	cases := []struct {
		name string
		want string
	}{
		// msgs/s plain, compressed, ratio, × wssd; CPU per message plain,
		// compressed, wssd's ÷ this one's
		{"wssd's echo", "| **wssd** | ws | 1000 | 500 | 0.50× | 1.00× | 10.0 µs | 25.0 µs | 1.00× |"},
		// gws spends 20 µs a message where wssd spends 25: 1.25×
		{"a peer's echo", "| gws | ws | 900 | 400 | 0.44× | 0.80× | 11.1 µs | 20.0 µs | 1.25× |"},
		{"echo compressed everywhere", "| 10/10 conns, 100/100 msgs |"},
		{"idle, growth and difference", "| **wssd** | ws | 10 | 1.70 KB | 2.00 KB | 1.10 KB | 1.40 KB | 0.30 KB |"},
		{"idle, live heap and difference", "| 0.10 KB | 0.10 KB | 0.55 KB | 0.70 KB | 0.15 KB |"},
		{"broadcast, compressed against plain and the ceiling", "| **wssd** | ws | Prepare+Broadcast, 512 B compressed | 10 | 300 µs | 1.50× | 3.00× |"},
		{"broadcast scenario's row beside", "| **wssd** | ws | broadcast scenario: Conn.Send each, 64 B | 10 | 150 µs | 0.75× | 1.50× |"},
		{"ws idle goal met", "| ws idle with compression ≤ plain + 0.50 KB/conn | 0.30 KB/conn more (growth 1.40 KB vs 1.10 KB, 10 conns); live heap 0.15 KB/conn more | yes |"},
		{"wss idle goal missed", "| wss idle with compression ≤ plain + 0.50 KB/conn | 0.70 KB/conn more (growth 6.70 KB vs 6.00 KB, 10 conns); live heap 0.35 KB/conn more | no |"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(md, c.want) {
				t.Errorf("the report lacks %q:\n%s", c.want, md)
			}
		})
	}
}
