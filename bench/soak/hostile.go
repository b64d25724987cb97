package soak

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/bench/load"
)

// Limit bounds one hostile kind: at most Count in the whole run, started at
// most Rate a second, at most InFlight at once. A zero Count or Rate turns
// the kind off.
type Limit struct {
	Count    int
	Rate     float64
	InFlight int
}

// Kind is one kind of hostile client.
type Kind struct {
	Name string
	// Doc says what the client does, for -help.
	Doc string
	// TLSOnly kinds make sense only against a TLS port.
	TLSOnly bool
	// Default is the kind's limit in a soak of ten minutes.
	Default Limit

	run func(ctx context.Context, e *hostileEnv, i int) string
}

// Kinds are the hostile clients a soak runs beside the honest ones.
var Kinds = []Kind{
	{Name: "reset", Doc: "send an upgrade request (every other one to a path not served) and reset at once with SO_LINGER 0",
		Default: Limit{Count: 12000, Rate: 20, InFlight: 32}, run: resetStorm},
	{Name: "pingflood", Doc: "upgrade, then send pings (125-byte payloads) without ever reading the pongs; reset after a pause",
		Default: Limit{Count: 60, Rate: 0.1, InFlight: 2}, run: pingFlood},
	{Name: "bigheader", Doc: "upgrade, then send a frame header announcing 1 MiB and one byte of it, then silence",
		Default: Limit{Count: 1200, Rate: 2, InFlight: 64}, run: bigHeader},
	{Name: "slowloris", Doc: "dribble the upgrade request a byte a second",
		Default: Limit{Count: 600, Rate: 1, InFlight: 32}, run: slowloris},
	{Name: "plainhttp", Doc: "send a plain HTTP request to the TLS port", TLSOnly: true,
		Default: Limit{Count: 1200, Rate: 2, InFlight: 16}, run: plainHTTP},
	{Name: "silenthello", Doc: "send a TLS ClientHello, then silence", TLSOnly: true,
		Default: Limit{Count: 1200, Rate: 2, InFlight: 64}, run: silentHello},
}

// hostileEnv is what the hostile clients share.
type hostileEnv struct {
	t       *load.Target // Path is the served path
	hello   []byte       // a ClientHello record
	hold    time.Duration
	pings   int // a ping flood's pings
	pause   time.Duration
	dribble time.Duration
}

// kindStats counts one kind's clients and how they ended.
type kindStats struct {
	started, inFlight atomic.Int64
	mu                sync.Mutex
	outcomes          map[string]int
}

func (s *kindStats) record(outcome string) {
	s.mu.Lock()
	if s.outcomes == nil {
		s.outcomes = map[string]int{}
	}
	s.outcomes[outcome]++
	s.mu.Unlock()
}

// summary is "N started: outcome ×n, …", the outcomes most frequent first.
func (s *kindStats) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Collect(maps.Keys(s.outcomes))
	slices.SortFunc(keys, func(a, b string) int {
		if d := s.outcomes[b] - s.outcomes[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, s.outcomes[k])
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d started", s.started.Load())
	}
	return fmt.Sprintf("%d started: %s", s.started.Load(), strings.Join(parts, ", "))
}

// hostile runs the hostile kinds.
type hostile struct {
	kinds []Kind
	stats []*kindStats
}

// startHostile starts every kind with a positive limit; they stop when ctx
// ends or their count is reached. wait waits for every client to finish.
func startHostile(ctx context.Context, e *hostileEnv, kinds []Kind, limits map[string]Limit) (h *hostile, wait func()) {
	h = &hostile{}
	var wg sync.WaitGroup
	for _, k := range kinds {
		lim := limits[k.Name]
		st := &kindStats{}
		h.kinds = append(h.kinds, k)
		h.stats = append(h.stats, st)
		if lim.Count <= 0 || lim.Rate <= 0 {
			continue
		}
		wg.Go(func() { runKind(ctx, e, k, lim, st) })
	}
	return h, wg.Wait
}

// runKind starts clients of kind k within lim until ctx ends.
func runKind(ctx context.Context, e *hostileEnv, k Kind, lim Limit, st *kindStats) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, max(1, lim.InFlight))
	tick := time.NewTicker(time.Duration(float64(time.Second) / lim.Rate))
	defer tick.Stop()
	for i := range lim.Count {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		st.started.Add(1)
		st.inFlight.Add(1)
		wg.Go(func() {
			defer func() {
				st.inFlight.Add(-1)
				<-sem
			}()
			outcome := k.run(ctx, e, i)
			if ctx.Err() != nil && strings.HasPrefix(outcome, "dial: ") {
				outcome = "dial cut short by the end of the run"
			}
			st.record(outcome)
		})
	}
}

// inFlight is the number of hostile clients running.
func (h *hostile) inFlight() int64 {
	var n int64
	for _, s := range h.stats {
		n += s.inFlight.Load()
	}
	return n
}

// errText shortens an error to its kind, so that outcomes group.
func errText(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case strings.Contains(err.Error(), "broken pipe"):
		return "broken pipe"
	}
	return err.Error()
}

// stopOnDone unblocks c's reads and writes when ctx ends.
func stopOnDone(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
}

// dialTLS opens a TCP connection and, if the target speaks TLS, completes a
// handshake on it.
func (e *hostileEnv) dialTLS(ctx context.Context) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tc, err := e.t.DialTCP(dctx)
	if err != nil || !e.t.TLS {
		return tc, err
	}
	tlc := tls.Client(tc, load.ClientTLS())
	if err := tlc.HandshakeContext(dctx); err != nil {
		load.Reset(tc)
		return nil, err
	}
	return tlc, nil
}

// upgraded opens a connection upgraded to the served path.
func (e *hostileEnv) upgraded(ctx context.Context) (*load.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return e.t.Dial(dctx)
}

// waitClosed reads and drops what c receives until the server closes it,
// e.hold passes or ctx ends, and says which, in steps of five seconds.
func (e *hostileEnv) waitClosed(ctx context.Context, c net.Conn) string {
	start := time.Now()
	defer stopOnDone(ctx, c)()
	_ = c.SetReadDeadline(start.Add(e.hold))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			switch {
			case ctx.Err() != nil:
				return "open at the end of the run"
			case errText(err) == "timeout":
				return fmt.Sprintf("still open after %v", e.hold)
			}
			return fmt.Sprintf("closed by the server (%s) within %v", errText(err), time.Since(start).Truncate(5*time.Second)+5*time.Second)
		}
	}
}

func resetStorm(ctx context.Context, e *hostileEnv, i int) string {
	c, err := e.dialTLS(ctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	path, what := e.t.Path, "served"
	if i%2 == 1 {
		path, what = "/not-served", "not served"
	}
	_, err = c.Write(load.UpgradeRequest(e.t.Addr.String(), path))
	load.Reset(c)
	if err != nil {
		return "write: " + errText(err)
	}
	return "reset after the request, path " + what
}

// pingBatch is 64 masked pings with 125-byte payloads.
var pingBatch = sync.OnceValue(func() []byte {
	var b []byte
	payload := bytes.Repeat([]byte("p"), 125)
	for range 64 {
		b = load.AppendFrame(b, load.OpPing, payload)
	}
	return b
})

func pingFlood(ctx context.Context, e *hostileEnv, _ int) string {
	c, err := e.upgraded(ctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	defer load.Reset(c.Conn)
	defer stopOnDone(ctx, c)()
	batch := pingBatch()
	outcome := fmt.Sprintf("sent all %d pings", e.pings)
	for sent := 0; sent < e.pings; sent += 64 {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(batch); err != nil {
			if ctx.Err() != nil {
				return "stopped by the end of the run"
			}
			// In steps of 10%, so that outcomes group.
			step := max(1, e.pings/10)
			outcome = fmt.Sprintf("writes failed (%s) after %d–%d pings", errText(err), sent/step*step, (sent/step+1)*step)
			break
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(e.pause):
	}
	return outcome
}

// bigHeaderFrame is a masked binary frame header announcing 1 MiB, and the
// first byte of the payload: 15 bytes.
var bigHeaderFrame = []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x37, 0xfa, 0x21, 0x3d, 'x'}

func bigHeader(ctx context.Context, e *hostileEnv, _ int) string {
	c, err := e.upgraded(ctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	defer load.Reset(c.Conn)
	if _, err := c.Write(bigHeaderFrame); err != nil {
		return "write: " + errText(err)
	}
	return e.waitClosed(ctx, c)
}

func slowloris(ctx context.Context, e *hostileEnv, _ int) string {
	c, err := e.dialTLS(ctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	defer load.Reset(c)
	defer stopOnDone(ctx, c)()
	req := load.UpgradeRequest(e.t.Addr.String(), e.t.Path)
	start := time.Now()
	for i := range req {
		if _, err := c.Write(req[i : i+1]); err != nil {
			if ctx.Err() != nil {
				return "open at the end of the run"
			}
			return fmt.Sprintf("closed by the server (%s) within %v", errText(err), time.Since(start).Truncate(5*time.Second)+5*time.Second)
		}
		select {
		case <-ctx.Done():
			return "open at the end of the run"
		case <-time.After(e.dribble):
		}
	}
	return "whole request sent, then " + e.waitClosed(ctx, c)
}

func plainHTTP(ctx context.Context, e *hostileEnv, _ int) string {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := e.t.DialTCP(dctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	defer load.Reset(c)
	defer stopOnDone(ctx, c)()
	if _, err := c.Write([]byte("GET " + e.t.Path + " HTTP/1.1\r\nHost: " + e.t.Addr.String() + "\r\n\r\n")); err != nil {
		return "write: " + errText(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(io.LimitReader(c, 512))
	line, _, _ := strings.Cut(string(resp), "\r\n")
	switch {
	case line != "":
		return "answered " + line
	case err != nil:
		return "no answer: " + errText(err)
	}
	return "closed without an answer"
}

// clientHello returns the first record a TLS client sends.
func clientHello() ([]byte, error) {
	var hc helloCatcher
	err := tls.Client(&hc, load.ClientTLS()).Handshake()
	if hc.buf.Len() == 0 {
		return nil, fmt.Errorf("soak: no ClientHello written: %v", err)
	}
	return hc.buf.Bytes(), nil
}

// helloCatcher is a net.Conn that keeps what is written and reads nothing.
type helloCatcher struct {
	net.Conn // nil: only Read, Write and Close are called
	buf      bytes.Buffer
}

func (h *helloCatcher) Write(p []byte) (int, error) { return h.buf.Write(p) }
func (h *helloCatcher) Read([]byte) (int, error)    { return 0, io.EOF }
func (h *helloCatcher) Close() error                { return nil }

func silentHello(ctx context.Context, e *hostileEnv, _ int) string {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := e.t.DialTCP(dctx)
	if err != nil {
		return "dial: " + errText(err)
	}
	defer load.Reset(c)
	if _, err := c.Write(e.hello); err != nil {
		return "write: " + errText(err)
	}
	return e.waitClosed(ctx, c)
}
