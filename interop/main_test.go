package interop

import (
	"os"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	// The engine poisons its released buffers: a payload it kept past its
	// release reaches a client as 0xDB bytes and fails an echo check.
	bufpool.SetPoison(true)
	code := leakcheck.Run(m, 10*time.Second)
	missing.report(os.Stderr)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
