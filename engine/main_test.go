package engine_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	bufpool.SetPoison(true) // payloads kept past their callback read garbage
	leakcheck.Main(m, 10*time.Second)
}
