package engine_test

import (
	"bytes"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

func TestEchoSmoke(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		c := srv.dial(t, wstest.DialOptions{Path: "/chat"})
		for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
			p := bytes.Repeat([]byte{'x'}, size)
			if err := c.Write(wstest.Message(wsproto.OpBinary, p)); err != nil {
				t.Fatal(err)
			}
			op, got, err := c.ReadMessage(0)
			if err != nil || op != wsproto.OpBinary || !bytes.Equal(got, p) {
				t.Fatalf("size %d: op %v len %d err %v", size, op, len(got), err)
			}
		}
	})
}
