package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// unitFile is the systemd unit the deployments share.
const unitFile = "../deploy/systemd/wssd.service"

// unitBinary is the program the unit's ExecStart lines run.
const unitBinary = "/usr/local/bin/wssd"

// unitRewrites turn an ExecStart line of the unit into one the test can
// run: free loopback ports (the metrics endpoint's too: the lines run at
// once), the test certificate, and, for the line that trusts a load
// balancer's network, the loopback address.
func unitRewrites(cert, key string) []rewrite {
	return []rewrite{
		{"-listen 127.0.0.1:8282", "-listen 127.0.0.1:0 -metrics-listen 127.0.0.1:0"},
		{"-listen :443", "-listen 127.0.0.1:0 -metrics-listen 127.0.0.1:0"},
		{"/etc/ssl/wssd/cert.pem", cert},
		{"/etc/ssl/wssd/key.pem", key},
		{"-trusted-proxies 10.0.0.0/8", "-trusted-proxies 127.0.0.1"},
	}
}

// TestProxyUnit checks deploy/systemd/wssd.service: systemd accepts it and
// rates its sandbox, and every ExecStart line in it, the active one and the
// commented alternatives, starts the real wssd binary, which then serves a
// client and stops cleanly on SIGTERM.
func TestProxyUnit(t *testing.T) {
	t.Parallel()
	bin := buildWssd(t)
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		t.Parallel()
		analyze, err := exec.LookPath("systemd-analyze")
		requireComponent(t, "systemd-analyze (Debian package systemd)", err)
		// verify checks that ExecStart's program exists: point it at the
		// binary just built.
		unit := writeFile(t, t.TempDir(), "wssd.service", strings.ReplaceAll(string(data), unitBinary, bin))
		out, err := runCombined(t, analyze, "verify", unit)
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		// Exposure 0.0 (locked down) to 10.0; 2.0 or less is "OK".
		out, err = runCombined(t, analyze, "security", "--offline=true", "--threshold=20", "--no-pager", unit)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Log(lines[len(lines)-1])
		if err != nil {
			t.Errorf("systemd-analyze security: exposure above 2.0: %v\n%s", err, out)
		}
	})

	cert, key, err := testpki.Get().WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for i, line := range strings.Split(string(data), "\n") {
		execStart, ok := strings.CutPrefix(line, "ExecStart=")
		if ok {
			active++
		} else if execStart, ok = strings.CutPrefix(line, "#ExecStart="); !ok {
			continue
		}
		t.Run(unitDeployment(execStart), func(t *testing.T) {
			t.Parallel()
			for _, r := range unitRewrites(cert, key) {
				execStart = strings.ReplaceAll(execStart, r.old, r.new)
			}
			argv := strings.Fields(execStart)
			if argv[0] != unitBinary || !strings.Contains(execStart, "-listen 127.0.0.1:0") {
				t.Fatalf("%s:%d: %s: want %s -listen with a placeholder of unitRewrites", unitFile, i+1, line, unitBinary)
			}
			argv[0] = bin
			runUnitCommand(t, argv)
		})
	}
	if active != 1 {
		t.Errorf("%s has %d active ExecStart lines, want 1", unitFile, active)
	}
}

// unitDeployment names the deployment of an ExecStart line by its flags:
// "ws-trusted-proxies" behind nginx or Apache, "ws-x-forwarded-for" behind
// a load balancer, "wss" with wssd's own TLS, and so on.
func unitDeployment(execStart string) string {
	name := "ws"
	if strings.Contains(execStart, "-tls-cert") {
		name = "wss"
	}
	switch {
	case strings.Contains(execStart, "-proxy-protocol"):
		name += "-proxy-protocol"
	case strings.Contains(execStart, "-real-ip-header X-Forwarded-For"):
		name += "-x-forwarded-for"
	case strings.Contains(execStart, "-trusted-proxies"):
		name += "-trusted-proxies"
	}
	return name
}

// buildWssd builds cmd/wssd as `make build` does and returns the binary.
func buildWssd(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	requireComponent(t, "the go command", err)
	bin := filepath.Join(t.TempDir(), "wssd")
	if _, err := runOutput(t, 2*time.Minute, "..", goCmd, "build", "-o", bin, "./cmd/wssd"); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runCombined runs argv for at most 30 s and returns its output, standard
// output and error together.
func runCombined(t *testing.T, argv ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return command(ctx, ".", argv...).CombinedOutput()
}

// runUnitCommand runs wssd with argv, waits until it listens, has a client
// from 127.0.0.1 echo a message through it (with a PROXY header and over
// TLS when the flags ask for them), stops it with SIGTERM and checks its
// log: the client's address as the flags say wssd must see it, and a clean
// stop.
func runUnitCommand(t *testing.T, argv []string) {
	t.Helper()
	args := strings.Join(argv[1:], " ")
	proxyProtocol := strings.Contains(args, "-proxy-protocol")
	wantIP, wantSource := "127.0.0.1", "peer"
	switch {
	case proxyProtocol:
		wantIP, wantSource = "203.0.113.7", "proxy-protocol"
	case strings.Contains(args, "-real-ip-header X-Forwarded-For"):
		// The X-Real-IP a client forged is never seen.
		wantIP, wantSource = "203.0.113.10", "x-forwarded-for"
	case strings.Contains(args, "-trusted-proxies"):
		wantIP, wantSource = "203.0.113.9", "x-real-ip"
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := command(ctx, ".", argv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The log, one JSON object a line, until wssd exits.
	var mu sync.Mutex
	var lines []string
	listening := make(chan string, 1)
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "wssd listening" {
				listening <- l.URL
			}
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	// stop ends wssd with SIGTERM, at the latest when the test ends.
	stop := sync.OnceValue(func() error {
		// wssd catches signals before it listens: SIGTERM right after the
		// "wssd listening" line must be a graceful shutdown.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-eof
		return cmd.Wait()
	})
	defer stop()
	var u *url.URL
	select {
	case s := <-listening:
		u, err = url.Parse(s)
	case <-eof:
		err = fmt.Errorf("exited: %v", stop())
	case <-time.After(15 * time.Second):
		err = fmt.Errorf("no \"wssd listening\" line after 15 s")
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}

	o := wstest.DialOptions{Path: "/wss", LocalIP: "127.0.0.1", Header: http.Header{
		"X-Real-Ip":       {"203.0.113.9"},
		"X-Forwarded-For": {"6.6.6.6, 203.0.113.10"},
	}}
	if u.Scheme == "wss" {
		o.TLS = clientTLS()
	}
	if proxyProtocol {
		server := netip.MustParseAddrPort(u.Host)
		o.PreHandshake = proxyHeaderV2(netip.MustParseAddrPort("203.0.113.7:40000"), server)
	}
	c, err := wstest.Dial(u.Host, o)
	if err == nil {
		err = echo(c, wsproto.OpText, []byte("hello"))
		c.Close()
	}
	if err != nil {
		t.Errorf("%s: %v", u, err)
	}
	if err := stop(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	mu.Lock()
	log := strings.Join(lines, "\n")
	mu.Unlock()
	want := fmt.Sprintf(`"msg":"ws open","client_ip":%q,"client_ip_source":%q`, wantIP, wantSource)
	if !strings.Contains(log, want) {
		t.Errorf("no log line contains %s; the log:\n%s", want, log)
	}
	if !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("wssd did not log that it stopped; the log:\n%s", log)
	}
}
