package wsproto_test

import (
	"fmt"

	"github.com/wssd/wssd/wsproto"
)

func ExampleParser() {
	// Two frames of one text message, as a client sends them (masked).
	in := wsproto.AppendMaskedFrame(nil, wsproto.OpText, false, [4]byte{1, 2, 3, 4}, []byte("hel"))
	in = wsproto.AppendMaskedFrame(in, wsproto.OpContinuation, true, [4]byte{5, 6, 7, 8}, []byte("lo"))

	var p wsproto.Parser
	for len(in) > 0 {
		m, n, err := p.Parse(in)
		if err != nil {
			fmt.Println("close with", wsproto.CloseCodeOf(err))
			return
		}
		if m.Op != 0 {
			fmt.Printf("%v %q\n", m.Op, m.Payload)
		}
		if n == 0 {
			break // wait for more bytes
		}
		in = in[n:]
	}
	// Output: text "hello"
}

func ExampleAppendFrame() {
	out := wsproto.AppendFrame(nil, wsproto.OpText, true, []byte("hi"))
	fmt.Printf("% x\n", out)
	// Output: 81 02 68 69
}

func ExampleHandshake() {
	head := []byte("GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, r, err := wsproto.Handshake(nil, head, func(r *wsproto.Request) error {
		if r.Path != "/chat" {
			return &wsproto.RejectError{Status: 404}
		}
		return nil
	})
	fmt.Println(err, r.Path)
	fmt.Printf("%s", resp[:len("HTTP/1.1 101 Switching Protocols")])
	// Output: <nil> /chat
	// HTTP/1.1 101 Switching Protocols
}

func ExampleCloseCodeOf() {
	fmt.Println(wsproto.CloseCodeOf(wsproto.ErrInvalidUTF8))
	// Output: 1007 (invalid payload data)
}

func ExampleNegotiateDeflate() {
	// Chrome's offer, under the default policy: each server message is
	// compressed on its own, the client keeps its 32 KiB window.
	p, ok := wsproto.NegotiateDeflate([]string{"permessage-deflate; client_max_window_bits"}, wsproto.DeflatePolicy{})
	fmt.Println(ok, p)
	fmt.Println("window the server keeps of the client's data:", p.ClientWindow())
	// Output:
	// true permessage-deflate; server_no_context_takeover; client_max_window_bits=15
	// window the server keeps of the client's data: 32768
}
