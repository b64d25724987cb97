package interop

import (
	"path/filepath"
	"testing"
	"time"
)

// python is Debian's interpreter, which sees Debian's python3-websockets; the
// python3 first on PATH may be another one that does not.
const python = "/usr/bin/python3"

func TestPython(t *testing.T) {
	t.Parallel()
	_, err := runOutput(t, 30*time.Second, ".", python, "-c", "import websockets")
	requireComponent(t, "Python's websockets for "+python+" (Debian package python3-websockets)", err)
	script, err := filepath.Abs(filepath.Join("testdata", "client.py"))
	if err != nil {
		t.Fatal(err)
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		runScript(t, startServer(t, tr), ".", python, script)
	})
}
