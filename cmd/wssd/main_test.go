package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/leakcheck"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

func TestMain(m *testing.M) { leakcheck.Main(m, 5*time.Second) }

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if o.mode != "echo" || o.listen != "127.0.0.1:8282" || o.maxMessage < 1<<20 || o.pingInterval <= 0 {
				t.Fatalf("defaults: %+v", o)
			}
		}},
		{name: "trusted proxies", args: []string{"-trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"}, check: func(t *testing.T, o options) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
			if !slices.Equal(o.trustedProxies, want) {
				t.Fatalf("got %v", o.trustedProxies)
			}
		}},
		{name: "ping off", args: []string{"-ping-interval", "0"}, check: func(t *testing.T, o options) {
			if o.pingInterval >= 0 {
				t.Fatalf("-ping-interval 0 must disable pings, got %v", o.pingInterval)
			}
		}},
		{name: "bad proxy", args: []string{"-trusted-proxies", "10.0.0.0/33"}, wantErr: "trusted-proxies"},
		{name: "bad mode", args: []string{"-mode", "chat"}, wantErr: "unknown -mode"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "log-format"},
		{name: "bad max message", args: []string{"-max-message", "0"}, wantErr: "max-message"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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

// TestBinary builds wssd, runs it as a user would, talks to it, and stops
// it with SIGTERM: the access log carries client_ip and path, the close line
// code, duration and bytes, and the shutdown is graceful.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wssd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-path", "/wss", "-log-format", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(msg string) map[string]any {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("wssd exited before logging %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %q log line", msg)
			}
		}
	}
	url, _ := next("wssd listening")["url"].(string)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/wss")

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

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, _, err := c.ReadClose(5 * time.Second)
	if err != nil || code != wsproto.CloseGoingAway {
		t.Fatalf("on SIGTERM: close %v %v, want 1001", code, err)
	}
	_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
	closed := next("ws close")
	if closed["code"] != float64(1001) || closed["bytes_in"] == float64(0) || closed["bytes_out"] == float64(0) || closed["duration"] == nil {
		t.Fatalf("close line: %v", closed)
	}
	next("stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wssd exited with %v after SIGTERM", err)
	}
}
