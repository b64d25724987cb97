package report

import (
	"fmt"

	"github.com/wssd/wssd/bench/runner"
)

// findDeflate returns the row of server over transport in rows, compressed
// (the clients offered permessage-deflate) or not, or a zero row.
func findDeflate[R interface {
	keyed
	DeflateStats() *runner.DeflateStats
}](rows []R, server, transport string, offered bool) R {
	for _, r := range rows {
		if d := r.DeflateStats(); r.Is(server, transport) && d != nil && d.Offered == offered {
			return r
		}
	}
	var zero R
	return zero
}

// usPerMsg is the server's CPU time per message, from messages per
// server CPU-second.
func usPerMsg(perCPUSecond float64) string {
	if perCPUSecond == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f µs", 1e6/perCPUSecond)
}

// negotiated says on how many connections compression was negotiated, and
// how many of the messages received came compressed.
func negotiated(d *runner.DeflateStats, conns int) string {
	if d == nil {
		return "–"
	}
	return fmt.Sprintf("%d/%d conns, %d/%d msgs", d.Negotiated, conns, d.Compressed, d.Received)
}

// deflateGoal is the bound on what permessage-deflate may add to an
// idle connection with the default policy.
const deflateGoal = 500.0

// writeDeflate writes the permessage-deflate section: each server with
// compression on, its clients offering it or not, in the same run.
func writeDeflate(p func(string, ...any), res *runner.Results) {
	if len(res.DeflateEcho)+len(res.DeflateIdle)+len(res.DeflateBroadcast) == 0 {
		return
	}
	cfg := res.Config
	p("## permessage-deflate — compression on\n\n")
	p("Each server runs with permessage-deflate (RFC 7692) on, as its library sets it up by default: wssd `engine.Compression{}` "+
		"(server_no_context_takeover, klauspost's stateless encoder, messages under 128 B sent plain), gws `PermessageDeflate{Enabled: true}` "+
		"(no context takeover either way, level 1, under 512 B plain), gorilla `EnableCompression` (no context takeover either way, level 1). "+
		"\"compressed\": the clients offer it as Chrome does (`permessage-deflate; client_max_window_bits`), send every message compressed "+
		"(RSV1; each on its own, zlib's level 6) and inflate every compressed message they receive; \"plain\": the same server, clients that do not offer it. "+
		"Messages are %d-byte JSON chat (text, internal/chatmsg). A server that should compress and did not fails the run.\n\n", cfg.DeflateSize)
	if len(res.DeflateEcho) > 0 {
		p("### echo, %d B JSON, %d connections\n\n", cfg.DeflateSize, cfg.EchoConns)
		p("| server | transport | msgs/s plain | msgs/s compressed | compressed ÷ plain | × wssd | server CPU/msg plain | server CPU/msg compressed | × wssd | p99 compressed | server CPU | client CPU | compressed |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, on := range res.DeflateEcho {
			if !on.Deflate.Offered {
				continue
			}
			off := findDeflate(res.DeflateEcho, on.Server, on.Transport, false)
			base := findDeflate(res.DeflateEcho, "wssd", on.Transport, true)
			p("| %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |\n", name(on.Server), on.Transport,
				off.PerSecond, on.PerSecond, ratio(on.PerSecond, off.PerSecond), ratio(on.PerSecond, base.PerSecond),
				usPerMsg(off.PerServerCPUSecond), usPerMsg(on.PerServerCPUSecond), ratio(on.PerServerCPUSecond, base.PerServerCPUSecond),
				us(on.Latency.P99), on.ServerCPU, on.ClientCPU, negotiated(on.Deflate, on.Conns))
		}
		p("\nThe second \"× wssd\" is wssd's CPU per compressed message ÷ this server's (above 1: this server spends less).\n\n")
	}
	if len(res.DeflateIdle) > 0 {
		p("### idle with compression negotiated\n\n")
		p("N connections, each sending one ~150-byte subscription (a Pusher `pusher:subscribe` with its signature; compressed when negotiated) and getting its echo, then held with pings every %s. "+
			"RSS per connection as in the idle table (VmRSS ÷ connections at +%s and +%s; growth: less the RSS before any connection). The goal: compression adds at most %s per connection.\n\n",
			cfg.PingInterval, secs(cfg.IdleSettle), secs(cfg.IdleHold), kb(deflateGoal))
		p("\"live heap/conn\": the Go heap a collection forced at the end found live, less the same before any connection: what the connections hold, without the garbage of their subscriptions that RSS and heap in use still count until the next collection.\n\n")
		p("| server | transport | conns | RSS/conn plain | RSS/conn compressed | growth/conn plain | growth/conn compressed | compressed − plain | heap+stack/conn plain | compressed | live heap/conn plain | compressed | compressed − plain | subscriptions answered compressed |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, on := range res.DeflateIdle {
			if !on.Deflate.Offered {
				continue
			}
			off := findDeflate(res.DeflateIdle, on.Server, on.Transport, false)
			heldOn, _ := on.HeldPerConn()
			heldOff, _ := off.HeldPerConn()
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name(on.Server), on.Transport, on.Alive,
				kb(heldOff), kb(heldOn), kb(off.RSSPerConn), kb(on.RSSPerConn), kb(on.RSSPerConn-off.RSSPerConn),
				kb(off.HeapPerConn), kb(on.HeapPerConn), kb(off.LiveHeapPerConn), kb(on.LiveHeapPerConn),
				kb(on.LiveHeapPerConn-off.LiveHeapPerConn), negotiated(on.Deflate, on.Conns))
		}
		p("\n")
	}
	if len(res.DeflateBroadcast) > 0 {
		p("### broadcast of a prepared message\n\n")
		p("wssd with compression on broadcasts with `Server.Prepare` (framed, and compressed, once) and `Server.Broadcast` (one task per event loop). A client asks for %d broadcasts of %d B of JSON, %s apart. "+
			"For reference, the broadcast scenario's rows of the same run: wssd's `Conn.Send` to each connection and the raw TCP ceiling, with its %d-byte messages.\n\n",
			cfg.BroadcastRounds, cfg.DeflateSize, cfg.BroadcastInterval, cfg.BroadcastSize)
		p("| server | transport | how | conns | time to last (median) | × plain | × ceiling | worst | arrival p50 | arrival p99 | delivered | server CPU | client CPU | compressed |\n" +
			"|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		ceil := find(res.Broadcast, "gnet-echo", "ws").TimeToLastMedianUs
		row := func(r runner.BroadcastRow, how string, base int64) {
			p("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %d/%d | %.2f | %.2f | %s |\n", name(r.Server), r.Transport, how, r.Conns,
				us(r.TimeToLastMedianUs), ratio(float64(r.TimeToLastMedianUs), float64(base)), ratio(float64(r.TimeToLastMedianUs), float64(ceil)),
				us(r.TimeToLastMaxUs), us(r.Latency.P50), us(r.Latency.P99), r.Delivered, r.Expected, r.ServerCPU, r.ClientCPU, negotiated(r.Deflate, r.Conns))
		}
		for _, r := range res.DeflateBroadcast {
			base := findDeflate(res.DeflateBroadcast, r.Server, r.Transport, false).TimeToLastMedianUs
			how := fmt.Sprintf("Prepare+Broadcast, %d B plain", cfg.DeflateSize)
			if r.Deflate.Offered {
				how = fmt.Sprintf("Prepare+Broadcast, %d B compressed", cfg.DeflateSize)
			}
			row(r, how, base)
		}
		for _, r := range res.Broadcast {
			if r.Server == "wssd" || r.Server == "gnet-echo" {
				how := fmt.Sprintf("broadcast scenario: Conn.Send each, %d B", cfg.BroadcastSize)
				if r.Server == "gnet-echo" {
					how = fmt.Sprintf("broadcast scenario: raw TCP ceiling, %d B", cfg.BroadcastSize)
				}
				row(r, how, findDeflate(res.DeflateBroadcast, "wssd", r.Transport, false).TimeToLastMedianUs)
			}
		}
		p("\n")
	}
}
