// Command benchd runs one of the benchmark servers of package servers.
//
//	benchd -server NAME -listen ADDR [-tls-cert F -tls-key F] [-reuseport] [-ping-interval D] [-compression]
//
// When it listens it prints one JSON line to standard output: the server's
// address, the address of its stats endpoint and its process id. The stats
// endpoint serves /stats (goroutines, Go heap, connections, as JSON; with
// ?gc=1 after a garbage collection, so that the heap is what is live) and
// /debug/pprof/; for a server that triggers through its Go API (the push
// server), also POST /trigger, with the body of the Pusher HTTP API's POST
// /apps/{id}/events ({"name", "channels", "data"}). SIGINT or SIGTERM
// stops it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/wssd/wssd/bench/servers"
)

// Ready is the line benchd prints once it listens.
type Ready struct {
	Server string `json:"server"`
	Addr   string `json:"addr"`
	Stats  string `json:"stats"`
	PID    int    `json:"pid"`
}

// Stats is what /stats answers.
type Stats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	GoSys      uint64 `json:"go_sys"`
	Conns      int    `json:"conns"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchd:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("server", "wssd", "server to run: wssd, push, gorilla, gobwas, gws, nbio, coder, gnet-echo, tls-loop")
	listen := flag.String("listen", "127.0.0.1:0", "host:port to serve on")
	certFile := flag.String("tls-cert", "", "PEM certificate file: serve wss")
	keyFile := flag.String("tls-key", "", "PEM key file for -tls-cert")
	reusePort := flag.Bool("reuseport", false, "SO_REUSEPORT, to share the port with other benchd processes")
	ping := flag.Duration("ping-interval", 25*time.Second, "ping every connection this often (0: off)")
	compression := flag.Bool("compression", false, "accept permessage-deflate (wssd, gorilla, gws)")
	statsAddr := flag.String("stats", "127.0.0.1:0", "address of the stats and pprof endpoint")
	flag.Parse()

	o := servers.Options{
		Addr:         *listen,
		ReusePort:    *reusePort,
		PingInterval: *ping,
		Compression:  *compression,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *certFile != "" {
		var err error
		if o.CertPEM, err = os.ReadFile(*certFile); err != nil {
			return err
		}
		if o.KeyPEM, err = os.ReadFile(*keyFile); err != nil {
			return err
		}
	}
	srv, err := servers.Start(*name, o)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *statsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(Stats{
			Goroutines: runtime.NumGoroutine(),
			HeapInuse:  ms.HeapInuse,
			HeapAlloc:  ms.HeapAlloc,
			StackInuse: ms.StackInuse,
			GoSys:      ms.Sys,
			Conns:      srv.Conns(),
		})
	})
	if t, ok := srv.(servers.Triggerer); ok {
		mux.HandleFunc("POST /trigger", func(w http.ResponseWriter, r *http.Request) {
			var ev struct {
				Name     string   `json:"name"`
				Channels []string `json:"channels"`
				Data     string   `json:"data"`
			}
			if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := t.Trigger(ev.Channels, ev.Name, ev.Data); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte("{}"))
		})
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() { _ = http.Serve(ln, mux) }()

	if err := json.NewEncoder(os.Stdout).Encode(Ready{
		Server: *name, Addr: srv.Addr().String(), Stats: ln.Addr().String(), PID: os.Getpid(),
	}); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}
