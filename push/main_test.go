package push_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	bufpool.SetPoison(true) // a frame kept past its callback reads garbage
	leakcheck.Main(m, 10*time.Second)
}
