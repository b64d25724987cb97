package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptTimeout bounds one run of a client script, all its checks together.
const scriptTimeout = 60 * time.Second

// requireComponent skips the test when a client it needs is missing (err is
// why), or fails it when CI=true: CI never skips a real-component test. A
// skip is loud: a line on standard error at once, and a summary of every
// missing component when the run ends (reportSkips).
func requireComponent(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not available: %v (interop/setup.sh installs it)", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; with CI=true this fails instead of skipping")
	}
	missing.note(os.Stderr, t.Name(), what, err)
	t.Skip(msg)
}

// missing records the components whose absence skipped tests in this run.
var missing skips

// skips lists skipped tests by missing component.
type skips struct {
	mu     sync.Mutex
	tests  map[string][]string // component → the tests it skipped
	reason map[string]string   // component → the first error about it
}

// note records that test was skipped for lack of what (err says why) and
// says so on w.
func (s *skips) note(w io.Writer, test, what string, err error) {
	fmt.Fprintf(w, "interop: SKIP %s: %s is not available: %v (interop/setup.sh installs it)\n", test, what, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tests == nil {
		s.tests, s.reason = map[string][]string{}, map[string]string{}
	}
	if _, ok := s.reason[what]; !ok {
		s.reason[what] = err.Error()
	}
	s.tests[what] = append(s.tests[what], test)
}

// report writes the summary of the skips to w, nothing if there were none.
func (s *skips) report(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tests) == 0 {
		return
	}
	n := 0
	for _, tests := range s.tests {
		n += len(tests)
	}
	fmt.Fprintf(w, "\ninterop: %d test(s) SKIPPED, %d component(s) missing; these clients were NOT tested\n", n, len(s.tests))
	for _, what := range slices.Sorted(maps.Keys(s.tests)) {
		fmt.Fprintf(w, "  - %s (%s)\n    skipped: %s\n", what, s.reason[what], strings.Join(s.tests[what], ", "))
	}
	fmt.Fprintf(w, "Run bash interop/setup.sh to install them; with CI=true these tests fail instead.\n\n")
}

// requireProgram finds the program name on PATH and runs it with
// versionArgs, so that a broken install counts as missing; it logs the
// version and returns the program's path. what names it for the message.
func requireProgram(t *testing.T, name, what string, versionArgs ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	requireComponent(t, what, err)
	out, err := runOutput(t, 30*time.Second, ".", append([]string{path}, versionArgs...)...)
	requireComponent(t, "a working "+name, err)
	t.Log(strings.TrimSpace(string(out)))
	return path
}

// command returns cmd that runs argv in dir in its own process group, which
// is killed when ctx is done, so that no child outlives the test.
func command(ctx context.Context, dir string, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // then Wait stops waiting for the pipes
	return cmd
}

// runOutput runs argv in dir, bounded by timeout and by the test's life, and
// returns its standard output; the error includes its standard error.
func runOutput(t *testing.T, timeout time.Duration, dir string, argv ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := command(ctx, dir, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %v)", err, timeout)
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// scriptReport is the JSON line a client script prints.
type scriptReport struct {
	Client  string         `json:"client"`
	Version string         `json:"version"`
	Results []scriptResult `json:"results"`
}

// scriptResult is the outcome of one check of a client script.
type scriptResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// runScript runs a client script against srv, its checks connecting under
// the test's own path, and then checks, each as a subtest, that the script
// passed it and that the server saw its connection end as it should. Over
// TLS the script trusts the certificate in the file its --cafile names.
func runScript(t *testing.T, srv *testServer, dir string, argv ...string) {
	t.Helper()
	if srv.tr.TLS {
		argv = append(argv, "--cafile", caFile(t))
	}
	argv = append(argv, srv.url("/"+t.Name()))
	out, runErr := runOutput(t, scriptTimeout, dir, argv...)
	var rep scriptReport
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("no JSON report on the script's last line: %v\n%v", err, runErr)
	}
	if runErr != nil {
		// Failed checks have their own subtests below; this is the whole
		// story, and an error of its own if every check passed.
		t.Log(runErr)
		if !slices.ContainsFunc(rep.Results, func(r scriptResult) bool { return !r.OK }) {
			t.Errorf("the script failed although every check passed: %v", runErr)
		}
	}
	t.Logf("%s %s", rep.Client, rep.Version)
	got := map[string]int{}
	for i, r := range rep.Results {
		got[r.Name] = i
	}
	for _, c := range scriptChecks {
		t.Run(c.name, func(t *testing.T) {
			i, ok := got[c.name]
			if !ok {
				t.Fatalf("the script did not run check %s", c.name)
			}
			delete(got, c.name)
			if r := rep.Results[i]; !r.OK {
				t.Errorf("client: %s", r.Error)
			}
			if c.byServer {
				srv.wantServerClosed(t, "/"+t.Name())
			} else {
				srv.wantClosed(t, "/"+t.Name(), c.code, c.reason)
			}
		})
	}
	for name := range got {
		t.Errorf("the script ran check %s, which scriptChecks does not list", name)
	}
}
