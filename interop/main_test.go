package interop

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	// The engine poisons its released buffers: a payload it kept past its
	// release reaches a client as 0xDB bytes and fails an echo check.
	bufpool.SetPoison(true)
	leakcheck.Main(m, 10*time.Second)
}
