package soak_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/bench/soak"
	"github.com/wssd/wssd/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, 5*time.Second) }

func wssdBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wssd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/wssd")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wssd: %v\n%s", err, out)
	}
	return bin
}

// smoke is a run of a few connections for a few seconds.
func smoke(t *testing.T, bin string, tls bool, hostile map[string]soak.Limit) soak.Config {
	return soak.Config{
		WSSD: bin, Dir: t.TempDir(), TLS: tls, Conns: 40, Duration: 3 * time.Second, Settle: 500 * time.Millisecond,
		SampleEvery: time.Second, EchoEvery: time.Second, ChurnPerMinute: 120,
		PingInterval: 300 * time.Millisecond, Hold: time.Second, Pings: 640, GCWait: time.Second,
		Hostile: hostile,
	}
}

// TestSmoke runs the soak driver for a few seconds: with honest clients
// alone over ws it must pass; with every hostile kind over wss it must
// complete, sample, and start every kind (whether today's engine passes
// is what `make soak` is for).
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wssd")
	}
	bin := wssdBinary(t)
	t.Run("honest ws", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		res, err := soak.Run(context.Background(), smoke(t, bin, false, map[string]soak.Limit{}), &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		res.Report(&out)
		t.Log(out.String())
		if f := res.Failed(); len(f) > 0 {
			t.Fatalf("an honest soak failed: %s", strings.Join(f, "; "))
		}
		if len(res.Samples) < 2 || res.Final.Honest.Received == 0 || res.Final.Honest.Churned == 0 || res.Final.Honest.Pongs == 0 {
			t.Fatalf("the run did too little: %d samples, final %v", len(res.Samples), res.Final)
		}
	})
	t.Run("hostile wss", func(t *testing.T) {
		t.Parallel()
		limits := map[string]soak.Limit{}
		for _, k := range soak.Kinds {
			limits[k.Name] = soak.Limit{Count: 3, Rate: 20, InFlight: 3}
		}
		var out bytes.Buffer
		res, err := soak.Run(context.Background(), smoke(t, bin, true, limits), &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		res.Report(&out)
		t.Log(out.String())
		for _, k := range soak.Kinds {
			if s := res.Hostile[k.Name]; !strings.HasPrefix(s, "3 started: ") {
				t.Errorf("%s: %q, want 3 started", k.Name, s)
			}
		}
		if len(res.Samples) < 2 || res.Final.Honest.Received == 0 {
			t.Fatalf("the run did too little: %d samples, final %v", len(res.Samples), res.Final)
		}
	})
}
