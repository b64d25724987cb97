package runner

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// centrifugoModule is the Centrifugo the bench builds: a tool of the bench
// module (go.mod's tool directive), so that its version is pinned there.
const centrifugoModule = "github.com/centrifugal/centrifugo/v6"

// centrifugoAPIKey is its HTTP API key in the bench.
const centrifugoAPIKey = "bench-api-key"

// BuildCentrifugo compiles Centrifugo from the bench module in modDir into
// binDir. It takes minutes the first time (Centrifugo has hundreds of
// dependencies); the runner measures it only if it was built.
func BuildCentrifugo(ctx context.Context, modDir, binDir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, "centrifugo"), centrifugoModule)
	cmd.Dir = modDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build centrifugo: %v\n%s", err, out)
	}
	return nil
}

// startCentrifugo starts Centrifugo on a free port, over TLS for wss, with
// the run's ping interval and GOGC, anonymous connections allowed to
// subscribe to any channel, and its HTTP API behind centrifugoAPIKey.
func (r *run) startCentrifugo(ctx context.Context, tr string) (*server, error) {
	bin := filepath.Join(r.bin, "centrifugo")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("centrifugo was not built: %w", err)
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	ping := max(r.cfg.PingInterval, time.Second)
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"allowed_origins":                       []string{"*"},
			"allow_anonymous_connect_without_token": true,
			"ping_interval":                         ping.String(),
			"pong_timeout":                          (ping * 4 / 5).String(),
		},
		"channel": map[string]any{"without_namespace": map[string]any{
			"allow_subscribe_for_anonymous": true, "allow_subscribe_for_client": true}},
		"http_api":    map[string]any{"key": centrifugoAPIKey},
		"usage_stats": map[string]any{"disabled": true},
		"health":      map[string]any{"enabled": true},
	}
	if tr == "wss" {
		cfg["http_server"].(map[string]any)["tls"] = map[string]any{"enabled": true, "cert_pem": r.certFile, "key_pem": r.keyFile}
	}
	dir, err := os.MkdirTemp("", "wssd-bench-centrifugo-")
	if err != nil {
		return nil, err
	}
	js, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "config.json")
	if err := os.WriteFile(conf, js, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--config", conf)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOGC="+r.cfg.GOGC)
	cmd.Stdout = r.logWriter("centrifugo/" + tr)
	cmd.Stderr = r.logWriter("centrifugo/" + tr)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{cmd: cmd, noStats: true, dir: dir, ready: ready{Server: "centrifugo", Addr: addr, PID: cmd.Process.Pid}}
	scheme := map[bool]string{false: "http", true: "https"}[tr == "wss"]
	hc := http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := hc.Get(scheme + "://" + addr + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, errors.New("centrifugo did not answer /health within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// centrifugoTrigger are loadgen's arguments to publish through s's HTTP API.
func (s *server) centrifugoTrigger(tr string) []string {
	scheme := "http"
	if tr == "wss" {
		scheme = "https"
	}
	return []string{"-trigger", scheme + "://" + s.ready.Addr + "/api/publish", "-trigger-apikey", centrifugoAPIKey}
}
