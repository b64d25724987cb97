package report

import (
	"fmt"

	"github.com/wssd/wssd/bench/runner"
)

// pushIdleGoal is the bound on what the push server may add to the
// engine's idle connection: a subscribed Pusher connection's own state.
const pushIdleGoal = 1000.0

// triggerPath says how a run's push scenarios triggered their events.
func triggerPath(cfg runner.Config) string {
	if cfg.PushTrigger == runner.PushTriggerHTTP {
		return "through the Pusher HTTP API: `POST /apps/{id}/events` on the server's own port (and TLS on wss), signed as the Pusher server SDKs sign (`push.Credentials.SignQuery`: auth_key, auth_timestamp, auth_version, body_md5, auth_signature)"
	}
	return "through the Go API: `push.Server.Trigger`, called by benchd's `POST /trigger` on its plain-HTTP side port with the HTTP API's JSON body (an HTTP request per event as with the API, but unsigned and not on the WebSocket port: the HTTP API was not yet there)"
}

// writePush writes the push scenarios' section: the push server (package
// push on the engine, as the wssd binary's push mode runs it) beside the
// engine measured the same way in the same run.
func writePush(p func(string, ...any), res *runner.Results) {
	if len(res.PushIdle)+len(res.PushFanout)+len(res.PushLatency) == 0 {
		return
	}
	cfg := res.Config
	p("## push — the Pusher protocol server\n\n")
	p("`push`: package push (Pusher Channels protocol 7) as the engine's handler, as the wssd binary's push mode runs it: one app, fan-outs framed once and handed to each event loop once (`Server.Bind`: `engine.Server.Prepare` and `Broadcast`), the memory trimmer on. "+
		"Its clients speak the protocol minimally (`bench/load/pusher.go`): connect to `/app/{key}?protocol=7` and wait for `pusher:connection_established`, `pusher:subscribe` to one public channel and wait for `pusher_internal:subscription_succeeded`, read the events, answer WebSocket pings and `pusher:ping`. "+
		"Events are triggered %s. **wssd** beside it is the engine's echo server of the other scenarios, measured in the same way in the same scenario.\n\n", triggerPath(cfg))
	p("`centrifugo`, where it ran: Centrifugo v6 built from `bench/go.mod` (a tool of the bench module), anonymous connections allowed to subscribe, pinging at the run's interval, its own TLS on wss, GOGC as every server; its clients speak its JSON protocol as minimally (connect command, subscribe command, publications, the empty-object ping answered), and events are published through its HTTP API (`POST /api/publish` with its API key) on its own port. " +
		"Not with its Go client, centrifuge-go: v0.12.1 needs github.com/centrifugal/protocol v0.21, whose API the centrifuge library Centrifugo v6.9.1 pins (built against protocol v0.19.2) no longer has, so the two do not build in one module; the same minimal client also keeps the client's cost the same for both servers. Its Go heap is not read (no stats endpoint): \"–\".\n\n")
	if len(res.PushIdle) > 0 {
		p("### idle, each connection subscribed to a channel\n\n")
		p("The idle scenario's measure (pings every %s; VmRSS ÷ connections at +%s and +%s after the last connection opened; growth: less the RSS before any connection), with the live heap a collection forced at the end found, less the same before any connection. "+
			"`push`'s (and `centrifugo`'s) connections each subscribed to one of N ÷ %d channels (%d subscribers each); wssd's (the engine alone) to nothing. The goal: push adds at most %s per connection to the engine's figure.\n\n",
			cfg.PingInterval, secs(cfg.IdleSettle), secs(cfg.IdleHold), cfg.PushSubsPerChannel, cfg.PushSubsPerChannel, kb(pushIdleGoal))
		p("| server | transport | conns | channels | RSS/conn | growth/conn | − engine | heap+stack/conn | live heap/conn | − engine | goroutines |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range res.PushIdle {
			base := find(res.PushIdle, "wssd", r.Transport)
			held, after := r.HeldPerConn()
			growthMore, liveMore := "–", "–"
			if r.Server != "wssd" && base.Alive > 0 {
				growthMore, liveMore = kb(r.RSSPerConn-base.RSSPerConn), kb(r.LiveHeapPerConn-base.LiveHeapPerConn)
			}
			channels := "–"
			if r.Channels > 0 {
				channels = fmt.Sprint(r.Channels)
			}
			heap, live, goroutines := kb(r.HeapPerConn), kb(r.LiveHeapPerConn), fmt.Sprint(r.Goroutines)
			if r.Server == "centrifugo" {
				heap, live, liveMore, goroutines = "–", "–", "–", "–"
			}
			p("| %s | %s | %d | %s | %s%s | %s | %s | %s | %s | %s | %s |\n", name(r.Server), r.Transport, r.Alive, channels,
				kb(held), at(after), kb(r.RSSPerConn), growthMore, heap, live, liveMore, goroutines)
		}
		p("\n")
	}
	if len(res.PushFanout) > 0 {
		p("### fan-out: one event to one channel of every connection (lower is better)\n\n")
		p("%d events, %s apart, each to one channel that all N connections subscribed to; time to last: from just before the trigger request was sent until the last subscriber had the event, its median, p99 and worst over the events. "+
			"Beside it at the same N: wssd, the engine's broadcast (a client's `broadcast:` message, `Conn.Send` to each connection), and the raw TCP ceiling (gnet-echo: the frame built once, one task per event loop).\n\n",
			cfg.PushFanoutRounds, cfg.BroadcastInterval)
		p("| server | transport | conns | time to last p50 | p99 | worst | × wssd | × ceiling | arrival p50 | arrival p99 | delivered | server CPU | client CPU |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ceil := find(res.PushFanout, "gnet-echo", "ws").TimeToLastMedianUs
		for _, r := range res.PushFanout {
			base := find(res.PushFanout, "wssd", r.Transport).TimeToLastMedianUs
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %d/%d | %.2f | %.2f |\n", name(r.Server), r.Transport, r.Conns,
				us(r.TimeToLastMedianUs), us(r.TimeToLastP99Us), us(r.TimeToLastMaxUs), ratio(float64(r.TimeToLastMedianUs), float64(base)),
				ratio(float64(r.TimeToLastMedianUs), float64(ceil)), us(r.Latency.P50), us(r.Latency.P99), r.Delivered, r.Expected, r.ServerCPU, r.ClientCPU)
		}
		p("\n")
	}
	if len(res.PushLatency) > 0 {
		p("### end-to-end latency at a fixed trigger rate (lower is better)\n\n")
		p("%d triggers a second, for %s, over %d channels of %d subscribers in turn, from up to 32 requests at once; an event's latency runs from when its trigger was due to be sent (the time it carries) until a subscriber had it, over every delivery (no coordinated omission).\n\n",
			cfg.PushLatencyRate, cfg.PushLatencyDuration, cfg.PushLatencyChannels, cfg.PushLatencySubs)
		p("| server | transport | conns | triggers sent | delivered | p50 | p99 | p99.9 | max | server CPU | client CPU |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range res.PushLatency {
			p("| %s | %s | %d | %d | %d/%d | %s | %s | %s | %s | %.2f | %.2f |\n", name(r.Server), r.Transport, r.Conns, r.Sent,
				r.Delivered, r.Expected, us(r.Latency.P50), us(r.Latency.P99), us(r.Latency.P999), us(r.Latency.Max), r.ServerCPU, r.ClientCPU)
		}
		p("\n")
	}
}

// pushTargets adds the push idle goal to the targets.
func pushTargets(res *runner.Results, add func(target string, ok bool, format string, args ...any)) {
	for _, r := range res.PushIdle {
		base := find(res.PushIdle, "wssd", r.Transport)
		if r.Server != "push" || base.Alive == 0 || r.Alive == 0 {
			continue
		}
		more := r.RSSPerConn - base.RSSPerConn
		add(fmt.Sprintf("%s push idle (subscribed) ≤ engine idle + %s/conn", r.Transport, kb(pushIdleGoal)), more <= pushIdleGoal,
			"%s/conn more (growth %s vs %s, %d conns); live heap %s/conn more", kb(more), kb(r.RSSPerConn), kb(base.RSSPerConn), r.Alive,
			kb(r.LiveHeapPerConn-base.LiveHeapPerConn))
	}
}
