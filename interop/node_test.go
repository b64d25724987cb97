package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// nodeDir holds the Node client, its package.json and package-lock.json.
const nodeDir = "node"

func TestNode(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	requireComponent(t, "Node.js (node)", err)
	requireComponent(t, "the ws package in interop/node", installNodeModules(t))
	forEachTransport(t, func(t *testing.T, tr transport) {
		runScript(t, startServer(t, tr), nodeDir, node, "client.mjs")
	})
}

var nodeModules struct {
	sync.Mutex
	done bool
}

// installNodeModules runs npm ci in nodeDir unless node_modules already
// holds the ws version package-lock.json pins. It runs npm once per test
// binary, whichever test asks first.
func installNodeModules(t *testing.T) error {
	nodeModules.Lock()
	defer nodeModules.Unlock()
	if nodeModules.done {
		return nil
	}
	locked, err := lockedWSVersion()
	if err != nil {
		return err
	}
	if installed, err := installedWSVersion(); err == nil && installed == locked {
		nodeModules.done = true
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return err
	}
	t.Logf("installing ws %s: npm ci in interop/%s", locked, nodeDir)
	if _, err := runOutput(t, 3*time.Minute, nodeDir, npm, "ci", "--no-audit", "--no-fund"); err != nil {
		return err
	}
	installed, err := installedWSVersion()
	if err != nil {
		return err
	}
	if installed != locked {
		return fmt.Errorf("npm ci installed ws %s, package-lock.json pins %s", installed, locked)
	}
	nodeModules.done = true
	return nil
}

// lockedWSVersion returns the ws version package-lock.json pins.
func lockedWSVersion() (string, error) {
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := readJSON(filepath.Join(nodeDir, "package-lock.json"), &lock); err != nil {
		return "", err
	}
	v := lock.Packages["node_modules/ws"].Version
	if v == "" {
		return "", errors.New("package-lock.json pins no ws version")
	}
	return v, nil
}

// installedWSVersion returns the version of ws in node_modules.
func installedWSVersion() (string, error) {
	var pkg struct {
		Version string `json:"version"`
	}
	err := readJSON(filepath.Join(nodeDir, "node_modules", "ws", "package.json"), &pkg)
	return pkg.Version, err
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
