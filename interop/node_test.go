package interop

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// nodeDir holds the Node client, its package.json and package-lock.json.
const nodeDir = "node"

func TestNode(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		runScript(t, startServer(t, tr), nodeDir, node, "client.mjs")
	})
}

// requireNode returns the path of node, once the npm packages of
// interop/node are installed; without either the test is skipped, or fails
// in CI.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	requireComponent(t, "Node.js (node)", err)
	requireComponent(t, "the npm packages of interop/node", installNodeModules(t))
	return node
}

var nodeModules struct {
	sync.Mutex
	done bool
}

// installNodeModules runs npm ci in nodeDir unless node_modules already
// holds every package package.json depends on at the version
// package-lock.json pins. It runs npm once per test binary, whichever test
// asks first.
func installNodeModules(t *testing.T) error {
	nodeModules.Lock()
	defer nodeModules.Unlock()
	if nodeModules.done {
		return nil
	}
	stale, err := staleNodeModules()
	if err != nil {
		return err
	}
	if len(stale) == 0 {
		nodeModules.done = true
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return err
	}
	t.Logf("installing %v: npm ci in interop/%s", stale, nodeDir)
	if _, err := runOutput(t, 3*time.Minute, nodeDir, npm, "ci", "--no-audit", "--no-fund"); err != nil {
		return err
	}
	if stale, err = staleNodeModules(); err != nil {
		return err
	}
	if len(stale) > 0 {
		return fmt.Errorf("npm ci left %v unlike package-lock.json", stale)
	}
	nodeModules.done = true
	return nil
}

// staleNodeModules returns the dependencies of package.json that
// node_modules lacks or holds at another version than package-lock.json
// pins, as "name@version" (the pinned version).
func staleNodeModules() ([]string, error) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSON(filepath.Join(nodeDir, "package.json"), &pkg); err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := readJSON(filepath.Join(nodeDir, "package-lock.json"), &lock); err != nil {
		return nil, err
	}
	var stale []string
	for _, name := range slices.Sorted(maps.Keys(pkg.Dependencies)) {
		locked := lock.Packages["node_modules/"+name].Version
		if locked == "" {
			return nil, fmt.Errorf("package-lock.json pins no version of %s", name)
		}
		var installed struct {
			Version string `json:"version"`
		}
		err := readJSON(filepath.Join(nodeDir, "node_modules", name, "package.json"), &installed)
		if err != nil || installed.Version != locked {
			stale = append(stale, name+"@"+locked)
		}
	}
	return stale, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
