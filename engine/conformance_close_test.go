package engine_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestConformanceClose is Autobahn section 7: the server answers a close
// frame with a close frame carrying the same code (or none to none), sends
// and answers nothing after it, and then closes TCP (RFC 6455, sections
// 5.5.1 and 7.1.1).
func TestConformanceClose(t *testing.T) {
	t.Parallel()
	text := wstest.Message(wsproto.OpText, []byte("after the close"))
	ping := wstest.Message(wsproto.OpPing, []byte("after the close"))
	type closeCase struct {
		name   string
		before []wstest.Frame // frames before the close; the server answers them
		close  wstest.Frame
		after  []wstest.Frame // frames after the close; the server ignores them
		chunk  int            // write in 1-byte pieces when 1
		want   wsproto.CloseCode
	}
	cases := []closeCase{
		{name: "empty close", close: wstest.Message(wsproto.OpClose, nil), want: wsproto.CloseNoStatus},
		{name: "close with 123-byte reason", close: closeFrame(wsproto.CloseNormal, strings.Repeat("r", 123)), want: wsproto.CloseNormal},
		{name: "close in 1-byte writes", close: closeFrame(wsproto.CloseGoingAway, "split"), chunk: 1, want: wsproto.CloseGoingAway},
		{name: "empty close in 1-byte writes", close: wstest.Message(wsproto.OpClose, nil), chunk: 1, want: wsproto.CloseNoStatus},
		{name: "close with UTF-8 reason", close: closeFrame(wsproto.CloseNormal, "κόσμε \U0010FFFF"), want: wsproto.CloseNormal},
		{name: "text after the close", close: closeFrame(wsproto.CloseNormal, ""), after: []wstest.Frame{text}, want: wsproto.CloseNormal},
		{name: "ping after the close", close: closeFrame(wsproto.CloseNormal, ""), after: []wstest.Frame{ping}, want: wsproto.CloseNormal},
		{
			name:  "second close after the close",
			close: closeFrame(wsproto.CloseNormal, ""),
			after: []wstest.Frame{closeFrame(wsproto.CloseGoingAway, "again")},
			want:  wsproto.CloseNormal,
		},
		{
			name:  "invalid frame after the close",
			close: closeFrame(wsproto.CloseNormal, ""),
			after: []wstest.Frame{{Fin: true, Rsv: 7, Op: 0xB, Payload: []byte("\xFF")}},
			want:  wsproto.CloseNormal,
		},
		{
			name:   "close between fragments",
			before: []wstest.Frame{{Op: wsproto.OpText, Payload: []byte("frag")}},
			close:  closeFrame(wsproto.CloseNormal, ""),
			after:  []wstest.Frame{{Fin: true, Op: wsproto.OpContinuation, Payload: []byte("ment")}},
			want:   wsproto.CloseNormal,
		},
		{
			name:   "256 KiB message, close, ping",
			before: []wstest.Frame{wstest.Message(wsproto.OpText, bytes.Repeat([]byte{'*'}, 256<<10))},
			close:  closeFrame(wsproto.CloseNormal, ""),
			after:  []wstest.Frame{ping},
			want:   wsproto.CloseNormal,
		},
	}
	for _, code := range []wsproto.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, closeCase{
			name:  "code " + strconv.Itoa(int(code)),
			close: closeFrame(code, "reason"),
			after: []wstest.Frame{text},
			want:  code,
		})
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				b := encode(tc.before...)
				b = append(b, tc.close.Bytes()...)
				b = append(b, encode(tc.after...)...)
				if tc.chunk == 1 {
					if err := c.WriteSplit(b, 1, splitPause); err != nil {
						t.Fatal(err)
					}
				} else {
					send(t, c, b)
				}
				for _, r := range echoOf(tc.before...) {
					expectMessage(t, c, r.op, r.payload)
				}
				code, reason := expectClose(t, c)
				// An empty close may also be answered with 1000 (section 5.5.1).
				if code != tc.want && !(tc.want == wsproto.CloseNoStatus && code == wsproto.CloseNormal) {
					t.Errorf("close answered with %v (%q), want %v", code, reason, tc.want)
				}
				expectEOF(t, c, promptEOF)
			})
		}
	})
}

// TestConformanceCloseViolations covers close frames RFC 6455 sections
// 5.5.1 and 7.4 forbid: codes that may not be sent, a 1-byte payload, a
// reason that is not UTF-8 (1007), and a payload over 125 bytes.
func TestConformanceCloseViolations(t *testing.T) {
	t.Parallel()
	var cases []violation
	for _, code := range []wsproto.CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, violation{
			name: "code " + strconv.Itoa(int(code)),
			bad:  closeFrame(code, "").Bytes(),
			want: wsproto.CloseProtocolError,
		})
	}
	cases = append(cases,
		violation{
			name: "1-byte payload",
			bad:  wstest.Message(wsproto.OpClose, []byte{0x03}).Bytes(),
			want: wsproto.CloseProtocolError,
		},
		violation{
			name: "reason not UTF-8",
			bad:  closeFrame(wsproto.CloseNormal, "κόσμε\xED\xA0\x80edited").Bytes(),
			want: wsproto.CloseInvalidPayload,
		},
		violation{
			name: "reason cut inside a character",
			bad:  closeFrame(wsproto.CloseNormal, "ab\xE2\x82").Bytes(),
			want: wsproto.CloseInvalidPayload,
		},
		violation{
			name: "126-byte close",
			bad:  wstest.Message(wsproto.OpClose, append([]byte{0x03, 0xE8}, strings.Repeat("r", 124)...)).Bytes(),
			want: wsproto.CloseProtocolError,
		},
		violation{
			name:   "invalid code after a valid message",
			echoed: []wstest.Frame{wstest.Message(wsproto.OpText, []byte("valid"))},
			bad:    closeFrame(1004, "").Bytes(),
			want:   wsproto.CloseProtocolError,
		},
	)
	runViolations(t, engine.Config{}, cases)
}

// closeOnBye echoes messages, except "bye", which makes it start the
// closing handshake with byeCode and byeReason.
type closeOnBye struct{ echo }

const (
	byeCode   wsproto.CloseCode = 4000
	byeReason                   = "bye-bye"
)

func (h closeOnBye) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if string(data) == "bye" {
		_ = c.Close(byeCode, byeReason)
		return
	}
	h.echo.OnMessage(c, typ, data)
}

// TestConformanceServerClose checks a closing handshake the server begins
// (Conn.Close from a handler): its close frame carries the handler's code
// and reason, comes after what was sent before it, and nothing but the
// close follows; the server closes TCP as soon as the client answers, and
// by itself after Config.CloseTimeout when the client never does.
func TestConformanceServerClose(t *testing.T) {
	t.Parallel()
	const closeTimeout = 500 * time.Millisecond
	bye := wstest.Message(wsproto.OpText, []byte("bye"))
	hello := wstest.Message(wsproto.OpText, []byte("hello"))
	cases := []struct {
		name   string
		before []wstest.Frame // sent with the "bye" and answered before the close
		after  []wstest.Frame // sent after the server's close, before the reply
		reply  bool           // answer the server's close
		wait   time.Duration  // for the server to close TCP
	}{
		{name: "client answers", reply: true, wait: promptEOF},
		{name: "client answers after a message", before: []wstest.Frame{hello}, reply: true, wait: promptEOF},
		{
			name:  "client sends data and a ping before answering",
			after: []wstest.Frame{hello, wstest.Message(wsproto.OpPing, []byte("late"))},
			reply: true,
			wait:  promptEOF,
		},
		{name: "client never answers", wait: closeTimeout + promptEOF},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{CloseTimeout: closeTimeout}, closeOnBye{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := srv.dial(t, wstest.DialOptions{})
				send(t, c, encode(append(tc.before, bye)...))
				for _, r := range echoOf(tc.before...) {
					expectMessage(t, c, r.op, r.payload)
				}
				code, reason := expectClose(t, c)
				if code != byeCode || reason != byeReason {
					t.Errorf("server closed with %v %q, want %v %q", code, reason, byeCode, byeReason)
				}
				if len(tc.after) > 0 {
					send(t, c, encode(tc.after...))
				}
				if tc.reply {
					send(t, c, closeReply(code))
				}
				expectEOF(t, c, tc.wait)
			})
		}
	})
}
