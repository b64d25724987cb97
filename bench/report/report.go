package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wssd/wssd/bench/runner"
	"github.com/wssd/wssd/bench/servers"
)

// Write writes latest.md, latest.json and the charts into dir.
func Write(dir string, res *runner.Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	charts := Charts(res)
	for _, c := range charts {
		if err := os.WriteFile(filepath.Join(dir, c.File), []byte(c.SVG), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "latest.md"))
	if err != nil {
		return err
	}
	if err := Markdown(f, res, charts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peers are the WebSocket servers wssd is compared with.
var peers = []string{"gorilla", "gobwas", "gws", "nbio", "coder"}

func kb(b float64) string { return fmt.Sprintf("%.2f KB", b/1000) }

func us(v int64) string {
	switch {
	case v >= 10_000:
		return fmt.Sprintf("%.1f ms", float64(v)/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f ms", float64(v)/1000)
	}
	return fmt.Sprintf("%d µs", v)
}

func ratio(v, base float64) string {
	if base == 0 || v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func size(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// Markdown writes the report.
func Markdown(w io.Writer, res *runner.Results, charts []Chart) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := res.Machine
	p("# wssd beside its peers — %s run\n\n", res.Mode)
	p("%s · %d cores (%s) · %.0f GiB · %s · Linux %s · open files %d · GOGC=%s for every server · commit %s · %s\n\n",
		m.Date, m.Cores, m.CPU, m.MemoryGiB, m.Go, m.Kernel, m.OpenFiles, m.GOGC, m.Commit, res.Finished.Sub(res.Started).Round(1e9))
	p("Every number below comes from this one run: each server in its own `benchd` process, driven by `loadgen` " +
		"processes on the same 2 cores (client CPU is reported: a saturated client shows), over loopback from source addresses 127.0.0.2 and up. " +
		"Clients send masked frames with one fixed mask, offer X25519 only (every server negotiates the same key exchange; nbio's TLS fork has no hybrid post-quantum one), " +
		"do not verify the certificate and never resume a session. Ratios are to wssd over the same transport (\"× wssd\") and to a ceiling measured in the same run " +
		"(\"× ceiling\": raw gnet TCP echo for ws, a bare crypto/tls accept–handshake–close loop for wss handshakes).\n\n")
	writeTargets(p, res)
	writeFront(p, res)
	if len(res.Problems) > 0 {
		p("## Problems in this run\n\n")
		for _, s := range res.Problems {
			p("- %s\n", s)
		}
		p("\n")
	}
	chart := func(prefix string) {
		for _, c := range charts {
			if strings.HasPrefix(c.File, prefix) {
				p("![%s](%s)\n", c.Title, c.File)
			}
		}
		p("\n")
	}
	if len(res.Connect) > 0 {
		p("## connect — new connections per second\n\n")
		p("Each connection: TCP connect, TLS handshake (wss), upgrade request, 101, close (RST). The ceilings complete less: gnet-echo echoes the upgrade request back (no HTTP, no WebSocket), tls-loop completes the TLS handshake and closes.\n\n")
		chart("connect")
		p("| server | transport | conns/s | × wssd | × ceiling | p50 | p99 | failed | server CPU | client CPU | conns per server CPU-s | × wssd | × ceiling |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range res.Connect {
			base := find(res.Connect, "wssd", r.Transport)
			ceil := find(res.Connect, ceilingConnect(r.Transport), r.Transport)
			p("| %s | %s | %.0f | %s | %s | %s | %s | %d | %.2f | %.2f | %.0f | %s | %s |\n", name(r.Server), r.Transport, r.PerSecond,
				ratio(r.PerSecond, base.PerSecond), ratio(r.PerSecond, ceil.PerSecond), us(r.Latency.P50), us(r.Latency.P99), r.Failed, r.ServerCPU, r.ClientCPU,
				r.PerServerCPUSecond, ratio(r.PerServerCPUSecond, base.PerServerCPUSecond), ratio(r.PerServerCPUSecond, ceil.PerServerCPUSecond))
		}
		p("\n")
	}
	if len(res.Idle) > 0 {
		writeIdle(p, res, chart)
	}
	if len(res.Echo) > 0 {
		p("## echo — messages per second, %d connections, one message in flight each\n\n", res.Config.EchoConns)
		p("Round trips of binary messages; latency is the client's send-to-receive time. \"per server CPU-s\" divides by the server's own CPU time: the server's efficiency, less dependent on how the 2 cores were shared with the client.")
		if res.Config.EchoRepeat > 1 {
			p(" Each server ran %d rounds of %s per size, the servers taking turns in every round; a row is the median round by msgs/s (\"rounds\": the lowest and highest round as a percentage of it), and msgs per server CPU-s is the median of the rounds.", res.Config.EchoRepeat, res.Config.EchoDuration)
		}
		p("\n\n")
		chart("echo")
		for _, sz := range res.Config.EchoSizes {
			p("### %s\n\n| server | transport | msgs/s | rounds | × wssd | × ceiling | p50 | p99 | p99.9 | server CPU | client CPU | msgs per server CPU-s | × wssd |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", size(sz))
			for _, r := range res.Echo {
				if r.Size != sz {
					continue
				}
				base := findEcho(res, "wssd", r.Transport, sz)
				ceil := findEcho(res, "gnet-echo", r.Transport, sz)
				p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.0f | %s |\n", name(r.Server), r.Transport, r.PerSecond,
					spread(r.Runs, r.PerSecond), ratio(r.PerSecond, base.PerSecond), ratio(r.PerSecond, ceil.PerSecond), us(r.Latency.P50), us(r.Latency.P99), us(r.Latency.P999),
					r.ServerCPU, r.ClientCPU, r.PerServerCPUSecond, ratio(r.PerServerCPUSecond, base.PerServerCPUSecond))
			}
			p("\n")
		}
	}
	if len(res.Latency) > 0 {
		c := res.Config
		p("## latency — round trips at a fixed rate (lower is better)\n\n")
		p("%d messages a second of %s in total, over %d connections in turn, for %s: a load every server carries, unlike echo's saturation. A message's latency runs from when it was due to be sent, so a client or server that falls behind shows in the percentiles (no coordinated omission).\n\n",
			c.LatencyRate, size(c.LatencySize), c.LatencyConns, c.LatencyDuration)
		chart("latency")
		p("| server | transport | answered/s | p50 | × wssd | p99 | × wssd | p99.9 | max | server CPU | client CPU |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range res.Latency {
			base := find(res.Latency, "wssd", r.Transport)
			p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", name(r.Server), r.Transport, r.PerSecond,
				us(r.Latency.P50), ratio(float64(r.Latency.P50), float64(base.Latency.P50)), us(r.Latency.P99),
				ratio(float64(r.Latency.P99), float64(base.Latency.P99)), us(r.Latency.P999), us(r.Latency.Max), r.ServerCPU, r.ClientCPU)
		}
		p("\n")
	}
	if len(res.Broadcast) > 0 {
		p("## broadcast — one message to every connection (lower is better)\n\n")
		p("A client asks the server to send a %d-byte message to all its connections, %d times, %s apart. Time to last: from the send until the last connection has it (median and worst over rounds). Arrival percentiles are over every connection's arrival. The ceiling, gnet-echo, is raw TCP on gnet doing the least an event-loop server can: the frame built once, one task per event loop, each loop writing to its own connections; what it takes is mostly the kernel's and the client's work, which every server pays.\n\n",
			res.Config.BroadcastSize, res.Config.BroadcastRounds, res.Config.BroadcastInterval)
		chart("broadcast")
		p("| server | transport | conns | time to last (median) | × wssd | × ceiling | worst | arrival p50 | arrival p99 | delivered | server CPU | client CPU |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ceil := find(res.Broadcast, "gnet-echo", "ws").TimeToLastMedianUs
		for _, r := range res.Broadcast {
			base := find(res.Broadcast, "wssd", r.Transport).TimeToLastMedianUs
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d/%d | %.2f | %.2f |\n", name(r.Server), r.Transport, r.Conns, us(r.TimeToLastMedianUs),
				ratio(float64(r.TimeToLastMedianUs), float64(base)), ratio(float64(r.TimeToLastMedianUs), float64(ceil)), us(r.TimeToLastMaxUs), us(r.Latency.P50), us(r.Latency.P99), r.Delivered, r.Expected, r.ServerCPU, r.ClientCPU)
		}
		p("\n")
	}
	writeDeflate(p, res)
	writePush(p, res)
	if s := res.Scale; s != nil {
		p("## scale — as many wss connections as the machine holds\n\n")
		p("%d wssd processes sharing one port (SO_REUSEPORT), %d loadgen processes from their own source addresses; the open-file limit is 20,000 per process. Opening stops at the target, at a deadline (%s), or when less than %d MiB of memory is available.",
			s.Servers, s.Clients, res.Config.ScaleTimeout, res.Config.ScaleMinFree>>20)
		if g := res.Config.ScaleGOMAXPROCS; g != "" {
			p(" Every process runs with GOMAXPROCS=%s: dozens of processes share 2 cores, and more Ps than cores per process only add hand-offs between threads.", g)
		}
		p("\n\n")
		perConn := kb(s.RSSPerConn)
		if len(s.RSSSamples) > 0 { // what the servers hold, as top shows it, then the growth
			var at []string
			for _, x := range s.RSSSamples {
				at = append(at, fmt.Sprintf("%s at +%.0f s", kb(x.PerConn), x.AfterSeconds))
			}
			perConn = fmt.Sprintf("%s (growth %s)", strings.Join(at, ", "), kb(s.RSSPerConn))
		}
		p("| target | connections held | failed | setup | stopped by | server RSS | RSS/conn | goroutines | idle CPU (cores, pings every 25 s) | client RSS | memory left |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
		p("| %d | %d | %d | %.0f s (%.0f/s) | %s | %.2f GiB | %s | %d | %.3f | %.2f GiB | %.2f GiB |\n\n", s.Target, s.Conns, s.Failed, s.SetupSeconds,
			float64(s.Conns)/max(s.SetupSeconds, 1e-9), s.StoppedBy, float64(s.RSS)/(1<<30), perConn, s.Goroutines, s.IdleCPU,
			float64(s.ClientRSS)/(1<<30), float64(s.MemAvailable)/(1<<30))
	}
	writeCluster(p, res)
	if len(res.Profiles) > 0 {
		p("## Profiles\n\nCPU profiles of wssd taken during echo: `go tool pprof -top bench/results/<file>`.\n\n")
		for _, f := range res.Profiles {
			p("- [%s](%s)\n", f, f)
		}
		p("\n")
	}
	return nil
}

// display is how the report names a server.
func display(s string) string {
	if s == "nginx" {
		return "nginx→wssd"
	}
	return s
}

// name is a server's name in a table, wssd in bold.
func name(s string) string {
	if s == "wssd" {
		return "**wssd**"
	}
	return display(s)
}

// spread gives a repeated row's rounds: the lowest and highest as a
// fraction of the median, or "–" for one round.
func spread(runs []float64, median float64) string {
	if len(runs) < 2 || median == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f–%.0f%% (%d)", 100*slices.Min(runs)/median, 100*slices.Max(runs)/median, len(runs))
}

func ceilingConnect(transport string) string {
	if transport == "wss" {
		return "tls-loop"
	}
	return "gnet-echo"
}

// keyed is a row of a scenario's table.
type keyed interface {
	Is(server, transport string) bool
}

// find returns the row of server over transport, or a zero row.
func find[R keyed](rows []R, server, transport string) R {
	for _, r := range rows {
		if r.Is(server, transport) {
			return r
		}
	}
	var zero R
	return zero
}

func findEcho(res *runner.Results, server, transport string, size int) runner.EchoRow {
	for _, r := range res.Echo {
		if r.Server == server && r.Transport == transport && r.Size == size {
			return r
		}
	}
	return runner.EchoRow{}
}

// secs writes d in seconds: "3 s", "60 s", "0.4 s".
func secs(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }

// at names when an RSS sample was taken, after the last connection opened;
// "" for results recorded before the samples.
func at(after float64) string {
	if after == 0 {
		return ""
	}
	return fmt.Sprintf(" at +%.0f s", after)
}

// writeIdle writes the idle section: what the server holds per connection
// (VmRSS, as top shows it, divided by the connections) right after the
// connections opened and once they stood idle, and what each added.
func writeIdle(p func(string, ...any), res *runner.Results, chart func(string)) {
	cfg := res.Config
	p("## idle — what a held connection costs (lower is better)\n\n")
	samples := len(res.Idle[0].RSSSamples)
	if samples == 0 { // recorded before the samples
		p("N connections opened, then held with the server pinging every %s; RSS from /proc (less the RSS before any connection), Go heap and stacks from the server's runtime, CPU over the hold.\n\n", cfg.PingInterval)
	} else {
		p("N connections opened, then held with the server pinging every %s. \"RSS/conn\" is what the server process holds, VmRSS from /proc as `top` shows it, "+
			"divided by the connections, read %s and %s after the last connection opened; \"growth/conn\" is the same less the RSS before any connection, "+
			"the targets' measure. Go heap and stacks from the server's runtime; CPU from the first reading to the second.\n\n",
			cfg.PingInterval, secs(cfg.IdleSettle), secs(cfg.IdleHold))
	}
	chart("idle")
	head := "| server | transport | conns | RSS/conn | × wssd |"
	align := "|---|---|---:|---:|---:|"
	if samples > 0 {
		head = fmt.Sprintf("| server | transport | conns | RSS/conn +%s | RSS/conn +%s | × wssd | growth/conn |", secs(cfg.IdleSettle), secs(cfg.IdleHold))
		align = "|---|---|---:|---:|---:|---:|---:|"
	}
	p("%s heap+stack/conn | goroutines | idle CPU (cores) | setup | alive at end | client RSS/conn |\n%s---:|---:|---:|---:|---:|---:|\n", head, align)
	for _, r := range res.Idle {
		held, _ := r.HeldPerConn()
		base, _ := find(res.Idle, "wssd", r.Transport).HeldPerConn()
		heap := kb(r.HeapPerConn)
		if info, _ := servers.Lookup(r.Server); info.Front {
			heap += " (wssd's alone)"
		}
		rss := fmt.Sprintf("%s | %s", kb(held), ratio(held, base))
		if len(r.RSSSamples) > 0 {
			rss = fmt.Sprintf("%s | %s | %s | %s", kb(r.RSSSamples[0].PerConn), kb(held), ratio(held, base), kb(r.RSSPerConn))
		}
		p("| %s | %s | %d | %s | %s | %d | %.3f | %.1f s | %d | %s |\n", name(r.Server), r.Transport, r.Conns, rss,
			heap, r.Goroutines, r.IdleCPU, r.SetupSeconds, r.Alive, kb(r.ClientRSSPerConn))
	}
	p("\n")
}

// writeFront compares wssd's own wss with nginx terminating TLS in front of
// wssd's ws: the deployment wssd's TLS is meant to replace.
func writeFront(p func(string, ...any), res *runner.Results) {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	if w, n := find(res.Connect, "wssd", "wss"), find(res.Connect, "nginx", "wss"); w.PerSecond > 0 && n.PerSecond > 0 {
		add("| connect | %.0f/s | %.0f/s | %s | %.0f vs %.0f conns per CPU-s (%s) |", w.PerSecond, n.PerSecond, ratio(w.PerSecond, n.PerSecond),
			w.PerServerCPUSecond, n.PerServerCPUSecond, ratio(w.PerServerCPUSecond, n.PerServerCPUSecond))
	}
	if wi, ni := find(res.Idle, "wssd", "wss"), find(res.Idle, "nginx", "wss"); wi.Alive > 0 && ni.Alive > 0 {
		w, after := wi.HeldPerConn()
		n, _ := ni.HeldPerConn()
		add("| idle RSS/conn%s (lower is better) | %s | %s | %s | nginx's master and workers and wssd together |", at(after), kb(w), kb(n), ratio(w, n))
	}
	for _, sz := range res.Config.EchoSizes {
		if w, n := findEcho(res, "wssd", "wss", sz), findEcho(res, "nginx", "wss", sz); w.PerSecond > 0 && n.PerSecond > 0 {
			add("| echo %s | %.0f msg/s | %.0f msg/s | %s | %.0f vs %.0f msgs per CPU-s (%s) |", size(sz), w.PerSecond, n.PerSecond, ratio(w.PerSecond, n.PerSecond),
				w.PerServerCPUSecond, n.PerServerCPUSecond, ratio(w.PerServerCPUSecond, n.PerServerCPUSecond))
		}
	}
	if w, n := find(res.Latency, "wssd", "wss"), find(res.Latency, "nginx", "wss"); w.Latency.P99 > 0 && n.Latency.P99 > 0 {
		add("| latency p99 at %d msg/s (lower is better) | %s | %s | %s | p50 %s vs %s; server CPU %.2f vs %.2f cores |", res.Config.LatencyRate,
			us(w.Latency.P99), us(n.Latency.P99), ratio(float64(w.Latency.P99), float64(n.Latency.P99)), us(w.Latency.P50), us(n.Latency.P50), w.ServerCPU, n.ServerCPU)
	}
	if wb, nb := find(res.Broadcast, "wssd", "wss"), find(res.Broadcast, "nginx", "wss"); wb.TimeToLastMedianUs > 0 && nb.TimeToLastMedianUs > 0 {
		add("| broadcast time to last (lower is better) | %s | %s | %s | |", us(wb.TimeToLastMedianUs), us(nb.TimeToLastMedianUs),
			ratio(float64(wb.TimeToLastMedianUs), float64(nb.TimeToLastMedianUs)))
	}
	if len(lines) == 0 {
		return
	}
	p("## wssd's own TLS vs nginx terminating TLS in front of wssd\n\n")
	p("The same wssd engine, once serving wss itself, once serving ws behind nginx, which terminates TLS as deploy/nginx/wssd.conf configures it (one worker per core, `reuseport` added). CPU and memory count nginx's processes and wssd's together.\n\n")
	p("| scenario | wssd wss | nginx→wssd | wssd ÷ nginx | |\n|---|---:|---:|---:|---|\n")
	for _, l := range lines {
		p("%s\n", l)
	}
	p("\n")
}

// writeTargets checks the numbers the project set itself.
func writeTargets(p func(string, ...any), res *runner.Results) {
	type line struct {
		target, measured string
		ok               bool
	}
	var lines []line
	add := func(target string, ok bool, format string, args ...any) {
		lines = append(lines, line{target, fmt.Sprintf(format, args...), ok})
	}
	for _, r := range res.Idle {
		if r.Server != "wssd" {
			continue
		}
		limit := 1200.0
		if r.Transport == "wss" {
			limit = 6000
		}
		measured := fmt.Sprintf("%s/conn (%d conns)", kb(r.RSSPerConn), r.Alive)
		if held, after := r.HeldPerConn(); after > 0 {
			measured = fmt.Sprintf("%s/conn growth (%d conns); the process holds %s/conn%s", kb(r.RSSPerConn), r.Alive, kb(held), at(after))
		}
		add(fmt.Sprintf("%s idle ≤ %s/conn", r.Transport, kb(limit)), r.RSSPerConn <= limit, "%s", measured)
	}
	for _, on := range res.DeflateIdle {
		if on.Server != "wssd" || !on.Deflate.Offered {
			continue
		}
		off := findDeflate(res.DeflateIdle, on.Server, on.Transport, false)
		more := on.RSSPerConn - off.RSSPerConn
		add(fmt.Sprintf("%s idle with compression ≤ plain + %s/conn", on.Transport, kb(deflateGoal)), more <= deflateGoal,
			"%s/conn more (growth %s vs %s, %d conns); live heap %s/conn more", kb(more), kb(on.RSSPerConn), kb(off.RSSPerConn), on.Alive,
			kb(on.LiveHeapPerConn-off.LiveHeapPerConn))
	}
	pushTargets(res, add)
	clusterTargets(res, add)
	trs := []string{"ws", "wss"}
	for _, tr := range trs {
		for _, sz := range res.Config.EchoSizes {
			w := findEcho(res, "wssd", tr, sz)
			if w.PerSecond == 0 {
				continue
			}
			best, bestName := 0.0, ""
			for _, peer := range peers {
				if e := findEcho(res, peer, tr, sz); e.PerSecond > best {
					best, bestName = e.PerSecond, peer
				}
			}
			if best > 0 {
				add(fmt.Sprintf("%s echo %s ≥ 1.2× best peer", tr, size(sz)), w.PerSecond >= 1.2*best,
					"%.2f× %s (%.0f vs %.0f msg/s); per server CPU-s %.2f×", w.PerSecond/best, bestName, w.PerSecond, best,
					w.PerServerCPUSecond/max(findEcho(res, bestName, tr, sz).PerServerCPUSecond, 1e-9))
			}
			if c := findEcho(res, "gnet-echo", tr, sz); tr == "ws" && c.PerSecond > 0 {
				add(fmt.Sprintf("ws echo %s ≥ 0.8× raw gnet", size(sz)), w.PerSecond >= 0.8*c.PerSecond, "%.2f× (%.0f vs %.0f msg/s)", w.PerSecond/c.PerSecond, w.PerSecond, c.PerSecond)
			}
		}
	}
	if w, c := find(res.Connect, "wssd", "wss"), find(res.Connect, "tls-loop", "wss"); w.PerSecond > 0 && c.PerSecond > 0 {
		add("wss handshakes ≥ 0.9× bare crypto/tls loop", w.PerSecond >= 0.9*c.PerSecond, "%.2f× (%.0f vs %.0f/s); per server CPU-s %.2f×",
			w.PerSecond/c.PerSecond, w.PerSecond, c.PerSecond, w.PerServerCPUSecond/max(c.PerServerCPUSecond, 1e-9))
	}
	for _, tr := range trs {
		var w int64
		best, bestName := int64(0), ""
		for _, r := range res.Broadcast {
			if r.Transport != tr {
				continue
			}
			if r.Server == "wssd" {
				w = r.TimeToLastMedianUs
			} else if slices.Contains(peers, r.Server) && r.TimeToLastMedianUs > 0 && (best == 0 || r.TimeToLastMedianUs < best) {
				best, bestName = r.TimeToLastMedianUs, r.Server
			}
		}
		if w > 0 && best > 0 {
			ceiling := ""
			if c := find(res.Broadcast, "gnet-echo", "ws").TimeToLastMedianUs; c > 0 {
				ceiling = fmt.Sprintf("; raw TCP ceiling %s (best peer %.2f× it)", us(c), float64(best)/float64(c))
			}
			add(fmt.Sprintf("%s broadcast time-to-last ≤ 0.5× best peer", tr), float64(w) <= 0.5*float64(best), "%.2f× %s (%s vs %s)%s",
				float64(w)/float64(best), bestName, us(w), us(best), ceiling)
		}
	}
	if len(lines) == 0 {
		return
	}
	p("## Targets\n\n| target | measured | met |\n|---|---|:---:|\n")
	for _, l := range lines {
		v := "no"
		if l.ok {
			v = "yes"
		}
		p("| %s | %s | %s |\n", l.target, l.measured, v)
	}
	p("\n")
}
