package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/wssd/wssd/bench/runner"
)

// Chart is one SVG file.
type Chart struct {
	File, Title, SVG string
}

// bar is one value of one series in a chart row.
type bar struct {
	value float64
	label string
}

// barChart draws horizontal bars: a row per server, a bar per series.
type barChart struct {
	title, subtitle string
	series          []string
	rows            []string
	values          map[string]map[string]bar // row → series → bar
}

var colors = []string{"#4C78A8", "#F58518", "#54A24B", "#B279A2"}

func (c *barChart) svg() string {
	const (
		width   = 840
		left    = 140
		right   = 230
		barH    = 14
		gap     = 10
		top     = 62
		plotW   = width - left - right
		fontCSS = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
	)
	rowH := len(c.series)*barH + gap
	height := top + len(c.rows)*rowH + 16
	maxV := 0.0
	for _, r := range c.rows {
		for _, b := range c.values[r] {
			maxV = max(maxV, b.value)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" style="%s">`+"\n", width, height, width, height, fontCSS)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="12" y="22" font-size="16" font-weight="600">%s</text>`+"\n", html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="12" y="40" font-size="12" fill="#555">%s</text>`+"\n", html.EscapeString(c.subtitle))
	for i, s := range c.series {
		x := left + i*90
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="10" height="10" fill="%s"/><text x="%d" y="57" font-size="12">%s</text>`+"\n", x, colors[i%len(colors)], x+14, html.EscapeString(s))
	}
	// grid
	for i := 0; i <= 4; i++ {
		x := left + plotW*i/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e5e5e5"/>`+"\n", x, top-4, x, height-12)
	}
	for ri, r := range c.rows {
		y := top + ri*rowH
		weight := "400"
		if r == "wssd" || strings.HasPrefix(r, "wssd ") {
			weight = "700"
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="#fff6d5"/>`+"\n", y-3, width, rowH-gap+6)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-weight="%s" text-anchor="end">%s</text>`+"\n",
			left-8, y+(rowH-gap)/2+5, weight, html.EscapeString(r))
		for si, s := range c.series {
			v, ok := c.values[r][s]
			by := y + si*barH
			if !ok {
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#999">n/a</text>`+"\n", left+4, by+barH-3)
				continue
			}
			w := int(float64(plotW) * v.value / maxV)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, by, max(w, 1), barH-2, colors[si%len(colors)])
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text>`+"\n", left+max(w, 1)+4, by+barH-3, html.EscapeString(v.label))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func (c *barChart) set(row, series string, v bar) {
	if c.values == nil {
		c.values = map[string]map[string]bar{}
	}
	if c.values[row] == nil {
		c.values[row] = map[string]bar{}
		c.rows = append(c.rows, row)
	}
	c.values[row][series] = v
}

// Charts draws the run's charts.
func Charts(res *runner.Results) []Chart {
	var out []Chart
	add := func(file string, c *barChart) {
		if len(c.rows) > 0 {
			out = append(out, Chart{File: file, Title: c.title, SVG: c.svg()})
		}
	}
	trs := []string{"ws", "wss"}

	conn := &barChart{title: "connect: new connections per second (higher is better)",
		subtitle: "TCP + TLS (wss) + upgrade + close; gnet-echo and tls-loop are ceilings", series: trs}
	for _, r := range res.Connect {
		conn.set(display(r.Server), r.Transport, bar{r.PerSecond, fmt.Sprintf("%.0f/s · p99 %s", r.PerSecond, us(r.Latency.P99))})
	}
	add("connect.svg", conn)

	idle := &barChart{title: "idle: server RSS per connection (lower is better)",
		subtitle: fmt.Sprintf("pings every %s; RSS less the RSS before connecting", res.Config.PingInterval), series: trs}
	cpu := &barChart{title: "idle: server CPU while holding the connections (lower is better)",
		subtitle: fmt.Sprintf("cores busy over %s with pings every %s", res.Config.IdleHold, res.Config.PingInterval), series: trs}
	if len(res.Idle) > 0 && len(res.Idle[0].RSSSamples) > 0 {
		idle.subtitle = fmt.Sprintf("VmRSS (what top shows) ÷ connections, %s after the last opened; pings every %s", secs(res.Config.IdleHold), res.Config.PingInterval)
		cpu.subtitle = fmt.Sprintf("cores busy from %s to %s after the last connection opened, pings every %s", secs(res.Config.IdleSettle), secs(res.Config.IdleHold), res.Config.PingInterval)
	}
	for _, r := range res.Idle {
		held, _ := r.HeldPerConn()
		idle.set(display(r.Server), r.Transport, bar{held, fmt.Sprintf("%s · %d goroutines", kb(held), r.Goroutines)})
		cpu.set(display(r.Server), r.Transport, bar{r.IdleCPU, fmt.Sprintf("%.3f cores", r.IdleCPU)})
	}
	add("idle-rss.svg", idle)
	add("idle-cpu.svg", cpu)

	for _, sz := range res.Config.EchoSizes {
		e := &barChart{title: fmt.Sprintf("echo %s: messages per second (higher is better)", size(sz)),
			subtitle: fmt.Sprintf("%d connections, one message in flight each; label: p99 round trip", res.Config.EchoConns), series: trs}
		for _, r := range res.Echo {
			if r.Size == sz {
				e.set(display(r.Server), r.Transport, bar{r.PerSecond, fmt.Sprintf("%.0f/s · p99 %s", r.PerSecond, us(r.Latency.P99))})
			}
		}
		add(fmt.Sprintf("echo-%d.svg", sz), e)
	}

	lat := &barChart{title: "latency at a fixed rate: round trip (lower is better)",
		subtitle: fmt.Sprintf("%d msg/s of %s over %d connections, timed from when each was due", res.Config.LatencyRate, size(res.Config.LatencySize), res.Config.LatencyConns),
		series:   []string{"p50", "p99", "p99.9"}}
	for _, r := range res.Latency {
		row := display(r.Server) + " " + r.Transport
		lat.set(row, "p50", bar{float64(r.Latency.P50), us(r.Latency.P50)})
		lat.set(row, "p99", bar{float64(r.Latency.P99), us(r.Latency.P99)})
		lat.set(row, "p99.9", bar{float64(r.Latency.P999), us(r.Latency.P999)})
	}
	add("latency.svg", lat)

	bc := &barChart{title: "broadcast: time until the last connection has the message (lower is better)",
		subtitle: fmt.Sprintf("%d connections, median over %d rounds; label: worst round; gnet-echo: raw TCP ceiling", res.Config.BroadcastN, res.Config.BroadcastRounds), series: trs}
	for _, r := range res.Broadcast {
		bc.set(display(r.Server), r.Transport, bar{float64(r.TimeToLastMedianUs), fmt.Sprintf("%s · worst %s", us(r.TimeToLastMedianUs), us(r.TimeToLastMaxUs))})
	}
	add("broadcast.svg", bc)
	return out
}
