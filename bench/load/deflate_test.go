package load

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wssd/wssd/internal/bufpool"
	"github.com/wssd/wssd/internal/chatmsg"
	"github.com/wssd/wssd/wsproto"
)

func TestParseDeflateAnswer(t *testing.T) {
	const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	cases := []struct {
		name    string
		answer  string
		want    *deflateParams
		wantErr string
	}{
		{"declined", "", nil, ""},
		{"wssd's default", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=15\r\n",
			&deflateParams{serverNoContext: true, serverBits: 15, clientBits: 15}, ""},
		{"gorilla's", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n",
			&deflateParams{serverNoContext: true, serverBits: 15, clientBits: 15}, ""},
		{"context kept, narrow windows, quoted, any case", "sec-websocket-extensions:  permessage-deflate; server_max_window_bits=\"10\" ; client_max_window_bits=9\r\n",
			&deflateParams{serverBits: 10, clientBits: 9}, ""},
		{"an extension not offered", "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", nil, "x-webkit-deflate-frame"},
		{"accepted twice", "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n", nil, "permessage-deflate"},
		{"window out of range", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=16\r\n", nil, "client_max_window_bits=16"},
		{"unknown parameter", "Sec-WebSocket-Extensions: permessage-deflate; mux\r\n", nil, "mux"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseDeflateAnswer([]byte(head + c.answer))
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, c.wantErr)
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.want == nil && got != nil, c.want != nil && (got == nil || *got != *c.want):
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestDeflateWithWsproto runs the client's compression against wssd's own
// codec: what the client sends inflates on the server, and what the server
// sends, in one frame or fragmented, with or without its context, inflates
// on the client.
func TestDeflateWithWsproto(t *testing.T) {
	cases := []struct {
		name   string
		params wsproto.DeflateParams
		level  int
		frags  int // frames per message
	}{
		{"no context, stateless, one frame", wsproto.DeflateParams{ServerNoContextTakeover: true}, 0, 1},
		{"context kept, level 1, one frame", wsproto.DeflateParams{}, 1, 1},
		{"context kept, stateless, three frames", wsproto.DeflateParams{}, 0, 3},
		{"narrow server window, two frames", wsproto.DeflateParams{ServerMaxWindowBits: 9}, 6, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			answer := "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: " + c.params.String() + "\r\n"
			params, err := parseDeflateAnswer([]byte(answer))
			if err != nil || params == nil {
				t.Fatalf("%q: %+v, %v", answer, params, err)
			}
			srvIn := wsproto.NewInflater(c.params.ClientWindow(), c.params.ClientNoContextTakeover)
			srvOut := wsproto.NewDeflater(c.params, c.level)
			var wire []byte
			var sent [][]byte
			for i := range 8 {
				msg := chatmsg.Append(nil, i%3, 600+i*300) // repeats: a kept context refers back
				// client → server
				got := bufpool.GetCap(len(msg))
				if err := srvIn.Inflate(got, compressMessage(msg, params.clientBits), 1<<20); err != nil || !bytes.Equal(got.B, msg) {
					t.Fatalf("message %d: the server inflated %d bytes (%v), want %d", i, len(got.B), err, len(msg))
				}
				bufpool.Put(got)
				// server → client
				z, ok := srvOut.AppendCompressed(nil, msg)
				if !ok {
					t.Fatalf("message %d: the server did not compress it", i)
				}
				wire = appendFragments(wire, z, c.frags)
				sent = append(sent, msg)
			}
			fr := &frameReader{r: bytes.NewReader(wire), buf: make([]byte, 256), collect: true}
			cl := &conn{fr: fr, inf: newInflater(params)}
			var got [][]byte
			for len(got) < len(sent) {
				op, _, _, err := fr.next()
				if err != nil {
					t.Fatalf("after %d messages: %v", len(got), err)
				}
				if !cl.compressedFrame(op) {
					t.Fatalf("message %d: a frame not taken as compressed", len(got))
				}
				if cl.inMsg {
					continue
				}
				if cl.plain, err = cl.inf.inflate(cl.plain[:0], cl.msg); err != nil {
					t.Fatalf("message %d: %v", len(got), err)
				}
				got = append(got, bytes.Clone(cl.plain))
			}
			for i := range sent {
				if !bytes.Equal(got[i], sent[i]) {
					t.Errorf("message %d: got %d bytes %.40q, want %d", i, len(got[i]), got[i], len(sent[i]))
				}
			}
		})
	}
}

// appendFragments appends payload as a compressed text message in n
// unmasked frames: RSV1 on the first only.
func appendFragments(dst, payload []byte, n int) []byte {
	for i := range n {
		part := payload[i*len(payload)/n : (i+1)*len(payload)/n]
		f := serverFrame(opText, part)
		if i > 0 {
			f[0] = f[0]&^0x0f | opCont
		}
		if i < n-1 {
			f[0] &^= 0x80
		}
		if i == 0 {
			f[0] |= rsv1
		}
		dst = append(dst, f...)
	}
	return dst
}

// TestCompressedFrame: a client frame built for a compressed message carries
// RSV1, and the frame reader reports it.
func TestCompressedFrame(t *testing.T) {
	z := compressMessage(chatmsg.Append(nil, 1, 512), 15)
	frame := appendFrameRsv(nil, opText, rsv1, z)
	if frame[0] != 0x80|rsv1|opText {
		t.Fatalf("first byte %#x, want FIN, RSV1, text", frame[0])
	}
	fr := &frameReader{r: bytes.NewReader(frame), buf: make([]byte, 64), collect: true}
	op, n, _, err := fr.next()
	if err != nil || op != opText || n != len(z) || !fr.rsv1 || !fr.fin || !bytes.Equal(fr.whole, z) {
		t.Fatalf("op %d, %d bytes, rsv1 %v, fin %v, whole unmasked %v: %v", op, n, fr.rsv1, fr.fin, bytes.Equal(fr.whole, z), err)
	}
}

// FuzzParseDeflateAnswer: whatever the upgrade response says, the parser
// does not panic, accepts only windows of 8 to 15 bits, and what it accepts
// reads back the same once written as a server would write it.
func FuzzParseDeflateAnswer(f *testing.F) {
	for _, s := range []string{
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=15\r\n",
		"sec-websocket-extensions: permessage-deflate; server_max_window_bits=\"10\"; client_no_context_takeover\r\n",
		"Sec-WebSocket-Extensions: permessage-deflate, x-webkit-deflate-frame\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		p, err := parseDeflateAnswer(answer)
		if err != nil || p == nil {
			return
		}
		if p.serverBits < 8 || p.serverBits > 15 || p.clientBits < 8 || p.clientBits > 15 {
			t.Fatalf("%q: windows %d and %d bits", answer, p.serverBits, p.clientBits)
		}
		again, err := parseDeflateAnswer([]byte("Sec-WebSocket-Extensions: " + wsproto.DeflateParams{
			ServerNoContextTakeover: p.serverNoContext, ServerMaxWindowBits: p.serverBits, ClientMaxWindowBits: p.clientBits,
		}.String() + "\r\n"))
		if err != nil || again == nil || *again != *p {
			t.Fatalf("%q: %+v, written and read again %+v (%v)", answer, p, again, err)
		}
	})
}
