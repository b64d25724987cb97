package engine_test

import (
	"os"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if tr := os.Getenv(emfileChildEnv); tr != "" {
		os.Exit(emfileChild(tr))
	}
	bufpool.SetPoison(true) // payloads kept past their callback read garbage
	leakcheck.Main(m, 10*time.Second)
}
