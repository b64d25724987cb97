// Command wssd is a WebSocket server for hundreds of thousands of
// connections per machine. This version serves -mode echo: every message is
// sent back with its opcode.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wssd:", err)
		os.Exit(1)
	}
}

// options are wssd's command-line settings.
type options struct {
	mode            string
	listen          string
	path            string
	trustedProxies  []netip.Prefix
	maxMessage      int64
	pingInterval    time.Duration
	reusePort       bool
	logFormat       string
	shutdownTimeout time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wssd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "echo", "what to serve: echo")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8282", "address to listen on, host:port (port 0 picks a free one)")
	fs.StringVar(&o.path, "path", "", "the only path upgraded to WebSocket; empty serves every path")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs or addresses whose X-Real-IP / X-Forwarded-For are believed")
	fs.Int64Var(&o.maxMessage, "max-message", 1<<20, "largest message accepted, in bytes (larger ones close with 1009)")
	fs.DurationVar(&o.pingInterval, "ping-interval", engine.DefaultPingInterval, "ping quiet connections this often; 0 disables pings")
	fs.BoolVar(&o.reusePort, "reuseport", false, "share the port with other wssd processes (SO_REUSEPORT)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for closing handshakes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.mode != "echo" {
		return o, fmt.Errorf("unknown -mode %q (this build serves: echo)", o.mode)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("-log-format must be text or json, not %q", o.logFormat)
	}
	if o.maxMessage <= 0 {
		return o, errors.New("-max-message must be positive")
	}
	if o.pingInterval == 0 {
		o.pingInterval = -1 // engine: negative disables
	}
	var err error
	if o.trustedProxies, err = parsePrefixes(*proxies); err != nil {
		return o, err
	}
	return o, nil
}

// parsePrefixes reads "10.0.0.0/8,127.0.0.1": CIDRs or single addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("-trusted-proxies: %w", err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %w", err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var lh slog.Handler = slog.NewTextHandler(stdout, nil)
	if o.logFormat == "json" {
		lh = slog.NewJSONHandler(stdout, nil)
	}
	log := slog.New(lh)

	srv, err := engine.New(engine.Config{
		Logger:         log,
		Path:           o.path,
		TrustedProxies: o.trustedProxies,
		MaxMessageSize: o.maxMessage,
		PingInterval:   o.pingInterval,
		ReusePort:      o.reusePort,
	}, echoHandler{log: log})
	if err != nil {
		return err
	}
	if err := srv.Start(o.listen); err != nil {
		return err
	}
	log.Info("wssd listening", "mode", o.mode, "url", "ws://"+srv.Addr().String()+o.path, "pid", os.Getpid())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "timeout", o.shutdownTimeout)
	case <-waitChan(srv):
		return srv.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish every closing handshake", "err", err)
	}
	log.Info("stopped")
	return nil
}

func waitChan(srv *engine.Server) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_ = srv.Wait()
		close(ch)
	}()
	return ch
}

// echoHandler sends every message back with its opcode.
type echoHandler struct {
	engine.NopHandler
	log *slog.Logger
}

func (h echoHandler) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if err := c.Send(typ, data); errors.Is(err, engine.ErrBufferFull) {
		h.log.Warn("peer does not read its echoes; closing", "client_ip", c.ClientIP())
		_ = c.Close(wsproto.ClosePolicyViolation, "send buffer full")
	}
}
