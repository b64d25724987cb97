package supervisor_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wssd/wssd/internal/supervisor"
)

// One binary is both the supervisor and, started by it, each of its four
// workers.
func Example() {
	w, err := supervisor.CurrentWorker()
	if err != nil {
		log.Fatal(err)
	}
	if w != nil {
		// A worker: bind w.Listen (the configured address on the first
		// worker's first start) with SO_REUSEPORT, serve, then tell the
		// supervisor where.
		_ = w.Serving(supervisor.Report{Listen: "127.0.0.1:8282", Metrics: "127.0.0.1:40123"})
		return
	}
	exe, _ := os.Executable()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	sup, err := supervisor.Start(supervisor.Config{Procs: 4, Path: exe, Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.ListenAndServe("127.0.0.1:9282", sup.Handler()) }()
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := sup.Shutdown(ctx); err != nil {
		log.Print(err)
	}
}
