package engine_test

// The RFC 6455 conformance suite (conformance_*_test.go) follows the
// sections of the Autobahn TestSuite: 1 framing, 2 pings and pongs, 3
// reserved bits, 4 reserved opcodes, 5 fragmentation, 6 UTF-8, 7 closing
// and 9 limits. Every case talks to the echo server over its own
// connection with the raw-frame client. This file holds what the sections
// share: how cases are run and what the server's answers must be.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

const (
	// replyWait bounds the wait for a frame the server owes the client. It
	// is generous for -race on two cores; a conforming server answers in
	// milliseconds, so only a failing case ever waits this long.
	replyWait = 5 * time.Second
	// promptEOF is how soon the server must close TCP once the closing
	// handshake is over, or once it has sent the close frame that fails a
	// connection: well below the default Config.CloseTimeout, so that a
	// timeout cannot pass for it. RFC 6455, section 5.5.1: "After both
	// sending and receiving a Close message, an endpoint [...] MUST close
	// the underlying TCP connection."
	promptEOF = time.Second
	// splitPause is the pause between the pieces of a write split into
	// very small chunks, so that the server reads them one by one.
	splitPause = 200 * time.Microsecond
)

// afterViolation is sent right behind every protocol violation: the
// server must neither echo nor answer any of it.
var afterViolation = []wstest.Frame{
	wstest.Message(wsproto.OpText, []byte("after the violation")),
	wstest.Message(wsproto.OpPing, []byte("after the violation")),
	wstest.Message(wsproto.OpBinary, []byte{0xAF, 0x7E}),
}

// violation is a case in which the client breaks RFC 6455 and the server
// must fail the connection.
type violation struct {
	name   string
	echoed []wstest.Frame // valid frames sent first, which the server answers
	bad    []byte         // the offending bytes
	want   wsproto.CloseCode
}

// runViolations runs each case on its own connection to an echo server
// with cfg, over every transport: it sends the echoed frames, the bad bytes
// and afterViolation in one write, reads the answers to the echoed frames,
// then expects the connection to fail with the case's close code.
func runViolations(t *testing.T, cfg engine.Config, cases []violation) {
	t.Helper()
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, cfg, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				b := encode(tc.echoed...)
				b = append(b, tc.bad...)
				b = append(b, encode(afterViolation...)...)
				// The server may stop reading after the violation.
				if _, err := c.Conn.Write(b); err != nil {
					t.Logf("write after the violation: %v", err)
				}
				for _, r := range echoOf(tc.echoed...) {
					expectMessage(t, c, r.op, r.payload)
				}
				expectFail(t, c, tc.want)
			})
		}
	})
}

// exchange is a case of valid traffic: frames sent, possibly with their
// bytes split into small writes, and the frames the server must answer
// with, in order.
type exchange struct {
	name  string
	send  []wstest.Frame
	chunk int           // write in pieces of chunk bytes; 0 sends all at once
	pause time.Duration // between the pieces
	want  []reply
}

// reply is a frame (or a data message, fragments joined) the server sends.
type reply struct {
	op      wsproto.Opcode
	payload []byte
}

// echoOf returns the replies the echo server owes for frames: a pong for
// each ping and each data message back, fragments joined, in order.
func echoOf(frames ...wstest.Frame) []reply {
	var out []reply
	var msg reply
	for _, f := range frames {
		switch f.Op {
		case wsproto.OpPing:
			out = append(out, reply{op: wsproto.OpPong, payload: f.Payload})
		case wsproto.OpText, wsproto.OpBinary, wsproto.OpContinuation:
			if f.Fin && f.Op != wsproto.OpContinuation {
				out = append(out, reply{op: f.Op, payload: f.Payload})
				continue
			}
			if f.Op != wsproto.OpContinuation {
				msg = reply{op: f.Op, payload: []byte{}}
			}
			msg.payload = append(msg.payload, f.Payload...)
			if f.Fin {
				out = append(out, msg)
			}
		}
	}
	return out
}

// runExchanges runs each case on its own connection to an echo server with
// cfg, over every transport, and ends each with a clean closing handshake,
// which also shows that the connection survived the case.
func runExchanges(t *testing.T, cfg engine.Config, cases []exchange) {
	t.Helper()
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, cfg, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				b := encode(tc.send...)
				chunk := tc.chunk
				if chunk == 0 {
					chunk = len(b)
				}
				wait := goWrite(t, c, func() error { return c.WriteSplit(b, chunk, tc.pause) })
				for _, r := range tc.want {
					expectMessage(t, c, r.op, r.payload)
				}
				wait()
				closeCleanly(t, c)
			})
		}
	})
}

// encode returns the frames' bytes back to back.
func encode(frames ...wstest.Frame) []byte {
	n := 0
	for _, f := range frames {
		n += wsproto.HeaderSize(len(f.Payload), true) + len(f.Payload)
	}
	b := make([]byte, 0, n)
	for _, f := range frames {
		b = f.AppendTo(b)
	}
	return b
}

// fragments returns payload as a message of frames of at most size bytes
// (one empty frame for an empty payload).
func fragments(op wsproto.Opcode, payload []byte, size int) []wstest.Frame {
	var out []wstest.Frame
	for {
		n := min(size, len(payload))
		out = append(out, wstest.Frame{Op: op, Payload: payload[:n], Fin: n == len(payload)})
		payload = payload[n:]
		op = wsproto.OpContinuation
		if len(payload) == 0 {
			return out
		}
	}
}

// frag returns a text or binary message made of the given fragments.
func frag(op wsproto.Opcode, parts ...string) []wstest.Frame {
	out := make([]wstest.Frame, len(parts))
	for i, p := range parts {
		out[i] = wstest.Frame{Op: op, Payload: []byte(p), Fin: i == len(parts)-1}
		op = wsproto.OpContinuation
	}
	return out
}

// closeFrame returns a close frame carrying code, whatever it is, and
// reason, however long.
func closeFrame(code wsproto.CloseCode, reason string) wstest.Frame {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return wstest.Message(wsproto.OpClose, append(p, reason...))
}

// closeReply returns the close frame that answers one with code: the same
// code, or no payload when code is CloseNoStatus.
func closeReply(code wsproto.CloseCode) []byte {
	return wstest.Message(wsproto.OpClose, wsproto.AppendClosePayload(nil, code, "")).Bytes()
}

// send writes b to the server in one write.
func send(t *testing.T, c *wstest.Client, b []byte) {
	t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// goWrite runs write on its own goroutine, so that the test can read the
// server's replies meanwhile, and returns a function that waits for it and
// reports its error. A test that ends early unblocks the writer.
func goWrite(t *testing.T, c *wstest.Client, write func() error) (wait func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- write() }()
	var once sync.Once
	wait = func() {
		once.Do(func() {
			if err := <-errc; err != nil {
				t.Errorf("write: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		_ = c.Conn.SetWriteDeadline(time.Now())
		wait()
	})
	return wait
}

// expectMessage reads the next data message, fragments joined, or control
// frame, and checks that it is op carrying payload, in frames a server may
// send (RFC 6455, section 5): unmasked, no RSV bits, and control frames
// whole and at most 125 bytes.
func expectMessage(t *testing.T, c *wstest.Client, op wsproto.Opcode, payload []byte) {
	t.Helper()
	var gotOp wsproto.Opcode
	var got []byte
	for {
		h, p, err := c.ReadFrame(replyWait)
		if err != nil {
			t.Fatalf("want %v %s: %v", op, brief(payload), err)
		}
		checkServerFrame(t, h)
		if gotOp == 0 {
			gotOp = h.Op
		}
		got = append(got, p...)
		if h.Fin {
			break
		}
	}
	if gotOp != op || !bytes.Equal(got, payload) {
		t.Fatalf("got %v %s, want %v %s", gotOp, brief(got), op, brief(payload))
	}
}

// checkServerFrame checks the rules of RFC 6455 section 5 for a frame the
// server sent.
func checkServerFrame(t *testing.T, h wsproto.Header) {
	t.Helper()
	switch {
	case h.Masked:
		t.Errorf("server frame %v is masked", h.Op)
	case h.Rsv != 0:
		t.Errorf("server frame %v has RSV bits %03b", h.Op, h.Rsv)
	case h.Op.IsReserved():
		t.Errorf("server frame with reserved opcode %v", h.Op)
	case h.Op.IsControl() && (!h.Fin || h.Length > wsproto.MaxControlPayload):
		t.Errorf("server control frame %v: fin %v, %d bytes", h.Op, h.Fin, h.Length)
	}
}

// expectClose reads the next frame, which must be a valid close frame, and
// returns its code and reason.
func expectClose(t *testing.T, c *wstest.Client) (wsproto.CloseCode, string) {
	t.Helper()
	h, p, err := c.ReadFrame(replyWait)
	if err != nil {
		t.Fatalf("want a close frame: %v", err)
	}
	if h.Op != wsproto.OpClose {
		t.Fatalf("want a close frame, got %v %s", h.Op, brief(p))
	}
	checkServerFrame(t, h)
	code, reason, err := wsproto.ParseClose(p)
	if err != nil {
		t.Fatalf("server's close payload %s: %v", brief(p), err)
	}
	return code, string(reason)
}

// expectFail checks that the server failed the connection: its next frame
// is a close with code want, and nothing follows it before the server
// closes TCP. The client answers the close, as RFC 6455 section 5.5.1 asks.
func expectFail(t *testing.T, c *wstest.Client, want wsproto.CloseCode) {
	t.Helper()
	code, reason := expectClose(t, c)
	if code != want {
		t.Errorf("close code %v (%q), want %v", code, reason, want)
	}
	// The server may already have closed TCP: a failed write is no fault.
	_, _ = c.Conn.Write(closeReply(code))
	expectEOF(t, c, promptEOF)
}

// expectEOF checks that the server sends nothing more and closes TCP
// within wait.
func expectEOF(t *testing.T, c *wstest.Client, wait time.Duration) {
	t.Helper()
	start := time.Now()
	h, p, err := c.ReadFrame(wait)
	var ne net.Error
	switch {
	case err == nil:
		t.Errorf("got %v %s after the close frame, want nothing", h.Op, brief(p))
		if !c.WaitEOF(wait) {
			t.Errorf("server did not close TCP within %v", wait)
		}
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("server did not close TCP within %v", wait)
	default:
		t.Logf("TCP closed %v after the close frame", time.Since(start).Round(time.Millisecond))
	}
}

// closeCleanly performs a client-initiated closing handshake and checks
// that the server answers with the same code and then closes TCP.
func closeCleanly(t *testing.T, c *wstest.Client) {
	t.Helper()
	send(t, c, closeFrame(wsproto.CloseNormal, "done").Bytes())
	if code, reason := expectClose(t, c); code != wsproto.CloseNormal {
		t.Errorf("close answered with %v (%q), want %v", code, reason, wsproto.CloseNormal)
	}
	expectEOF(t, c, promptEOF)
}

// brief describes a payload for failure messages.
func brief(p []byte) string {
	const show = 32
	if len(p) <= show {
		return fmt.Sprintf("[%d bytes %q]", len(p), p)
	}
	return fmt.Sprintf("[%d bytes %q...]", len(p), p[:show])
}
