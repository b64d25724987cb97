// Command soak holds many honest connections to a wssd binary for a long
// while beside hostile clients, samples the server every -sample, and
// fails (exit status 1) if the server's memory, goroutines or open files
// grew beyond their bounds or an honest client lost a message or its
// connection. `make soak` runs it; see bench/README.md.
//
//	soak -wssd ../bin/wssd [-transport wss|ws] [-conns 15000] [-duration 10m]
//
// Each hostile kind has -KIND-count, -KIND-rate and -KIND-inflight; their
// default counts scale with -duration. -hostile=false turns them all off.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wssd/wssd/bench/soak"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := soak.Run(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "soak: FAIL:", err)
		return 1
	}
	res.Report(stdout)
	if len(res.Failed()) > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (soak.Config, error) {
	var cfg soak.Config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.WSSD, "wssd", "", "the wssd binary to soak (make soak builds bin/wssd)")
	transport := fs.String("transport", "wss", "wss (a development certificate) or ws")
	fs.IntVar(&cfg.Conns, "conns", 15000, "honest connections held")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "how long they are held after the baseline")
	fs.DurationVar(&cfg.Settle, "settle", 15*time.Second, "wait after the connections opened, before the baseline sample")
	fs.DurationVar(&cfg.SampleEvery, "sample", 30*time.Second, "print a sample this often")
	fs.DurationVar(&cfg.EchoEvery, "echo-every", 20*time.Second, "each honest connection sends a message this often")
	fs.IntVar(&cfg.MsgSize, "msg-size", 64, "echo message size in bytes (at most 125)")
	churn := fs.Float64("churn", 0.01, "share of the honest connections closed and reopened each minute")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", 10*time.Second, "wssd's -ping-interval")
	fs.DurationVar(&cfg.Hold, "hold", 60*time.Second, "the longest a silent hostile client waits for the server to close it")
	fs.IntVar(&cfg.Pings, "pings", 400000, "pings a ping flood sends (51 MB: far more than kernel buffers and the server's 4 MiB send queue hold)")
	fs.IntVar(&cfg.Sources, "sources", 0, "client source addresses 127.0.0.2 onwards for the honest connections (0: one per 20,000)")
	fs.DurationVar(&cfg.GCWait, "gc-wait", 130*time.Second, "how long the baseline and the final sample each wait for a GC cycle of the server (Go forces one every 2 minutes)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "picks the churned connections")
	fs.StringVar(&cfg.Dir, "dir", "", "keep the development certificate and wssd's log here (default: a new temporary directory)")
	hostile := fs.Bool("hostile", true, "run the hostile clients")
	rssGrowth := fs.Float64("rss-growth", -1, "final RSS bound over the baseline, as a share (default 0.25)")
	heapGrowth := fs.Float64("heap-growth", -1, "final Go heap bound over the baseline, as a share (default 0.25)")
	type kindFlags struct {
		count, inFlight *int
		rate            *float64
	}
	kf := map[string]kindFlags{}
	for _, k := range soak.Kinds {
		only := ""
		if k.TLSOnly {
			only = " (wss only)"
		}
		kf[k.Name] = kindFlags{
			count:    fs.Int(k.Name+"-count", k.Default.Count, fmt.Sprintf("%s clients in the run%s: %s; the default is for 10 minutes and scales with -duration", k.Name, only, k.Doc)),
			rate:     fs.Float64(k.Name+"-rate", k.Default.Rate, k.Name+" clients started a second at most"),
			inFlight: fs.Int(k.Name+"-inflight", k.Default.InFlight, k.Name+" clients at once at most"),
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch *transport {
	case "wss":
		cfg.TLS = true
	case "ws":
	default:
		return cfg, fmt.Errorf("-transport must be wss or ws, not %q", *transport)
	}
	if cfg.WSSD == "" {
		return cfg, fmt.Errorf("-wssd: which binary? (make soak builds bin/wssd)")
	}
	if cfg.Conns <= 0 || cfg.Duration <= 0 || cfg.SampleEvery <= 0 || cfg.Settle <= 0 {
		return cfg, fmt.Errorf("-conns, -duration, -sample and -settle must be positive")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.ChurnPerMinute = *churn * float64(cfg.Conns)
	cfg.Hostile = soak.DefaultLimits(cfg.Duration)
	for name, f := range kf {
		l := cfg.Hostile[name]
		if set[name+"-count"] {
			l.Count = *f.count
		}
		l.Rate, l.InFlight = *f.rate, *f.inFlight
		if !*hostile {
			l.Count = 0
		}
		cfg.Hostile[name] = l
	}
	if *rssGrowth >= 0 || *heapGrowth >= 0 {
		b := soak.DefaultBoundsFor(cfg)
		if *rssGrowth >= 0 {
			b.RSSGrowth = *rssGrowth
		}
		if *heapGrowth >= 0 {
			b.HeapGrowth = *heapGrowth
		}
		cfg.Bounds = &b
	}
	return cfg, nil
}
