package engine_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// limitsSeed seeds the pseudo-random traffic of TestConformanceLimits and
// TestConformanceLimitsPacing, and the latter's write sizes: a failure
// replays with the same seed.
const limitsSeed = 6455

// TestConformanceLimits is after Autobahn sections 9.1-9.6: many small and
// large messages, whole or in many frames, sent back to back, all come back
// in order. Each case stays under 2 s with -race.
func TestConformanceLimits(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	bin := func(size int, fill byte) wstest.Frame {
		return wstest.Message(wsproto.OpBinary, bytes.Repeat([]byte{fill}, size))
	}
	var big []wstest.Frame
	for i := range 16 {
		big = append(big, bin(mib-1, byte(i)))
	}
	message := payloadOf(wsproto.OpBinary, mib)
	text := payloadOf(wsproto.OpText, mib)
	random := randomTraffic(limitsSeed)
	cases := []exchange{
		{name: "1000 64-byte messages back to back", send: numbered(1000, 64), want: echoOf(numbered(1000, 64)...)},
		{name: "16 messages of 1 MiB-1", send: big, want: echoOf(big...)},
		{name: "1 MiB binary in 64 KiB frames", send: fragments(wsproto.OpBinary, message, 64<<10), want: echoOf(wstest.Message(wsproto.OpBinary, message))},
		{name: "1 MiB text in 64 KiB frames", send: fragments(wsproto.OpText, text, 64<<10), want: echoOf(wstest.Message(wsproto.OpText, text))},
		{name: "1 MiB binary in 4 KiB frames", send: fragments(wsproto.OpBinary, message, 4<<10), want: echoOf(wstest.Message(wsproto.OpBinary, message))},
		{name: "1 MiB text in 256-byte frames", send: fragments(wsproto.OpText, text, 256), want: echoOf(wstest.Message(wsproto.OpText, text))},
		{name: "1 MiB binary in 64 KiB frames in 4 KiB writes", send: fragments(wsproto.OpBinary, message, 64<<10), chunk: 4 << 10, want: echoOf(wstest.Message(wsproto.OpBinary, message))},
		{name: "1 MiB text in 64 KiB frames in 1000-byte writes", send: fragments(wsproto.OpText, text, 64<<10), chunk: 1000, want: echoOf(wstest.Message(wsproto.OpText, text))},
		{name: "random traffic, seed " + strconv.Itoa(limitsSeed), send: random, want: echoOf(random...)},
	}
	// The client reads the replies while it writes, but a slow reader (under
	// -race, on a busy machine) can fall several 1 MiB replies behind; past
	// MaxQueuedBytes the echo's Send would be refused and the reply lost
	// (ErrBufferFull, see TestBackpressure). This test is about sizes, not
	// backpressure: the queue holds the whole 16 MiB.
	runExchanges(t, engine.Config{MaxQueuedBytes: 32 << 20}, cases)
}

// TestConformanceLimitsPacing is after Autobahn 9.7 and 9.5: a thousand
// request-reply round trips, and the random traffic of TestConformanceLimits
// cut at random points into TCP writes sent while the replies are read.
func TestConformanceLimitsPacing(t *testing.T) {
	t.Parallel()
	random := randomTraffic(limitsSeed)
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		t.Run("1000 round trips", func(t *testing.T) {
			t.Parallel()
			c := srv.dial(t, wstest.DialOptions{})
			for _, f := range numbered(1000, 16) {
				send(t, c, f.Bytes())
				expectMessage(t, c, f.Op, f.Payload)
			}
			closeCleanly(t, c)
		})
		t.Run("random traffic in random writes, seed "+strconv.Itoa(limitsSeed), func(t *testing.T) {
			t.Parallel()
			c := srv.dial(t, wstest.DialOptions{})
			b := encode(random...)
			r := rand.New(rand.NewPCG(limitsSeed, 2))
			wait := goWrite(t, c, func() error {
				for len(b) > 0 {
					n := min(1+r.IntN(3000), len(b))
					if _, err := c.Conn.Write(b[:n]); err != nil {
						return err
					}
					b = b[n:]
					if r.IntN(8) == 0 {
						time.Sleep(splitPause)
					}
				}
				return nil
			})
			for _, rep := range echoOf(random...) {
				expectMessage(t, c, rep.op, rep.payload)
			}
			wait()
			closeCleanly(t, c)
		})
	})
}

// numbered returns n text messages of size bytes, each starting with its
// number.
func numbered(n, size int) []wstest.Frame {
	out := make([]wstest.Frame, n)
	for i := range out {
		p := fmt.Appendf(nil, "%08d", i)
		out[i] = wstest.Message(wsproto.OpText, append(p, bytes.Repeat([]byte{'.'}, size-len(p))...))
	}
	return out
}

// randomTraffic returns a replayable mix of text and binary messages of 0
// to 8 KiB, many of them fragmented, with pings and pongs between and
// inside them.
func randomTraffic(seed uint64) []wstest.Frame {
	r := rand.New(rand.NewPCG(seed, 1))
	runes := []rune("aé€😀\U0010FFFF")
	var out []wstest.Frame
	control := func() {
		switch r.IntN(6) {
		case 0:
			out = append(out, wstest.Message(wsproto.OpPing, fmt.Appendf(nil, "ping %d", len(out))))
		case 1:
			out = append(out, wstest.Message(wsproto.OpPong, nil))
		}
	}
	for range 300 {
		size := r.IntN(8 << 10)
		op := wsproto.OpBinary
		var p []byte
		if r.IntN(2) == 0 {
			op = wsproto.OpText
			for len(p) < size {
				p = utf8.AppendRune(p, runes[r.IntN(len(runes))])
			}
		} else {
			p = make([]byte, size)
			for i := range p {
				p[i] = byte(r.Uint32())
			}
		}
		frames := []wstest.Frame{wstest.Message(op, p)}
		if r.IntN(2) == 0 {
			frames = fragments(op, p, 1+r.IntN(2048))
		}
		for _, f := range frames {
			out = append(out, f)
			control()
		}
	}
	return out
}
