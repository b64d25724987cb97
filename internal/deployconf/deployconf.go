// Package deployconf reads the configuration files of the repository's
// deploy/ directory for the programs that run them as shipped: the interop
// tests (nginx, Apache, HAProxy in front of wssd) and the benchmark (nginx
// terminating TLS). Each file documents its placeholders; Rewrite replaces
// them, and insists that each occurs exactly once outside comments, so that
// a file and its users cannot drift apart unnoticed.
package deployconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Subst is one substitution: Old, a placeholder the file documents, becomes
// New.
type Subst struct{ Old, New string }

// Rewrite returns text with each substitution applied to its configuration
// lines; lines whose first non-blank character is '#' are comments and are
// left alone. It fails if a placeholder does not occur exactly once outside
// comments.
func Rewrite(text string, subst ...Subst) (string, error) {
	lines := strings.Split(text, "\n")
	for _, s := range subst {
		n := 0
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "#") || !strings.Contains(l, s.Old) {
				continue
			}
			n += strings.Count(l, s.Old)
			lines[i] = strings.ReplaceAll(l, s.Old, s.New)
		}
		if n != 1 {
			return "", fmt.Errorf("deployconf: the placeholder %q occurs %d times outside comments, want once", s.Old, n)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// Dir returns the repository's deploy directory, looked for from the working
// directory upwards (tests run in their package's directory).
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		d := filepath.Join(dir, "deploy")
		if fi, err := os.Stat(filepath.Join(d, "systemd")); err == nil && fi.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("deployconf: no deploy directory above the working directory")
		}
		dir = parent
	}
}

// Load returns the file deploy/name with subst applied (see Rewrite).
func Load(name string, subst ...Subst) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	out, err := Rewrite(string(data), subst...)
	if err != nil {
		return "", fmt.Errorf("deploy/%s: %w", name, err)
	}
	return out, nil
}
