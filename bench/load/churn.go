package load

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Churn opens n connections, concurrency at a time, each closed as soon as
// it is complete, and stops early at d. A connection is complete when: its
// upgrade is answered (WebSocket, over TLS if asked); the upgrade request
// came back from the echo server (Raw); the server closed it after the TLS
// handshake (Handshake). The client closes with a reset, so that neither
// side keeps TIME_WAIT state.
func Churn(ctx context.Context, t *Target, n, concurrency int, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req := t.request()
	lat := newShards()
	var (
		next, done, failed atomic.Int64
		lastErr            atomic.Value
		wg                 sync.WaitGroup
	)
	ru0 := rusage()
	start := time.Now()
	for w := range max(1, min(concurrency, n)) {
		wg.Go(func() {
			echoed := make([]byte, len(req))
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
				c, _, _, err := t.dial(dctx, req)
				if err == nil && t.Proto == Raw {
					_ = c.SetDeadline(time.Now().Add(15 * time.Second))
					if _, err = c.Write(req); err == nil {
						_, err = io.ReadFull(c, echoed)
					}
				}
				dcancel()
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				lat.record(w, time.Since(t0))
				done.Add(1)
				reset(c)
			}
		})
	}
	wg.Wait()
	r := Result{Cmd: "churn", Conns: int(done.Load()), Failed: failed.Load(), Seconds: time.Since(start).Seconds(),
		Lat: EncodeHist(lat.merged())}
	r.addCPU(ru0)
	if e, ok := lastErr.Load().(string); ok {
		r.LastError = e
	}
	return r
}

// reset closes c with an RST.
func reset(c net.Conn) {
	type netConner interface{ NetConn() net.Conn }
	raw := c
	if nc, ok := c.(netConner); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}
