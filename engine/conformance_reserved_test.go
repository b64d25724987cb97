package engine_test

import (
	"fmt"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// TestConformanceReservedBits is Autobahn section 3: with no extension
// negotiated, a frame with any of RSV1, RSV2, RSV3 set fails the connection
// with 1002 (RFC 6455, section 5.2), whatever its opcode, and so does the
// same frame after a valid message, which is echoed first.
func TestConformanceReservedBits(t *testing.T) {
	t.Parallel()
	frames := []wstest.Frame{
		wstest.Message(wsproto.OpText, []byte("Hello, world!")),
		wstest.Message(wsproto.OpBinary, []byte{0x00, 0xFF, 0x10}),
		wstest.Message(wsproto.OpPing, []byte("ping")),
		wstest.Message(wsproto.OpPong, nil),
		closeFrame(wsproto.CloseNormal, ""),
		{Op: wsproto.OpText, Payload: []byte("first fragment")},
	}
	valid := wstest.Message(wsproto.OpText, []byte("valid"))
	var cases []violation
	for rsv := byte(1); rsv <= 7; rsv++ {
		for i, f := range frames {
			f.Rsv = rsv
			tc := violation{
				name: fmt.Sprintf("RSV=%d %v fin=%v", rsv, f.Op, f.Fin),
				bad:  f.Bytes(),
				want: wsproto.CloseProtocolError,
			}
			// After a valid message for half the cases, alternating.
			if (int(rsv)+i)%2 == 0 {
				tc.name += ", after a valid message"
				tc.echoed = []wstest.Frame{valid}
			}
			cases = append(cases, tc)
		}
	}
	// RSV set on a continuation frame of a message begun without it.
	for _, rsv := range []byte{1, 2, 4} {
		cont := wstest.Frame{Fin: true, Rsv: rsv, Op: wsproto.OpContinuation, Payload: []byte("end")}
		cases = append(cases, violation{
			name: fmt.Sprintf("RSV=%d continuation", rsv),
			bad:  append(wstest.Frame{Op: wsproto.OpText, Payload: []byte("start")}.Bytes(), cont.Bytes()...),
			want: wsproto.CloseProtocolError,
		})
	}
	runViolations(t, engine.Config{}, cases)
}

// TestConformanceReservedOpcodes is Autobahn section 4: the non-control
// opcodes 3-7 and the control opcodes 0xB-0xF are reserved; a frame
// carrying one fails the connection with 1002 (RFC 6455, section 5.2),
// empty or not, alone or after a valid message, which is echoed first.
func TestConformanceReservedOpcodes(t *testing.T) {
	t.Parallel()
	valid := wstest.Message(wsproto.OpBinary, []byte("valid"))
	var cases []violation
	for _, op := range []wsproto.Opcode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		for _, payload := range [][]byte{nil, []byte("reserved payload")} {
			f := wstest.Message(op, payload)
			cases = append(cases,
				violation{
					name: fmt.Sprintf("opcode %#x, %d bytes", byte(op), len(payload)),
					bad:  f.Bytes(),
					want: wsproto.CloseProtocolError,
				},
				violation{
					name:   fmt.Sprintf("opcode %#x, %d bytes, after a valid message", byte(op), len(payload)),
					echoed: []wstest.Frame{valid},
					bad:    f.Bytes(),
					want:   wsproto.CloseProtocolError,
				})
		}
		// Without FIN, as the first fragment of a would-be message.
		cases = append(cases, violation{
			name: fmt.Sprintf("opcode %#x without FIN", byte(op)),
			bad:  wstest.Frame{Op: op, Payload: []byte("x")}.Bytes(),
			want: wsproto.CloseProtocolError,
		})
	}
	// Between the fragments of a valid message.
	cases = append(cases, violation{
		name: "opcode 0xb between fragments",
		bad: encode(
			wstest.Frame{Op: wsproto.OpText, Payload: []byte("frag")},
			wstest.Message(0xB, nil),
			wstest.Frame{Fin: true, Op: wsproto.OpContinuation, Payload: []byte("ment")},
		),
		want: wsproto.CloseProtocolError,
	})
	runViolations(t, engine.Config{}, cases)
}
