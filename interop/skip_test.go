package interop

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingComponentsAreLoud runs this test binary again with a PATH
// on which Node.js and openssl cannot be found. Without CI their tests are
// skipped, and each skip says so on standard error at once, and a summary
// at the end names every missing component; with CI=true the run fails.
func TestMissingComponentsAreLoud(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	emptyPath := t.TempDir() // a directory without programs
	cases := []struct {
		name   string
		ci     string
		failed bool
		want   []string
	}{
		{name: "outside CI", ci: "", want: []string{
			"interop: SKIP TestNode: Node.js (node) is not available",
			"interop: SKIP TestOpenSSL: openssl (Debian package openssl) is not available",
			"interop: 2 test(s) SKIPPED, 2 component(s) missing; these clients were NOT tested",
			"  - Node.js (node) (",
			"    skipped: TestNode\n",
			"Run bash interop/setup.sh",
		}},
		{name: "in CI", ci: "true", failed: true, want: []string{
			"with CI=true this fails instead of skipping",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, "-test.run", "^(TestNode|TestOpenSSL)$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PATH="+emptyPath, "CI="+tc.ci)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if failed := err != nil; failed != tc.failed {
				t.Fatalf("run failed: %v, want failed=%v\n%s", err, tc.failed, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
