package pushtest_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }
