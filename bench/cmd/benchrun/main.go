// Command benchrun runs the whole benchmark, wssd beside its peers, and
// writes results/latest.md, results/latest.json and the charts. Run it from
// the bench module's directory (make bench does):
//
//	benchrun -mode full     # make bench: every scenario, about 20 minutes
//	benchrun -mode quick    # make bench-quick: small N, no scale, about 3 minutes
//
// It builds benchd and loadgen from this module and the wssd binary from
// the root module (the cluster scenarios run it with -procs).
// -servers and -scenarios narrow a run; -render rewrites the report of an
// earlier run from its latest.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wssd/wssd/bench/report"
	"github.com/wssd/wssd/bench/runner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "quick", "quick, full or smoke")
	out := flag.String("out", "results", "directory for latest.md, latest.json and the charts")
	serverList := flag.String("servers", "", "comma-separated servers (default: all)")
	scenarioList := flag.String("scenarios", "", "comma-separated scenarios: connect, idle, echo, latency, broadcast, echo-deflate, idle-deflate, broadcast-deflate, push-idle, push-fanout, push-latency, scale, push-scale, push-cluster-fanout, push-cluster-cost (default: the mode's)")
	scaleTarget := flag.Int("scale-target", 0, "connections the scale scenario aims for (default: the mode's)")
	pushScaleTarget := flag.Int("push-scale-target", 0, "subscribers push-scale aims for (default: the mode's)")
	pushScaleProcs := flag.Int("push-scale-procs", 0, "push-scale's wssd -procs (default: the mode's; in full mode one per 16,000 subscribers)")
	render := flag.Bool("render", false, "measure nothing: rewrite latest.md and the charts in -out from its latest.json")
	flag.Parse()
	if *render {
		data, err := os.ReadFile(filepath.Join(*out, "latest.json"))
		if err != nil {
			return err
		}
		var res runner.Results
		if err := json.Unmarshal(data, &res); err != nil {
			return err
		}
		return report.Write(*out, &res)
	}

	var cfg runner.Config
	switch *mode {
	case "quick":
		cfg = runner.Quick()
	case "full":
		cfg = runner.Full()
	case "smoke":
		cfg = runner.Smoke()
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	if *serverList != "" {
		cfg.Servers = strings.Split(*serverList, ",")
	}
	if *scenarioList != "" {
		cfg.Scenarios = strings.Split(*scenarioList, ",")
	}
	if *scaleTarget > 0 {
		cfg.ScaleTarget = *scaleTarget
	}
	if *pushScaleTarget > 0 {
		cfg.PushScaleTarget = *pushScaleTarget
	}
	if *pushScaleProcs > 0 {
		cfg.PushScaleProcs = *pushScaleProcs
	}
	if _, err := os.Stat("cmd/benchd"); err != nil {
		return fmt.Errorf("run me from the bench module's directory: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, err := os.MkdirTemp("", "wssd-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	start := time.Now()
	if err := runner.Build(ctx, ".", bin); err != nil {
		return err
	}
	if slices.Contains(cfg.Servers, "centrifugo") && slices.ContainsFunc(cfg.Scenarios, func(s string) bool { return strings.HasPrefix(s, "push-") }) {
		fmt.Fprintln(os.Stderr, "benchrun: building centrifugo (minutes the first time)")
		if err := runner.BuildCentrifugo(ctx, ".", bin); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: %v\nbenchrun: centrifugo's rows will be problems\n", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	res, err := runner.Run(ctx, cfg, *mode, bin, *out, os.Stderr)
	if res != nil {
		if werr := report.Write(*out, res); werr != nil {
			return werr
		}
		fmt.Fprintf(os.Stderr, "benchrun: wrote %s/latest.md in %s\n", *out, time.Since(start).Round(time.Second))
	}
	return err
}
