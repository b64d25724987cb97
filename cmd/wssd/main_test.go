package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/certstore"
	"github.com/wssd/wssd/internal/leakcheck"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

func TestMain(m *testing.M) {
	code := leakcheck.Run(m, 5*time.Second)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string // set for the case
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if o.mode != "push" || o.listen != "127.0.0.1:8282" || o.maxMessage < 1<<20 || o.pingInterval <= 0 || !o.trimMemory {
				t.Fatalf("defaults: %+v", o)
			}
		}},
		{name: "trusted proxies", args: []string{"-trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"}, check: func(t *testing.T, o options) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
			if !slices.Equal(o.trustedProxies, want) {
				t.Fatalf("got %v", o.trustedProxies)
			}
		}},
		{name: "trim memory off", args: []string{"-trim-memory=false"}, check: func(t *testing.T, o options) {
			if o.trimMemory {
				t.Fatal("-trim-memory=false must turn the trimmer off")
			}
		}},
		{name: "ping off", args: []string{"-ping-interval", "0"}, check: func(t *testing.T, o options) {
			if o.pingInterval >= 0 {
				t.Fatalf("-ping-interval 0 must disable pings, got %v", o.pingInterval)
			}
		}},
		{name: "admission limits", args: []string{"-max-conns", "5000", "-max-conns-per-ip", "10", "-accept-rate", "200", "-accept-burst", "50"}, check: func(t *testing.T, o options) {
			if o.maxConns != 5000 || o.maxConnsPerIP != 10 || o.acceptRate != 200 || o.acceptBurst != 50 {
				t.Fatalf("limits: %+v", o)
			}
		}},
		{name: "compression on by default", check: func(t *testing.T, o options) {
			if z := o.compression; z == nil || z.Threshold != engine.DefaultCompressionThreshold || z.ClientMaxWindowBits != 15 || z.ServerContextTakeover {
				t.Fatalf("compression defaults: %+v", z)
			}
		}},
		{name: "compression off", args: []string{"-compression=false"}, check: func(t *testing.T, o options) {
			if o.compression != nil {
				t.Fatalf("-compression=false left %+v", o.compression)
			}
		}},
		{name: "compress every message", args: []string{"-compression-threshold", "0", "-compression-level", "6", "-compression-context"}, check: func(t *testing.T, o options) {
			if z := o.compression; z.Threshold >= 0 || z.Level != 6 || !z.ServerContextTakeover {
				t.Fatalf("compression: %+v", z)
			}
		}},
		{name: "bad client window", args: []string{"-compression-client-window", "16"}, wantErr: "between 8 and 15"},
		{name: "bad compression level", args: []string{"-compression-level", "10"}, wantErr: "between 0 and 9"},
		{name: "negative limit", args: []string{"-max-conns-per-ip", "-1"}, wantErr: "must not be negative"},
		{name: "bad proxy", args: []string{"-trusted-proxies", "10.0.0.0/33"}, wantErr: "trusted-proxies"},
		{name: "bad mode", args: []string{"-mode", "chat"}, wantErr: "unknown -mode"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "log-format"},
		{name: "log level", args: []string{"-log-level", "warn"}, check: func(t *testing.T, o options) {
			if o.logLevel != slog.LevelWarn {
				t.Fatalf("-log-level warn gave %v", o.logLevel)
			}
		}},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: "log-level"},
		{name: "bad max message", args: []string{"-max-message", "0"}, wantErr: "max-message"},
		{name: "metrics on loopback by default", check: func(t *testing.T, o options) {
			if o.metricsListen != "127.0.0.1:9282" {
				t.Fatalf("-metrics-listen defaults to %q", o.metricsListen)
			}
		}},
		{name: "metrics off", args: []string{"-metrics-listen", ""}, check: func(t *testing.T, o options) {
			if o.metricsListen != "" {
				t.Fatalf("-metrics-listen '' gave %q", o.metricsListen)
			}
		}},
		{name: "stats off by default", check: func(t *testing.T, o options) {
			if o.statsInterval != 0 {
				t.Fatalf("-stats-interval defaults to %v, want 0 (off)", o.statsInterval)
			}
		}},
		{name: "stats interval", args: []string{"-stats-interval", "30s"}, check: func(t *testing.T, o options) {
			if o.statsInterval != 30*time.Second {
				t.Fatalf("-stats-interval 30s gave %v", o.statsInterval)
			}
		}},
		{name: "negative stats interval", args: []string{"-stats-interval", "-1s"}, wantErr: "stats-interval"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
		{name: "two certificate pairs", args: []string{"-tls-cert", "a.crt", "-tls-key", "a.key", "-tls-cert", "b.crt", "-tls-key", "b.key"}, check: func(t *testing.T, o options) {
			if !slices.Equal(o.tlsCerts, []string{"a.crt", "b.crt"}) || !slices.Equal(o.tlsKeys, []string{"a.key", "b.key"}) {
				t.Fatalf("pairs %v %v", o.tlsCerts, o.tlsKeys)
			}
		}},
		{name: "cert without key", args: []string{"-tls-cert", "a.crt"}, wantErr: "pair up"},
		{name: "dev and cert", args: []string{"-tls-dev", "d", "-tls-cert", "a.crt", "-tls-key", "a.key"}, wantErr: "exclude"},
		{name: "client CA without TLS", args: []string{"-tls-client-ca", "ca.pem"}, wantErr: "need -tls-cert"},
		// TLSAutodetect bypasses mTLS: a plain ws client would skip the
		// client certificate.
		{name: "client CA with autodetect", args: []string{"-tls-cert", "a.crt", "-tls-key", "a.key", "-tls-client-ca", "ca.pem", "-tls-autodetect"}, wantErr: "-tls-client-ca and -tls-autodetect exclude each other"},
		{name: "client CA with autodetect, dev certificate", args: []string{"-tls-dev", "d", "-tls-client-ca", "ca.pem", "-tls-autodetect"}, wantErr: "exclude each other"},
		{name: "autodetect without client CA", args: []string{"-tls-dev", "d", "-tls-autodetect"}, check: func(t *testing.T, o options) {
			if !o.tlsAutodetect {
				t.Fatal("-tls-autodetect not set")
			}
		}},
		{name: "session tickets on by default", args: []string{"-tls-dev", "d"}, check: func(t *testing.T, o options) {
			if !o.tlsTickets {
				t.Fatal("session tickets off by default")
			}
		}},
		{name: "session tickets off", args: []string{"-tls-dev", "d", "-tls-tickets=false"}, check: func(t *testing.T, o options) {
			if o.tlsTickets {
				t.Fatal("-tls-tickets=false left tickets on")
			}
		}},
		{name: "PROXY protocol without trusted proxies", args: []string{"-proxy-protocol"}, wantErr: "needs -trusted-proxies"},
		{name: "PROXY protocol", args: []string{"-proxy-protocol", "-trusted-proxies", "127.0.0.1"}, check: func(t *testing.T, o options) {
			if !o.proxyProtocol {
				t.Fatal("-proxy-protocol not set")
			}
		}},
		{name: "real IP header default", check: func(t *testing.T, o options) {
			if o.realIPHeader != engine.SourceXRealIP {
				t.Fatalf("got %v, want X-Real-IP as deploy/nginx sets it", o.realIPHeader)
			}
		}},
		{name: "real IP header X-Forwarded-For", args: []string{"-real-ip-header", "X-Forwarded-For"}, check: func(t *testing.T, o options) {
			if o.realIPHeader != engine.SourceXForwardedFor {
				t.Fatalf("got %v", o.realIPHeader)
			}
		}},
		{name: "real IP header proxy-protocol", args: []string{"-real-ip-header", "proxy-protocol", "-proxy-protocol", "-trusted-proxies", "127.0.0.1"}, check: func(t *testing.T, o options) {
			if o.realIPHeader != engine.SourceProxyProtocol {
				t.Fatalf("got %v", o.realIPHeader)
			}
		}},
		{name: "real IP header proxy-protocol without -proxy-protocol", args: []string{"-real-ip-header", "proxy-protocol"}, wantErr: "needs -proxy-protocol"},
		{name: "real IP header unknown", args: []string{"-real-ip-header", "X-Client-IP"}, wantErr: "real-ip-header"},
		{name: "allowed origins", args: []string{"-allowed-origins", "https://app.example.com, https://*.example.com,"}, check: func(t *testing.T, o options) {
			if !slices.Equal(o.allowedOrigins, []string{"https://app.example.com", "https://*.example.com"}) {
				t.Fatalf("got %q", o.allowedOrigins)
			}
		}},
		// The push server's apps.
		{name: "one app from flags", args: []string{"-app-id", "1", "-app-key", "k", "-app-secret", "s", "-client-events", "-webhook-url", "https://example.com/hook"},
			check: func(t *testing.T, o options) {
				if o.appID != "1" || o.appKey != "k" || o.appSecret != "s" || !o.clientEvents || o.webhookURL == "" {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "one app from the environment", env: map[string]string{"WSSD_APP_ID": "7", "WSSD_APP_KEY": "ek", "WSSD_APP_SECRET": "es"},
			check: func(t *testing.T, o options) {
				if o.appID != "7" || o.appKey != "ek" || o.appSecret != "es" {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "path in push mode", args: []string{"-path", "/ws"}, wantErr: "-path is for -mode echo"},
		{name: "half an app", args: []string{"-app-id", "1", "-app-key", "k"}, wantErr: "go together"},
		{name: "apps file and app flags", args: []string{"-apps", "apps.json", "-app-id", "1", "-app-key", "k", "-app-secret", "s"}, wantErr: "exclude each other"},
		{name: "apps file and client events", args: []string{"-apps", "apps.json", "-client-events"}, wantErr: "each app has"},
		{name: "webhook for the development app", args: []string{"-webhook-url", "https://example.com/hook"}, wantErr: "development app has no webhooks"},
		// Processes and NATS.
		{name: "one process by default", check: func(t *testing.T, o options) {
			if o.procs != 1 || o.node != 0 || len(o.nats.urls) != 0 {
				t.Fatalf("procs %d node %d nats %v", o.procs, o.node, o.nats.urls)
			}
		}},
		{name: "procs 0", args: []string{"-procs", "0"}, wantErr: "-procs must be between 1 and 256"},
		{name: "procs -1", args: []string{"-procs", "-1"}, wantErr: "-procs must be between 1 and 256"},
		{name: "procs 257", args: []string{"-procs", "257"}, wantErr: "-procs must be between 1 and 256"},
		// Echo has no state: its workers need no NATS.
		{name: "procs with echo", args: []string{"-mode", "echo", "-procs", "4"}, check: func(t *testing.T, o options) {
			if o.procs != 4 {
				t.Fatalf("procs %d", o.procs)
			}
		}},
		{name: "node 256", args: []string{"-node", "256"}, wantErr: "-node must be between 0 and 255"},
		{name: "NATS URLs", args: []string{"-node", "2", "-nats-url", "nats://a:4222, tls://b:4223,c:4224", "-nats-user", "u", "-nats-password", "p"}, check: func(t *testing.T, o options) {
			if !slices.Equal(o.nats.urls, []string{"nats://a:4222", "tls://b:4223", "nats://c:4224"}) || o.node != 2 || o.nats.user != "u" {
				t.Fatalf("%+v", o.nats)
			}
		}},
		{name: "NATS password from the environment", args: []string{"-node", "0", "-nats-url", "a", "-nats-user", "u"}, env: map[string]string{"WSSD_NATS_PASSWORD": "pw"}, check: func(t *testing.T, o options) {
			if o.nats.password != "pw" {
				t.Fatalf("%+v", o.nats)
			}
		}},
		{name: "NATS URL of another scheme", args: []string{"-node", "0", "-nats-url", "http://a:4222"}, wantErr: "not nats, tls, ws or wss"},
		{name: "NATS URL without host", args: []string{"-node", "0", "-nats-url", "nats://:4222"}, wantErr: "no host"},
		{name: "NATS URL with a bad port", args: []string{"-node", "0", "-nats-url", "nats://a:99999"}, wantErr: "bad port"},
		{name: "NATS URL unparsable", args: []string{"-node", "0", "-nats-url", "nats://a b:1"}, wantErr: "-nats-url"},
		{name: "NATS URL list of commas", args: []string{"-node", "0", "-nats-url", ", ,"}, wantErr: "no URL"},
		{name: "NATS without -node", args: []string{"-nats-url", "nats://a:4222"}, wantErr: "needs -node"},
		{name: "NATS with echo", args: []string{"-mode", "echo", "-node", "0", "-nats-url", "nats://a:4222"}, wantErr: "-mode echo has none"},
		{name: "NATS credentials without URL", args: []string{"-nats-creds", "a.creds"}, wantErr: "which is not given"},
		{name: "two NATS credentials", args: []string{"-node", "0", "-nats-url", "a", "-nats-creds", "a.creds", "-nats-nkey", "a.nk"}, wantErr: "exclude each other"},
		{name: "NATS user without password", args: []string{"-node", "0", "-nats-url", "a", "-nats-user", "u"}, wantErr: "go together"},
		{name: "NATS client cert without key", args: []string{"-node", "0", "-nats-url", "a", "-nats-tls-cert", "c.pem"}, wantErr: "go together"},
		{name: "embedded NATS store without procs", args: []string{"-nats-store", "d"}, wantErr: "runs only with"},
		{name: "embedded NATS beside -nats-url", args: []string{"-procs", "2", "-node", "0", "-nats-url", "a", "-nats-listen", "127.0.0.1:4222"}, wantErr: "runs only with"},
		{name: "embedded NATS beyond loopback", args: []string{"-procs", "2", "-nats-listen", "0.0.0.0:4222"}, wantErr: "loopback addresses only"},
		{name: "dead after one missed heartbeat", args: []string{"-procs", "2", "-cluster-dead-after", "1500ms"}, wantErr: "two heartbeats"},
		{name: "dead after", args: []string{"-procs", "2", "-cluster-dead-after", "10s"}, check: func(t *testing.T, o options) {
			if o.deadAfter != 10*time.Second || o.hungAfter != cluster.DefaultHungAfter {
				t.Errorf("deadAfter %v, hungAfter %v", o.deadAfter, o.hungAfter)
			}
		}},
		{name: "hung after", args: []string{"-procs", "2", "-cluster-hung-after", "1m"}, check: func(t *testing.T, o options) {
			if o.hungAfter != time.Minute || o.deadAfter != cluster.DefaultDeadAfter {
				t.Errorf("deadAfter %v, hungAfter %v", o.deadAfter, o.hungAfter)
			}
		}},
		{name: "hung before dead", args: []string{"-procs", "2", "-cluster-dead-after", "40s"}, wantErr: "more than -cluster-dead-after"},
		{name: "embedded NATS address", args: []string{"-procs", "2", "-nats-listen", "127.0.0.1:4222", "-nats-store", "d"}, check: func(t *testing.T, o options) {
			if o.natsListen != "127.0.0.1:4222" || o.natsStore != "d" {
				t.Fatalf("%q %q", o.natsListen, o.natsStore)
			}
		}},
		{name: "relative webhook URL", args: []string{"-app-id", "1", "-app-key", "k", "-app-secret", "s", "-webhook-url", "/hook"}, wantErr: "absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

// wssdProcess is a running wssd binary and its JSON log.
type wssdProcess struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan map[string]any
	addr  string // host:port from the "wssd listening" line
	// metrics is the URL of /metrics from the "metrics listening" line, or
	// "" with -metrics-listen "".
	metrics string
	// listening is the "wssd listening" line (with -procs, the first
	// worker's).
	listening map[string]any
}

// binDir holds the binary buildOnce built; TestMain removes it.
var binDir string

// buildOnce builds the binary once per test run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wssd-test-bin")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "wssd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startWSSD runs the binary with args plus JSON logging, and the metrics
// endpoint, on free ports and waits until it listens.
func startWSSD(t *testing.T, args ...string) *wssdProcess {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-listen", "127.0.0.1:0", "-metrics-listen", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &wssdProcess{t: t, cmd: cmd, lines: make(chan map[string]any, 64)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			}
		}
	}()
	listening := p.next("wssd listening", "metrics listening")
	if listening["msg"] == "metrics listening" {
		p.metrics = listening["url"].(string)
		listening = p.next("wssd listening")
	}
	u, err := url.Parse(listening["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	p.addr, p.listening = "127.0.0.1:"+u.Port(), listening
	return p
}

// next returns the next log line with message msg, or one of others.
func (p *wssdProcess) next(msg string, others ...string) map[string]any {
	p.t.Helper()
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("wssd exited before logging %q", msg)
			}
			if m["msg"] == msg || slices.Contains(others, m["msg"].(string)) {
				return m
			}
		case <-time.After(10 * time.Second):
			p.t.Fatalf("no %q log line", msg)
		}
	}
}

// TestBinary builds wssd, runs it as a user would, talks to it, and stops
// it with SIGTERM: the access log carries client_ip and path, the close line
// code, duration and bytes, and the shutdown is graceful.
func TestBinary(t *testing.T) {
	p := startWSSD(t, "-mode", "echo", "-path", "/wss")
	next, addr, cmd := p.next, p.addr, p.cmd

	c, err := wstest.Dial(addr, wstest.DialOptions{Path: "/wss", LocalIP: "127.0.0.2", Header: http.Header{"X-Real-Ip": {"203.0.113.7"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	open := next("ws open")
	if open["client_ip"] != "127.0.0.2" || open["path"] != "/wss" {
		t.Fatalf("open line: %v (a spoofed X-Real-IP from an untrusted peer must be ignored)", open)
	}
	for _, op := range []wsproto.Opcode{wsproto.OpText, wsproto.OpBinary} {
		if err := c.Write(wstest.Message(op, []byte("tom"))); err != nil {
			t.Fatal(err)
		}
		if gotOp, got, err := c.ReadMessage(0); err != nil || gotOp != op || string(got) != "tom" {
			t.Fatalf("echo: %v %q %v", gotOp, got, err)
		}
	}
	if _, err := wstest.Dial(addr, wstest.DialOptions{Path: "/other"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("path not served: %v", err)
	}
	// Refusals are logged at Info, rate-limited, with a count.
	if refused := next("upgrade refused"); refused["status"] != float64(404) || refused["uri"] != "/other" || refused["count"] != float64(1) {
		t.Fatalf("refusal line: %v", refused)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, _, err := c.ReadClose(5 * time.Second)
	if err != nil || code != wsproto.CloseGoingAway {
		t.Fatalf("on SIGTERM: close %v %v, want 1001", code, err)
	}
	_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
	closed := next("ws close")
	if closed["code"] != float64(1001) || closed["bytes_in"] == float64(0) || closed["bytes_out"] == float64(0) {
		t.Fatalf("close line: %v", closed)
	}
	if d, ok := closed["duration"].(string); !ok || !strings.HasSuffix(d, "s") {
		t.Fatalf("close line's duration %#v: want a duration string, not integer nanoseconds", closed["duration"])
	}
	next("stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wssd exited with %v after SIGTERM", err)
	}
}

// TestBinaryCompression: the binary negotiates permessage-deflate with a
// browser's offer and echoes a compressed message compressed.
func TestBinaryCompression(t *testing.T) {
	p := startWSSD(t, "-mode", "echo")
	c, err := wstest.Dial(p.addr, wstest.DialOptions{Header: http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Response.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate; server_no_context_takeover; client_max_window_bits=15" {
		t.Fatalf("answer %q", got)
	}
	msg := []byte(strings.Repeat(`{"event":"message","data":"hello"}`, 20))
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = w.Write(msg)
	_ = w.Flush()
	if err := c.Write(wstest.Frame{Fin: true, Rsv: 0b100, Op: wsproto.OpText, Payload: bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})}); err != nil {
		t.Fatal(err)
	}
	h, payload, err := c.ReadFrame(0)
	if err != nil || h.Rsv != 0b100 {
		t.Fatalf("echo: RSV %03b, %v", h.Rsv, err)
	}
	got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))))
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo inflates to %d bytes (%v), want the %d sent", len(got), err, len(msg))
	}
}

// TestBinaryEdge runs wssd behind an X-Forwarded-For proxy (127.0.0.2) with
// an Origin check: a client's forged X-Real-IP is never seen, and a page of
// another origin gets 403.
func TestBinaryEdge(t *testing.T) {
	p := startWSSD(t, "-mode", "echo", "-trusted-proxies", "127.0.0.2", "-real-ip-header", "X-Forwarded-For",
		"-allowed-origins", "https://app.example.com,https://*.example.org")
	cases := []struct {
		name   string
		header http.Header
		status int    // 0: upgraded
		ip     string // the client_ip logged
	}{
		{name: "forged X-Real-IP", header: http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"6.6.6.7, 203.0.113.7"}}, ip: "203.0.113.7"},
		{name: "allowed origin", header: http.Header{"Origin": {"https://chat.example.org"}, "X-Forwarded-For": {"203.0.113.8"}}, ip: "203.0.113.8"},
		{name: "other origin", header: http.Header{"Origin": {"https://evil.example"}}, status: http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wstest.Dial(p.addr, wstest.DialOptions{LocalIP: "127.0.0.2", Header: tc.header})
			if tc.status != 0 {
				if c == nil || c.Response.StatusCode != tc.status {
					t.Fatalf("got %v, want %d", err, tc.status)
				}
				c.Close()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if open := p.next("ws open"); open["client_ip"] != tc.ip || open["client_ip_source"] != "x-forwarded-for" {
				t.Fatalf("open line %v, want client_ip %s from x-forwarded-for", open, tc.ip)
			}
		})
	}
}

// TestStatsInterval: -stats-interval logs a stats line that counts the open
// connections and carries the heap, RSS, goroutine and GC figures.
func TestStatsInterval(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		args := []string{"-stats-interval", "50ms"}
		var opts wstest.DialOptions
		if tr.TLS {
			args = append(args, "-tls-dev", t.TempDir())
			opts.TLS = &tls.Config{InsecureSkipVerify: true}
		}
		p := startWSSD(t, append([]string{"-mode", "echo"}, args...)...)
		stats := func() map[string]any {
			m := p.next("stats")
			for _, k := range []string{"conns", "heap_inuse", "heap_released", "heap_live", "rss", "goroutines", "gc"} {
				if _, ok := m[k].(float64); !ok {
					t.Fatalf("stats line without a number %s: %v", k, m)
				}
			}
			return m
		}
		if m := stats(); m["conns"] != float64(0) || m["heap_inuse"] == float64(0) || m["goroutines"] == float64(0) || m["rss"] == float64(0) {
			t.Fatalf("before any connection: %v", m)
		}
		c, err := wstest.Dial(p.addr, opts)
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(t, c, "tom")
		// A line logged soon after the echo counts the connection, and one
		// soon after the close no longer does.
		waitConns := func(want float64) {
			t.Helper()
			m := stats()
			for end := time.Now().Add(5 * time.Second); m["conns"] != want && time.Now().Before(end); m = stats() {
			}
			if m["conns"] != want {
				t.Fatalf("stats say %v connections, want %v: %v", m["conns"], want, m)
			}
		}
		waitConns(1)
		c.Close()
		waitConns(0)
	})
}

// writePair writes a new self-signed certificate for the loopback names
// into dir, replacing the files by rename as certificate tools do, and
// returns its serial number.
func writePair(t *testing.T, dir string) *big.Int {
	t.Helper()
	certPEM, keyPEM, err := certstore.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}

// serialOf dials wss and returns the serial of the certificate served.
func serialOf(t *testing.T, addr string) (*big.Int, *wstest.Client) {
	t.Helper()
	c, err := wstest.Dial(addr, wstest.DialOptions{TLS: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, c
}

func echoOnce(t *testing.T, c *wstest.Client, msg string) {
	t.Helper()
	if err := c.Write(wstest.Message(wsproto.OpText, []byte(msg))); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(0); err != nil || string(got) != msg {
		t.Fatalf("echo %q: %q %v", msg, got, err)
	}
}

// TestCertificateReload: SIGHUP and a change of the files load the new
// certificate for new handshakes; open connections keep working; a broken
// file is reported and the old certificate keeps serving.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := writePair(t, dir)
	p := startWSSD(t, "-mode", "echo", "-tls-cert", filepath.Join(dir, "cert.pem"), "-tls-key", filepath.Join(dir, "key.pem"), "-tls-watch", "50ms")

	serial, old := serialOf(t, p.addr)
	if serial.Cmp(first) != 0 {
		t.Fatalf("serving serial %v, want %v", serial, first)
	}
	echoOnce(t, old, "before")

	t.Run("file change", func(t *testing.T) {
		second := writePair(t, dir)
		p.next("certificates loaded")
		if serial, _ := serialOf(t, p.addr); serial.Cmp(second) != 0 {
			t.Fatalf("new connection got serial %v, want the new %v", serial, second)
		}
		echoOnce(t, old, "during")
	})
	t.Run("broken file keeps the old certificate", func(t *testing.T) {
		before, _ := serialOf(t, p.addr)
		if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if e := p.next("SIGHUP: certificates not reloaded; the old ones keep serving"); e["err"] == nil {
			t.Fatalf("error line without the error: %v", e)
		}
		if serial, _ := serialOf(t, p.addr); serial.Cmp(before) != 0 {
			t.Fatalf("after a broken reload: serial %v, want the old %v", serial, before)
		}
	})
	t.Run("SIGHUP", func(t *testing.T) {
		third := writePair(t, dir)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		p.next("certificates loaded")
		if serial, _ := serialOf(t, p.addr); serial.Cmp(third) != 0 {
			t.Fatalf("after SIGHUP: serial %v, want %v", serial, third)
		}
	})
	echoOnce(t, old, "after")
}

// TestBinaryIPv6 is the regression test for -listen '[::1]:0' and
// '[::]:8282' panicking ("As4 called on IPv6 address") and -listen :port
// binding IPv4 only.
func TestBinaryIPv6(t *testing.T) {
	cases := []struct {
		name   string
		listen string
		hosts  []string // addresses that must reach wssd
	}{
		{name: "loopback", listen: "[::1]:0", hosts: []string{"::1"}},
		{name: "dual stack", listen: ":0", hosts: []string{"127.0.0.1", "::1"}},
		{name: "IPv6 any", listen: "[::]:0", hosts: []string{"::1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
				args := []string{"-listen", tc.listen}
				dir := t.TempDir()
				if tr.TLS {
					args = append(args, "-tls-dev", dir)
				}
				p := startWSSD(t, append([]string{"-mode", "echo"}, args...)...)
				var o wstest.DialOptions
				if tr.TLS {
					ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
					if err != nil {
						t.Fatal(err)
					}
					roots := x509.NewCertPool()
					roots.AppendCertsFromPEM(ca)
					o.TLS = &tls.Config{RootCAs: roots, ServerName: "localhost"}
				}
				_, port, _ := net.SplitHostPort(p.addr)
				for _, host := range tc.hosts {
					c, err := wstest.Dial(net.JoinHostPort(host, port), o)
					if err != nil {
						t.Fatalf("%s: %v", host, err)
					}
					echoOnce(t, c, host)
					c.Close()
				}
			})
		})
	}
}

// TestDevCertificate: -tls-dev serves wss on localhost with a certificate
// that its printed CA verifies.
func TestDevCertificate(t *testing.T) {
	dir := t.TempDir()
	p := startWSSD(t, "-mode", "echo", "-tls-dev", dir)
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := wstest.Dial(p.addr, wstest.DialOptions{TLS: &tls.Config{RootCAs: roots, ServerName: name}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		echoOnce(t, c, "tom")
		c.Close()
	}
}
