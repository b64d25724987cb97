package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/leakcheck"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }

// TestREADME: the README's library example is this program, byte for byte,
// so that what readers copy compiles and runs.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	block := "```go\n" + string(src) + "```\n"
	if strings.Contains(string(readme), block) {
		return
	}
	// Say where the README's copy departs from the program.
	_, after, ok := strings.Cut(string(readme), "```go\n"+firstLine(string(src)))
	if !ok {
		t.Fatal("README.md has no ```go block that starts like examples/greeter/main.go: copy the file in whole")
	}
	got := strings.Split("```go\n"+firstLine(string(src))+after, "\n")
	for i, want := range strings.Split(block, "\n") {
		if i >= len(got) || got[i] != want {
			t.Fatalf("README.md's copy of examples/greeter/main.go differs at line %d of the block:\n got: %q\nwant: %q", i, at(got, i), want)
		}
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l + "\n" }

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of README)"
}

// TestGreeter builds the example and runs it as the README says, over ws
// and wss: it greets a named user, refuses an anonymous one with 401, stays
// up until SIGTERM, and then closes with 1001 and exits cleanly.
func TestGreeter(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "greeter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		args := []string{"-listen", "127.0.0.1:0"}
		var o wstest.DialOptions
		if tr.TLS {
			cert, key, err := testpki.Get().WriteFiles(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, "-cert", cert, "-key", key)
			o.TLS = testpki.Get().ClientConfig()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		next := func(prefix string) string {
			t.Helper()
			for l := range lines {
				if _, rest, ok := strings.Cut(l, prefix); ok {
					return rest
				}
			}
			t.Fatalf("the greeter exited without logging %q", prefix)
			return ""
		}
		addr := next("listening on ")

		if _, err := wstest.Dial(addr, withPath(o, "/wss")); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "who are you?") {
			t.Fatalf("anonymous: %v, want 401 who are you?", err)
		}
		c, err := wstest.Dial(addr, withPath(o, "/wss?user=tom"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Write(wstest.Message(wsproto.OpText, []byte("hi"))); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(5 * time.Second); err != nil || string(got) != `hello tom, you said "hi"` {
			t.Fatalf("got %q, %v", got, err)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, _, err := c.ReadClose(5 * time.Second); err != nil || code != wsproto.CloseGoingAway {
			t.Fatalf("on SIGTERM: close %v, %v; want 1001", code, err)
		}
		_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
		next("stopped")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	})
}

func withPath(o wstest.DialOptions, path string) wstest.DialOptions {
	o.Path = path
	return o
}
