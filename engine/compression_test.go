package engine_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// syncTail ends a sync flush; permessage-deflate removes it from each message.
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflatePeer is a client's half of permessage-deflate, on the standard
// library's compress/flate: an implementation independent of the server's.
type deflatePeer struct {
	keep        bool // the client keeps its context between messages
	serverKeeps bool // the server keeps its context: hist is its window
	w           *flate.Writer
	buf         bytes.Buffer
	hist        []byte
}

func newDeflatePeer(clientKeeps, serverKeeps bool) *deflatePeer {
	p := &deflatePeer{keep: clientKeeps, serverKeeps: serverKeeps}
	p.w, _ = flate.NewWriter(&p.buf, flate.BestSpeed)
	return p
}

// compress returns msg as the client sends it compressed.
func (p *deflatePeer) compress(msg []byte) []byte {
	p.buf.Reset()
	if !p.keep {
		p.w.Reset(&p.buf)
	}
	_, _ = p.w.Write(msg)
	_ = p.w.Flush()
	return bytes.Clone(bytes.TrimSuffix(p.buf.Bytes(), syncTail))
}

// inflate returns what a compressed message from the server holds.
func (p *deflatePeer) inflate(payload []byte) ([]byte, error) {
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(syncTail)), p.hist)
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if p.serverKeeps {
		p.hist = append(p.hist, out...)
		p.hist = p.hist[max(0, len(p.hist)-32<<10):]
	}
	return out, nil
}

// readMessage reads one message, inflating it when RSV1 says it is
// compressed, and reports whether it was.
func (p *deflatePeer) readMessage(t *testing.T, c *wstest.Client) (wsproto.Opcode, []byte, bool) {
	t.Helper()
	h, payload, err := c.ReadFrame(0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !h.Fin {
		t.Fatalf("server fragmented a message")
	}
	if h.Rsv&^0b100 != 0 {
		t.Fatalf("server frame with RSV %03b", h.Rsv)
	}
	if h.Rsv == 0 {
		return h.Op, payload, false
	}
	out, err := p.inflate(payload)
	if err != nil {
		t.Fatalf("inflating the server's message: %v", err)
	}
	return h.Op, out, true
}

func extensionHeader(offer string) http.Header {
	return http.Header{"Sec-WebSocket-Extensions": {offer}}
}

// jsonish returns n bytes of chat-like JSON: it compresses as real traffic does.
func jsonish(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"event":"message","channel":"room-%d","data":{"user":"u%d","text":"hello %d"}}`, r.IntN(9), r.IntN(50), r.IntN(1000))
	}
	return b.Bytes()[:n]
}

func TestCompressionNegotiation(t *testing.T) {
	chrome := "permessage-deflate; client_max_window_bits"
	cases := []struct {
		name   string
		cfg    *engine.Compression
		offers []string
		want   string
	}{
		{"chrome", &engine.Compression{}, []string{chrome}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
		{"firefox", &engine.Compression{}, []string{"permessage-deflate"}, "permessage-deflate; server_no_context_takeover"},
		{"chrome narrowed", &engine.Compression{ClientMaxWindowBits: 10}, []string{chrome}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
		{"server keeps context", &engine.Compression{ServerContextTakeover: true}, []string{"permessage-deflate"}, "permessage-deflate"},
		{"client asks server to reset", &engine.Compression{ServerContextTakeover: true}, []string{"permessage-deflate; server_no_context_takeover"}, "permessage-deflate; server_no_context_takeover"},
		{"compression off", nil, []string{chrome}, ""},
		{"refuse client context", &engine.Compression{RequireClientNoContextTakeover: true}, []string{chrome}, ""},
		{"second offer taken", &engine.Compression{}, []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"two header lines", &engine.Compression{}, []string{"x-webkit-deflate-frame", "permessage-deflate"}, "permessage-deflate; server_no_context_takeover"},
		{"malformed offer", &engine.Compression{}, []string{"permessage-deflate; client_max_window_bits=16"}, ""},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv := startServer(t, tr, engine.Config{Compression: tc.cfg}, echo{})
				h := http.Header{"Sec-WebSocket-Extensions": tc.offers}
				c := srv.dial(t, wstest.DialOptions{Header: h})
				if got := c.Response.Header.Get("Sec-WebSocket-Extensions"); got != tc.want {
					t.Fatalf("answer %q, want %q", got, tc.want)
				}
				// A message that compresses comes back compressed exactly when negotiated.
				p := newDeflatePeer(true, false)
				msg := jsonish(600, 1)
				if err := c.Write(wstest.Message(wsproto.OpText, msg)); err != nil {
					t.Fatal(err)
				}
				_, got, compressed := p.readMessage(t, c)
				if compressed != (tc.want != "") || !bytes.Equal(got, msg) {
					t.Fatalf("echo compressed=%v (want %v), equal=%v", compressed, tc.want != "", bytes.Equal(got, msg))
				}
			})
		}
	})
}

// TestCompressedEcho sends messages compressed, plain and fragmented under
// each context policy and checks what comes back, compressed or not.
func TestCompressedEcho(t *testing.T) {
	policies := []struct {
		name        string
		cfg         engine.Compression
		offer       string
		clientKeeps bool
		serverKeeps bool
	}{
		{"default", engine.Compression{}, "permessage-deflate; client_max_window_bits", true, false},
		{"client resets", engine.Compression{}, "permessage-deflate; client_no_context_takeover", false, false},
		{"server keeps context", engine.Compression{ServerContextTakeover: true}, "permessage-deflate", true, true},
		{"server keeps context level 6", engine.Compression{ServerContextTakeover: true, Level: 6}, "permessage-deflate", true, true},
		{"narrow client window", engine.Compression{ClientMaxWindowBits: 9}, "permessage-deflate; client_max_window_bits", true, false},
		{"every message", engine.Compression{Threshold: -1}, "permessage-deflate", true, false},
	}
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(rand.Uint32())
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, pol := range policies {
			t.Run(pol.name, func(t *testing.T) {
				cfg := pol.cfg
				srv := startServer(t, tr, engine.Config{Compression: &cfg}, echo{})
				c := srv.dial(t, wstest.DialOptions{Header: extensionHeader(pol.offer)})
				if c.Response.Header.Get("Sec-WebSocket-Extensions") == "" {
					t.Fatal("not negotiated")
				}
				p := newDeflatePeer(pol.clientKeeps, pol.serverKeeps)
				threshold := cfg.Threshold
				if threshold == 0 {
					threshold = engine.DefaultCompressionThreshold
				}
				type msg struct {
					op       wsproto.Opcode
					data     []byte
					compress bool
					frags    int
				}
				var msgs []msg
				for i, n := range []int{0, 10, 127, 128, 500, 4096, 70000, 300, 300} {
					msgs = append(msgs, msg{wsproto.OpText, jsonish(n, uint64(i)), i%2 == 0, 1})
				}
				msgs = append(msgs,
					msg{wsproto.OpBinary, random, true, 1},
					msg{wsproto.OpText, jsonish(9000, 99), true, 3},
					msg{wsproto.OpBinary, jsonish(200, 98), false, 2},
					msg{wsproto.OpText, []byte(strings.Repeat("héllo wörld ", 50)), true, 1},
				)
				if cfg.ClientMaxWindowBits == 9 {
					// compress/flate cannot narrow its window to the 512
					// bytes the client was told: short messages stay in it.
					msgs = msgs[:5]
				}
				for i, m := range msgs {
					payload, rsv := m.data, byte(0)
					if m.compress {
						payload, rsv = p.compress(m.data), 0b100
					}
					var frames []wstest.Frame
					step := len(payload)/m.frags + 1
					for off := 0; off < len(payload) || len(frames) == 0; off += step {
						f := wstest.Frame{Op: wsproto.OpContinuation, Payload: payload[off:min(off+step, len(payload))]}
						if len(frames) == 0 {
							f.Op, f.Rsv = m.op, rsv
						}
						frames = append(frames, f)
					}
					frames[len(frames)-1].Fin = true
					if err := c.Write(frames...); err != nil {
						t.Fatal(err)
					}
					op, got, compressed := p.readMessage(t, c)
					if op != m.op || !bytes.Equal(got, m.data) {
						t.Fatalf("message %d (%d bytes): got op %v, %d bytes, equal %v", i, len(m.data), op, len(got), bytes.Equal(got, m.data))
					}
					// Below the threshold, and where compression would not
					// shrink it, a message goes back plain; the server may
					// find a few dozen bytes not worth it either.
					wantCompressed := len(m.data) >= threshold && !bytes.Equal(m.data, random)
					if len(m.data) < 64 && wantCompressed {
						continue
					}
					if compressed != wantCompressed {
						t.Fatalf("message %d (%d bytes): sent back compressed=%v, want %v", i, len(m.data), compressed, wantCompressed)
					}
				}
			})
		}
	})
}

// TestCompressedSplitEveryByte delivers a fragmented compressed message one
// byte per read.
func TestCompressedSplitEveryByte(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{}}, echo{})
		c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate")})
		p := newDeflatePeer(true, false)
		data := jsonish(400, 7)
		z := p.compress(data)
		b := wstest.Frame{Op: wsproto.OpText, Rsv: 0b100, Payload: z[:len(z)/2]}.Bytes()
		b = append(b, wstest.Frame{Op: wsproto.OpPing, Fin: true, Payload: []byte("mid")}.Bytes()...)
		b = append(b, wstest.Frame{Op: wsproto.OpContinuation, Fin: true, Payload: z[len(z)/2:]}.Bytes()...)
		if err := c.WriteSplit(b, 1, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if op, got, err := c.ReadMessage(0); err != nil || op != wsproto.OpPong || string(got) != "mid" {
			t.Fatalf("pong: %v %q %v", op, got, err)
		}
		if _, got, _ := p.readMessage(t, c); !bytes.Equal(got, data) {
			t.Fatalf("echo differs")
		}
	})
}

// TestCompressionViolations checks the close code of each misuse of
// permessage-deflate.
func TestCompressionViolations(t *testing.T) {
	p := newDeflatePeer(false, false)
	z := p.compress(jsonish(300, 3))
	bomb := func(n int) []byte { return p.compress(make([]byte, n)) }
	badUTF8 := p.compress([]byte("caf\xc3\x28 au lait, invalid UTF-8 once inflated......."))
	cases := []struct {
		name   string
		offer  string
		frames []wstest.Frame
		want   wsproto.CloseCode
	}{
		{"RSV1 without the extension", "", []wstest.Frame{{Fin: true, Rsv: 0b100, Op: wsproto.OpText, Payload: z}}, wsproto.CloseProtocolError},
		{"RSV1 on a ping", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b100, Op: wsproto.OpPing}}, wsproto.CloseProtocolError},
		{"RSV1 on a continuation", "permessage-deflate", []wstest.Frame{{Rsv: 0b100, Op: wsproto.OpText, Payload: z[:10]}, {Fin: true, Rsv: 0b100, Op: wsproto.OpContinuation, Payload: z[10:]}}, wsproto.CloseProtocolError},
		{"RSV2", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b010, Op: wsproto.OpText, Payload: z}}, wsproto.CloseProtocolError},
		{"RSV1 and RSV3", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b101, Op: wsproto.OpBinary, Payload: z}}, wsproto.CloseProtocolError},
		{"not DEFLATE", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b100, Op: wsproto.OpBinary, Payload: []byte{0xff, 0xfe, 0xfd, 0xfc, 0x01}}}, wsproto.CloseInvalidPayload},
		{"invalid UTF-8 once inflated", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b100, Op: wsproto.OpText, Payload: badUTF8}}, wsproto.CloseInvalidPayload},
		{"inflates past the limit", "permessage-deflate", []wstest.Frame{{Fin: true, Rsv: 0b100, Op: wsproto.OpBinary, Payload: bomb(70 << 10)}}, wsproto.CloseMessageTooBig},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{}, MaxMessageSize: 64 << 10}, echo{})
				var h http.Header
				if tc.offer != "" {
					h = extensionHeader(tc.offer)
				}
				c := srv.dial(t, wstest.DialOptions{Header: h})
				if err := c.Write(tc.frames...); err != nil {
					t.Fatal(err)
				}
				code, reason, err := c.ReadClose(0)
				if err != nil || code != tc.want {
					t.Fatalf("close %v %q (%v), want %v", code, reason, err, tc.want)
				}
			})
		}
	})
}

// TestInflateBombMemory sends one frame of about 100 KB that inflates to
// 128 MiB: the server closes with 1009 having produced at most
// MaxMessageSize, which the heap shows.
func TestInflateBombMemory(t *testing.T) {
	p := newDeflatePeer(false, false)
	bomb := p.compress(make([]byte, 128<<20))
	forEachTransport(t, func(t *testing.T, tr transport) {
		const limit = 1 << 20
		srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{}, MaxMessageSize: limit}, echo{})
		c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate")})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := c.Write(wstest.Frame{Fin: true, Rsv: 0b100, Op: wsproto.OpBinary, Payload: bomb}); err != nil {
			t.Fatal(err)
		}
		code, _, err := c.ReadClose(0)
		runtime.ReadMemStats(&after)
		if err != nil || code != wsproto.CloseMessageTooBig {
			t.Fatalf("close %v (%v), want 1009", code, err)
		}
		// The bomb's own bytes, the input buffer and one output buffer of
		// the limit's size: a few MiB. Inflating it whole would be 128.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("the server allocated %d bytes for a %d-byte bomb", grew, len(bomb))
		}
	})
}

// broadcaster sends a prepared message to every connection when one of them
// says "go", and echoes anything else.
type broadcaster struct {
	engine.NopHandler
	srv   atomic.Pointer[engine.Server] // set once started
	mu    sync.Mutex
	conns []*engine.Conn
	msg   []byte
}

func (b *broadcaster) OnOpen(c *engine.Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

func (b *broadcaster) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if string(data) != "go" {
		_ = c.Send(typ, data)
		return
	}
	pm, err := b.srv.Load().Prepare(engine.Text, b.msg)
	if err != nil {
		panic(err)
	}
	b.mu.Lock()
	conns := append([]*engine.Conn(nil), b.conns...)
	b.mu.Unlock()
	if err := b.srv.Load().Broadcast(pm, conns); err != nil {
		panic(err)
	}
}

// TestBroadcastPrepared sends one prepared message to clients that
// negotiated differently: each gets the frame it can read, and a client
// whose server keeps its context can read what follows it.
func TestBroadcastPrepared(t *testing.T) {
	clients := []struct {
		name           string
		offer          string
		wantCompressed bool
		serverKeeps    bool
	}{
		{"no compression", "", false, false},
		{"default", "permessage-deflate", true, true},
		{"server resets", "permessage-deflate; server_no_context_takeover", true, false},
		{"narrow server window", "permessage-deflate; server_max_window_bits=10", false, false},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		b := &broadcaster{msg: jsonish(2000, 5)}
		srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{ServerContextTakeover: true}}, b)
		b.srv.Store(srv.Server)
		conns := make([]*wstest.Client, len(clients))
		peers := make([]*deflatePeer, len(clients))
		for i, cl := range clients {
			var h http.Header
			if cl.offer != "" {
				h = extensionHeader(cl.offer)
			}
			conns[i] = srv.dial(t, wstest.DialOptions{Header: h})
			peers[i] = newDeflatePeer(true, cl.serverKeeps)
		}
		// Something compressed first, so that a server keeping its context
		// has one: a broadcast it then forgot to add would put the server's
		// back references and the client's window out of step.
		for i := range clients {
			before := jsonish(1500, 40+uint64(i))
			if err := conns[i].Write(wstest.Message(wsproto.OpText, before)); err != nil {
				t.Fatal(err)
			}
			if _, got, _ := peers[i].readMessage(t, conns[i]); !bytes.Equal(got, before) {
				t.Fatalf("%s: the echo before the broadcast differs", clients[i].name)
			}
		}
		if err := conns[0].Write(wstest.Message(wsproto.OpText, []byte("go"))); err != nil {
			t.Fatal(err)
		}
		for i, cl := range clients {
			_, got, compressed := peers[i].readMessage(t, conns[i])
			if !bytes.Equal(got, b.msg) || compressed != cl.wantCompressed {
				t.Fatalf("%s: equal %v, compressed %v (want %v)", cl.name, bytes.Equal(got, b.msg), compressed, cl.wantCompressed)
			}
			// The next message may refer back into the broadcast one.
			next := append(b.msg[:1000:1000], " and again"...)
			if err := conns[i].Write(wstest.Message(wsproto.OpText, next)); err != nil {
				t.Fatal(err)
			}
			if _, got, _ := peers[i].readMessage(t, conns[i]); !bytes.Equal(got, next) {
				t.Fatalf("%s: the message after the broadcast differs", cl.name)
			}
		}
	})
}

// held records the compression state of each connection after each message.
type held struct {
	echo
	mu   sync.Mutex
	last int
}

func (h *held) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	h.echo.OnMessage(c, typ, data)
	h.mu.Lock()
	h.last = engine.CompressionHeld(c)
	h.mu.Unlock()
}

// TestCompressionIdleHoldsNothing checks the memory promise of the default
// policy: a connection that negotiated compression holds no state until
// its client sends compressed data, and then about what it sent.
func TestCompressionIdleHoldsNothing(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		h := &held{}
		srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{}}, h)
		c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate; client_max_window_bits")})
		p := newDeflatePeer(true, false)
		// Uncompressed traffic, in both directions, holds nothing.
		if err := c.Write(wstest.Message(wsproto.OpText, jsonish(1000, 1))); err != nil {
			t.Fatal(err)
		}
		p.readMessage(t, c)
		h.mu.Lock()
		idle := h.last
		h.mu.Unlock()
		if idle != 0 {
			t.Fatalf("after plain traffic the connection holds %d bytes of compression state", idle)
		}
		msg := jsonish(300, 2)
		if err := c.Write(wstest.Frame{Fin: true, Rsv: 0b100, Op: wsproto.OpText, Payload: p.compress(msg)}); err != nil {
			t.Fatal(err)
		}
		p.readMessage(t, c)
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		if after < len(msg) || after > 2*len(msg) {
			t.Fatalf("after a %d-byte compressed message the connection holds %d bytes", len(msg), after)
		}
	})
}
