package metrics_test

import (
	"testing"
	"time"

	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, 5*time.Second) }
