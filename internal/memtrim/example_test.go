package memtrim_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/wssd/wssd/internal/memtrim"
)

// A server runs Run beside its listener for as long as it serves.
func ExampleRun() {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		memtrim.Run(ctx, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	}()
	// ... serve ...
	stop()
	<-done
	// Output:
}
