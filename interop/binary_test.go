package interop

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// wssdBinary builds the wssd binary once per test run, into a directory
// that TestMain removes.
var wssdBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wssd-interop-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "wssd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// In the root module: interop's go.sum lacks what only the binary imports.
	cmd := command(ctx, "..", "go", "build", "-o", bin, "./cmd/wssd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building wssd: %w\n%s", err, out)
	}
	return bin, nil
})

// binDir is where wssdBinary built the binary, if it did.
var binDir string

// wssdLog is one JSON log line of the binary, by field.
type wssdLog map[string]any

// str returns the string field key of the line, or "".
func (l wssdLog) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// startWssd starts the wssd binary with args on a free loopback port, stops
// it when the test ends, and returns its host:port (on 127.0.0.1).
func startWssd(t *testing.T, args ...string) string {
	t.Helper()
	lines := runWssd(t, []string{"wssd listening"}, args...)
	u, err := url.Parse(lines["wssd listening"].str("url"))
	if err != nil {
		t.Fatalf("wssd listening on %q: %v", lines["wssd listening"].str("url"), err)
	}
	return "127.0.0.1:" + u.Port()
}

// devAppLine is the message of the log line in which wssd announces its
// generated development app and the demo's URL.
const devAppLine = "development app (for development only: its demo signs anyone in)"

// startDevWssd starts the wssd binary as make run does, with a generated
// development app and, over wss, a development certificate, and returns
// the demo page's URL (http://… or https://…, ending in /) and, over wss,
// the SPKI hash of its certificate for Chromium.
func startDevWssd(t *testing.T, tr transport) (demo string, spki []string) {
	t.Helper()
	args := []string{"-dev-app", filepath.Join(t.TempDir(), "app.json")}
	tlsDir := t.TempDir()
	if tr.TLS {
		args = append(args, "-tls-dev", tlsDir)
	}
	logs := runWssd(t, []string{"wssd listening", devAppLine}, args...)
	demo = logs[devAppLine].str("demo")
	if want := map[bool]string{false: "http://", true: "https://"}[tr.TLS]; !strings.HasPrefix(demo, want) || !strings.HasSuffix(demo, "/") {
		t.Fatalf("the development app line's demo URL is %q, want %s…/", demo, want)
	}
	if tr.TLS {
		spki = append(spki, spkiHashOfFile(t, filepath.Join(tlsDir, "cert.pem")))
	}
	return demo, spki
}

// runWssd starts the wssd binary with "-listen 127.0.0.1:0 -log-format
// json" and args, stops it when the test ends, and returns the first log
// line with each message of want, once it has logged them all.
func runWssd(t *testing.T, want []string, args ...string) map[string]wssdLog {
	t.Helper()
	r := launchWssd(t, args...)
	got := map[string]wssdLog{}
	for _, msg := range want {
		from := 0
		got[msg] = r.next(t, &from, time.Minute, msg, nil)
	}
	return got
}

// wssdRun is a wssd binary started by launchWssd, with the JSON lines it
// has logged so far. Its methods may be called from several goroutines.
type wssdRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []wssdLog
	more chan struct{} // closed, and replaced, when a line comes or the log ends
	done bool          // the log has ended
}

// launchWssd starts the wssd binary with "-listen 127.0.0.1:0
// -metrics-listen 127.0.0.1:0 -log-format json" and args (later flags
// win), keeps its log, and kills it (and, through the supervisor, its
// workers) when the test ends.
func launchWssd(t *testing.T, args ...string) *wssdRun {
	t.Helper()
	bin, err := wssdBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := command(ctx, ".", append([]string{bin, "-listen", "127.0.0.1:0", "-metrics-listen", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &wssdRun{cmd: cmd, more: make(chan struct{})}
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var line wssdLog
			if json.Unmarshal(lines.Bytes(), &line) == nil {
				r.add(line, false)
			}
		}
		r.add(nil, true)
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return r
}

func (r *wssdRun) add(line wssdLog, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if line != nil {
		r.logs = append(r.logs, line)
	}
	r.done = r.done || done
	close(r.more)
	r.more = make(chan struct{})
}

// next returns the first line at or after index *from of the log whose
// message is msg and for which match, if not nil, holds, and sets *from
// just after it. It fails the test if wssd ends its log or timeout passes
// first.
func (r *wssdRun) next(t *testing.T, from *int, timeout time.Duration, msg string, match func(wssdLog) bool) wssdLog {
	t.Helper()
	l, err := r.wait(from, timeout, msg, match)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wait is next for goroutines other than the test's: it returns an error
// instead of failing the test.
func (r *wssdRun) wait(from *int, timeout time.Duration, msg string, match func(wssdLog) bool) (wssdLog, error) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		logs, done, more := r.logs, r.done, r.more
		r.mu.Unlock()
		for ; *from < len(logs); *from++ {
			if l := logs[*from]; l.str("msg") == msg && (match == nil || match(l)) {
				*from++
				return l, nil
			}
		}
		if done {
			return nil, fmt.Errorf("wssd ended its log before logging %q", msg)
		}
		select {
		case <-more:
		case <-deadline:
			return nil, fmt.Errorf("wssd did not log %q within %v", msg, timeout)
		}
	}
}

// spkiHashOfFile returns the base64 SHA-256 of the public key of the first
// certificate in the PEM file, as Chromium's
// --ignore-certificate-errors-spki-list takes it.
func spkiHashOfFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return spkiHash(cert)
}

// spkiHash returns the base64 SHA-256 of cert's public key.
func spkiHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
