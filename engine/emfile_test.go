package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// emfileChildEnv, set to a transport's name, makes the test binary run
// emfileChild instead of the tests: the open-file limit is per process.
const emfileChildEnv = "WSSD_TEST_EMFILE_CHILD"

// emfileCertEnv names the directory where the parent wrote its testpki
// certificate and key, for a wss child.
const emfileCertEnv = "WSSD_TEST_EMFILE_CERT"

// Settings of the child: its open-file limit, and how many descriptors it
// leaves free after Start by opening files, as a program that embeds the
// server may.
const (
	emfileLimit = 256
	emfileFree  = 8
)

// emfileChild serves echo under a low open-file limit, then uses up all
// but emfileFree descriptors. It reads commands on stdin ("release" closes
// those files, "stop" shuts down) and answers on stdout; stderr is the
// server's log. If the server stops by itself, it says so and exits 3.
func emfileChild(transport string) int {
	lim := syscall.Rlimit{Cur: emfileLimit, Max: emfileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 2
	}
	cfg := engine.Config{EventLoops: 2, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if transport == "wss" {
		// The parent's PKI: testpki's is generated per process.
		cfg.TLS = testpki.Get().ServerConfig()
		dir := os.Getenv(emfileCertEnv)
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		if err != nil {
			fmt.Println("certificate:", err)
			return 2
		}
		cfg.TLS.Certificates = []tls.Certificate{cert}
	}
	srv, err := engine.New(cfg, echo{})
	if err == nil {
		err = srv.Start("127.0.0.1:0")
	}
	if err != nil {
		fmt.Println("start:", err)
		return 2
	}
	var stopping atomic.Bool
	go func() {
		err := srv.Wait()
		if !stopping.Load() {
			fmt.Println("stopped by itself:", err)
			os.Exit(3)
		}
	}()
	var hog []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		hog = append(hog, f)
	}
	for _, f := range hog[len(hog)-emfileFree:] {
		f.Close()
	}
	hog = hog[:len(hog)-emfileFree]
	fmt.Println("addr", srv.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "idle":
			// CPU time over half a second of waiting, in milliseconds.
			before := cpuTime()
			time.Sleep(500 * time.Millisecond)
			fmt.Println("idle", (cpuTime() - before).Milliseconds())
		case "release":
			for _, f := range hog {
				f.Close()
			}
			fmt.Println("released")
		case "stop":
			stopping.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			fmt.Println("shut down:", err)
			return 0
		}
	}
	return 1
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAcceptRealEMFILE is the regression test for a server that ran out of
// file descriptors and stopped: in a process whose open-file limit is
// nearly used up by files opened after Start, the server must refuse the
// connections it has no descriptor for, keep serving the others, and serve
// new ones once descriptors are free again.
func TestAcceptRealEMFILE(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		dir := t.TempDir()
		if _, _, err := testpki.Get().WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), emfileChildEnv+"="+tr.Name, emfileCertEnv+"="+dir)
		logs := &logtest.Buffer{}
		cmd.Stderr = logs
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		lines := make(chan string, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		next := func(prefix string) string {
			t.Helper()
			select {
			case l, ok := <-lines:
				if !ok || !strings.HasPrefix(l, prefix) {
					t.Fatalf("child said %q (closed: %v), want %q; its log:\n%s", l, !ok, prefix, logs.String())
				}
				return strings.TrimPrefix(l, prefix)
			case <-time.After(20 * time.Second):
				t.Fatalf("child did not say %q; its log:\n%s", prefix, logs.String())
			}
			return ""
		}
		srv := &testServer{t: t, tr: tr, addr: next("addr "), logs: logs}

		var served []*wstest.Client
		refused := 0
		for range 3 * emfileFree {
			c, err := srv.tryDial(t, wstest.DialOptions{})
			if err != nil {
				refused++
				continue
			}
			served = append(served, c)
		}
		if len(served) == 0 || refused == 0 {
			t.Fatalf("%d served, %d refused: want both with %d descriptors free; log:\n%s", len(served), refused, emfileFree, logs.String())
		}
		srv.waitLog(`msg="connections refused: out of file descriptors"`)
		for i, c := range served {
			expectEchoOf(t, c, wsproto.OpText, fmt.Sprint("served ", i))
		}

		// Out of descriptors with no client coming, the acceptor waits: it
		// spun once, a core's worth.
		if _, err := io.WriteString(stdin, "idle\n"); err != nil {
			t.Fatal(err)
		}
		if ms, _ := strconv.Atoi(next("idle ")); ms > 250 {
			t.Errorf("out of descriptors and idle, the server used %d ms of CPU in 500 ms", ms)
		}

		if _, err := io.WriteString(stdin, "release\n"); err != nil {
			t.Fatal(err)
		}
		next("released")
		for i := range 2 * emfileFree {
			c, err := srv.tryDial(t, wstest.DialOptions{})
			if err != nil {
				t.Fatalf("after release, client %d: %v; log:\n%s", i, err, logs.String())
			}
			expectEchoOf(t, c, wsproto.OpText, fmt.Sprint("after ", i))
			c.Close()
		}
		for i, c := range served {
			expectEchoOf(t, c, wsproto.OpText, fmt.Sprint("still ", i))
			c.Close()
		}

		if _, err := io.WriteString(stdin, "stop\n"); err != nil {
			t.Fatal(err)
		}
		if got := next("shut down: "); got != "<nil>" {
			t.Fatalf("Shutdown: %s", got)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v; log:\n%s", err, logs.String())
		}
	})
}
