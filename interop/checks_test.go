package interop

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

// echoSizes are the payload sizes every client echoes: the edges of the
// 7-bit, 16-bit and 64-bit length encodings, and close to the engine's
// default 1 MiB message limit.
var echoSizes = []int{0, 1, 125, 126, 64 << 10, 1<<20 - 16}

// fragments are the pieces of the fragmented messages the clients send. An
// empty fragment is legal and must not end the message.
var fragments = []string{"frag", "", "men", strings.Repeat("t", 5000), "ed"}

// payload returns n bytes to send as a message of type typ: printable ASCII
// for text, every byte value for binary. The pattern does not repeat with a
// period of 4, so that a masking or offset bug shows.
func payload(typ engine.MessageType, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		if typ == engine.Text {
			p[i] = 'a' + byte(i%23)
		} else {
			p[i] = byte(i * 7 % 251)
		}
	}
	return p
}

// diff describes how got differs from want, for a failed echo.
func diff(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	}
	i := 0
	for i < len(got) && got[i] == want[i] {
		i++
	}
	end := min(i+16, len(got))
	return fmt.Sprintf("first difference at byte %d: got % x, want % x", i, got[i:end], want[i:end])
}

// equalEcho reports whether an echo matches what was sent, as an error.
func equalEcho(gotTyp, wantTyp engine.MessageType, got, want []byte) error {
	if gotTyp != wantTyp {
		return fmt.Errorf("echo is %v, want %v", gotTyp, wantTyp)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo differs: %s", diff(got, want))
	}
	return nil
}

// scriptCheck is one check the Python and Node scripts run, on its own
// connection to path <base>/<name>, and how the server must see that
// connection end: with the client's close code and reason, or, when
// byServer, after closing it with closeMe.
type scriptCheck struct {
	name     string
	code     wsproto.CloseCode
	reason   string
	byServer bool
}

// scriptChecks must match the checks of testdata/client.py and
// node/client.mjs: a check a script leaves out fails the test. Every check
// but the close ones ends with the client closing 1000 "done".
var scriptChecks = []scriptCheck{
	{name: "echo-text", code: wsproto.CloseNormal, reason: "done"},
	{name: "echo-binary", code: wsproto.CloseNormal, reason: "done"},
	{name: "fragmented-text", code: wsproto.CloseNormal, reason: "done"},
	{name: "fragmented-binary", code: wsproto.CloseNormal, reason: "done"},
	{name: "ping", code: wsproto.CloseNormal, reason: "done"},
	{name: "client-close-1000", code: wsproto.CloseNormal, reason: "done"},
	{name: "client-close-4000", code: 4000, reason: "done"},
	{name: "server-close", byServer: true},
}
