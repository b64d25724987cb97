package engine_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// BenchmarkEcho measures one connection's round trip: client write, server
// parse + echo, client read. Speed targets are read off `make bench`, which
// runs wssd beside its peers; this benchmark guards the hot path's cost and
// allocations between commits (compare with benchstat).
func BenchmarkEcho(b *testing.B) {
	noPoison(b)
	for _, tr := range transports {
		for _, size := range []int{64, 512, 4096, 65536} {
			b.Run(tr.Name+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				cfg, opts := engine.Config{EventLoops: 1, PingInterval: -1}, wstest.DialOptions{}
				if tr.TLS {
					cfg.TLS, opts.TLS = testpki.Get().ServerConfig(), testpki.Get().ClientConfig()
				}
				srv, err := engine.New(cfg, echo{})
				if err != nil {
					b.Fatal(err)
				}
				if err := srv.Start("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				defer srv.Shutdown(b.Context())
				c, err := wstest.Dial(srv.Addr().String(), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				out := wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{1}, size)).Bytes()
				in := make([]byte, wsproto.HeaderSize(size, false)+size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Conn.Write(out); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c.Conn, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEchoParallel runs many connections at once, one client goroutine
// each, against a server with one event loop per CPU.
func BenchmarkEchoParallel(b *testing.B) {
	noPoison(b)
	srv, err := engine.New(engine.Config{PingInterval: -1}, echo{})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(b.Context())
	out := wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{1}, 512)).Bytes()
	b.SetBytes(512)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		in := make([]byte, wsproto.HeaderSize(512, false)+512)
		for pb.Next() {
			if _, err := c.Conn.Write(out); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c.Conn, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// noPoison turns off the tests' poisoning of released buffers, which would
// otherwise dominate a benchmark of large messages.
func noPoison(b *testing.B) {
	bufpool.SetPoison(false)
	b.Cleanup(func() { bufpool.SetPoison(true) })
}

// BenchmarkAccept measures a connect storm: clients in parallel each open a
// TCP connection, upgrade it to ws and drop it. It is the cost of admitting
// a connection (accept, hand-over to an event loop, upgrade, close).
func BenchmarkAccept(b *testing.B) {
	srv, err := engine.New(engine.Config{PingInterval: -1}, engine.NopHandler{})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(b.Context())
	addr := srv.Addr().String()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := wstest.Dial(addr, wstest.DialOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			c.Close()
		}
	})
}
