// Command loadgen is the benchmark client. The runner starts several, each
// from its own source addresses, and drives them over standard input.
//
// With -churn N it opens and closes N connections as fast as the server
// completes them, prints one JSON result and exits. Otherwise it opens
// -conns connections, prints the "open" result, and then reads commands,
// one a line, answering each with one JSON line (see load.Result):
//
//	echo SIZE DURATION [chat]   every connection echoes SIZE-byte messages for DURATION; with
//	                            chat, JSON chat messages (text), compressed under -deflate
//	rate PERSEC SIZE DURATION DRAIN
//	                            PERSEC SIZE-byte messages a second over all connections, on a
//	                            fixed schedule, for DURATION; then up to DRAIN for the replies
//	arm ROUNDS                  expect ROUNDS broadcast messages on every connection
//	send ROUNDS SIZE INTERVAL [chat]
//	                            ask the server to broadcast, through the first connection
//	subscribe TIMEOUT           every connection sends one small message (a pusher:subscribe)
//	                            and waits for its echo
//	collect TIMEOUT             wait for the armed broadcasts, report them (or what came since listen)
//
// With -proto pusher the connections speak the Pusher Channels protocol
// (-path /app/KEY?protocol=7), with -proto centrifugo Centrifugo's JSON
// protocol (-path /connection/websocket), and with -trigger they can
// publish:
//
//	psubscribe CHANNELS FIRST TIMEOUT
//	                            connection i subscribes to channel c-((FIRST+i) mod CHANNELS)
//	                            and waits for its subscription_succeeded
//	trigger ROUNDS INTERVAL CHANNEL SIZE
//	                            trigger ROUNDS stamped events on CHANNEL, INTERVAL apart (after arm)
//	listen                      time every event received from its stamp, until collect
//	triggers PERSEC DURATION CHANNELS SIZE
//	                            PERSEC events a second over channels c-0.. in turn, for DURATION,
//	                            each stamped with when it was due
//	stats                       live connections and CPU time so far
//	quit                        close everything and exit (so does end of input)
//
// With -deflate the connections offer permessage-deflate as Chrome does; where
// the server accepts it, they send compressed messages and inflate what they
// receive compressed, and the results count both.
//
// SIGUSR1 stops the opening of connections early; those already open are kept.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/push"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8282", "server host:port")
	useTLS := flag.Bool("tls", false, "speak TLS (wss)")
	proto := flag.String("proto", "ws", "ws, raw (no upgrade: the echo ceiling), tls-handshake (the TLS ceiling), pusher (ws speaking the Pusher protocol) or centrifugo (ws speaking Centrifugo's JSON protocol)")
	src := flag.String("src", "", "comma-separated local addresses to dial from, e.g. 127.0.0.2,127.0.0.3")
	rbuf := flag.Int("rbuf", 2048, "read buffer per connection, bytes")
	path := flag.String("path", "/", "the upgrade request's path")
	churn := flag.Int("churn", 0, "open and close this many connections, then exit")
	duration := flag.Duration("duration", 10*time.Second, "with -churn, stop after this long")
	conns := flag.Int("conns", 100, "connections to open and keep")
	concurrency := flag.Int("concurrency", 64, "connections being opened at once")
	retries := flag.Int("retries", 2, "retries for a connection that fails to open")
	deflate := flag.Bool("deflate", false, "offer permessage-deflate (RFC 7692), as Chrome does")
	trigger := flag.String("trigger", "", "where the trigger commands publish: a push server's https://HOST/apps/ID/events (with -trigger-auth) or benchd's http://HOST/trigger")
	triggerAuth := flag.String("trigger-auth", "", "KEY:SECRET signing the HTTP API requests, as the Pusher server SDKs sign")
	triggerAPIKey := flag.String("trigger-apikey", "", "Centrifugo's HTTP API key: -trigger is its /api/publish")
	flag.Parse()

	if *rbuf < 256 {
		// A frame header is up to 14 bytes and a kept prefix 125.
		return fmt.Errorf("-rbuf %d: want at least 256 bytes", *rbuf)
	}
	t := &load.Target{TLS: *useTLS, ReadBuffer: *rbuf, Path: *path, Deflate: *deflate}
	var err error
	if t.Addr, err = netip.ParseAddrPort(*addr); err != nil {
		return err
	}
	if t.Proto, err = load.ParseProto(*proto); err != nil {
		return err
	}
	for s := range strings.SplitSeq(*src, ",") {
		if s = strings.TrimSpace(s); s != "" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return err
			}
			t.Sources = append(t.Sources, a)
		}
	}
	var trig *load.Trigger
	if *trigger != "" {
		var creds *push.Credentials
		if key, secret, ok := strings.Cut(*triggerAuth, ":"); ok {
			creds = &push.Credentials{Key: key, Secret: secret}
		}
		if *triggerAPIKey != "" {
			trig, err = load.NewCentrifugoTrigger(*trigger, *triggerAPIKey)
		} else {
			trig, err = load.NewTrigger(*trigger, creds)
		}
		if err != nil {
			return err
		}
	}
	out := json.NewEncoder(os.Stdout)
	ctx := context.Background()
	if *churn > 0 {
		return out.Encode(load.Churn(ctx, t, *churn, *concurrency, *duration))
	}
	// SIGUSR1 stops opening connections: the runner's way of saying the
	// machine is full or time is up.
	openCtx, stopOpening := signal.NotifyContext(ctx, syscall.SIGUSR1)
	defer stopOpening()
	s, r, err := load.Open(openCtx, t, *conns, *concurrency, *retries)
	if err := out.Encode(r); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	defer s.Close()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var res load.Result
		switch {
		case f[0] == "echo" && (len(f) == 3 || len(f) == 4 && f[3] == "chat"):
			res = s.Echo(atoi(f[1]), parseDuration(f[2]), len(f) == 4)
		case f[0] == "rate" && len(f) == 5:
			perSec, _ := strconv.ParseFloat(f[1], 64)
			res = s.Rate(perSec, atoi(f[2]), parseDuration(f[3]), parseDuration(f[4]))
		case f[0] == "arm" && len(f) == 2:
			s.Arm(atoi(f[1]))
			res = load.Result{Cmd: "arm"}
		case f[0] == "send" && (len(f) == 4 || len(f) == 5 && f[4] == "chat"):
			res = s.Send(atoi(f[1]), atoi(f[2]), parseDuration(f[3]), len(f) == 5)
		case f[0] == "subscribe" && len(f) == 2:
			res = s.Subscribe(parseDuration(f[1]))
		case f[0] == "psubscribe" && len(f) == 4:
			res = s.PusherSubscribe(atoi(f[1]), atoi(f[2]), parseDuration(f[3]))
		case f[0] == "listen":
			s.Listen()
			res = load.Result{Cmd: "listen"}
		case (f[0] == "trigger" || f[0] == "triggers") && trig == nil:
			res = load.Result{Cmd: f[0], LastError: "no -trigger"}
		case f[0] == "trigger" && len(f) == 5:
			res = s.TriggerRounds(trig, atoi(f[1]), parseDuration(f[2]), f[3], atoi(f[4]))
		case f[0] == "triggers" && len(f) == 5:
			perSec, _ := strconv.ParseFloat(f[1], 64)
			res = s.TriggerRate(trig, perSec, parseDuration(f[2]), atoi(f[3]), atoi(f[4]))
		case f[0] == "collect" && len(f) == 2:
			res = s.Collect(parseDuration(f[1]))
		case f[0] == "stats":
			res = s.Stats()
		case f[0] == "quit":
			return nil
		default:
			res = load.Result{Cmd: f[0], LastError: "unknown command: " + in.Text()}
		}
		if err := out.Encode(res); err != nil {
			return err
		}
	}
	return in.Err()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func parseDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
