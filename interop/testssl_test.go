package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testsslTimeout bounds one testssl.sh run; the checks below take about
// 30 s against a local server.
const testsslTimeout = 3 * time.Minute

// testsslFinding is one entry of testssl.sh's --jsonfile output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestTestSSL runs testssl.sh's protocol, cipher-per-protocol and
// vulnerability checks against the wssd binary serving wss on its default
// TLS settings with a generated certificate: no CBC suite may be offered
// (deploy/nginx offers none), and no check may find the server vulnerable
// or potentially vulnerable (LUCKY13 flags CBC suites).
func TestTestSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("testssl"); err != nil && os.Getenv("CI") != "true" {
		// A skipped scan is easy to miss in go test's output: say it on
		// stderr too.
		fmt.Fprintln(os.Stderr, "interop: SKIPPING TestTestSSL: testssl.sh is not installed (bash interop/setup.sh installs the Debian package testssl.sh)")
	}
	testssl := requireProgram(t, "testssl", "testssl.sh (Debian package testssl.sh)", "--version")

	addr := startWssd(t, "-tls-dev", t.TempDir())
	jsonFile := filepath.Join(t.TempDir(), "testssl.json")
	ctx, cancel := context.WithTimeout(t.Context(), testsslTimeout)
	defer cancel()
	cmd := command(ctx, t.TempDir(), testssl,
		"--quiet", "--color", "0", "--warnings", "batch",
		"--nodns", "none", "--connect-timeout", "10", "--openssl-timeout", "10",
		"--protocols", "--cipher-per-proto", "--vulnerable",
		"--jsonfile", jsonFile,
		addr)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("testssl.sh still running after %v:\n%s", testsslTimeout, out)
	}
	if err != nil {
		t.Logf("testssl.sh: %v", err) // it may exit non-zero for findings; the JSON decides
	}
	data, rerr := os.ReadFile(jsonFile)
	var findings []testsslFinding
	if rerr == nil {
		rerr = json.Unmarshal(data, &findings)
	}
	if rerr != nil {
		t.Fatalf("no JSON findings from testssl.sh: %v\n%s", rerr, out)
	}
	seen := map[string]bool{}
	for _, f := range findings {
		seen[f.ID] = true
		lower := strings.ToLower(f.Finding)
		switch {
		case f.Severity == "FATAL":
			t.Errorf("testssl.sh could not run a check: %s: %s", f.ID, f.Finding)
		case strings.HasPrefix(f.ID, "cipher-") && strings.Contains(f.Finding, "_CBC_"):
			t.Errorf("CBC suite offered: %s", f.Finding)
		case strings.Contains(lower, "vulnerable") && !strings.Contains(lower, "not vulnerable"):
			t.Errorf("%s (%s): %s", f.ID, f.Severity, f.Finding)
		case f.Severity == "LOW" || f.Severity == "MEDIUM" || f.Severity == "HIGH" || f.Severity == "CRITICAL":
			t.Errorf("%s rated %s: %s", f.ID, f.Severity, f.Finding)
		}
	}
	// A scan that silently skipped its checks proves nothing.
	for _, id := range []string{"TLS1_2", "TLS1_3", "LUCKY13", "BEAST", "SWEET32", "ROBOT", "cipher-tls1_3_x1301"} {
		if !seen[id] {
			t.Errorf("testssl.sh reported nothing for %s", id)
		}
	}
	if t.Failed() {
		t.Logf("testssl.sh output:\n%s", out)
	}
}
