package wsproto_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	bufpool.SetPoison(true) // released buffers are overwritten: misuse shows
	leakcheck.Main(m, time.Second)
}
