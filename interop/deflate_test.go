package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

// deflateServers are the compression settings every permessage-deflate
// test runs against: the default, where the server resets its context with
// each message, the server that keeps it when the client lets it, and the
// server that asks clients offering client_max_window_bits for a window
// of 2^8 bytes (zlib makes that 2^9), which is then all it keeps of what
// they sent.
var deflateServers = []struct {
	name string
	z    engine.Compression
}{
	{"server resets", engine.Compression{}},
	{"server keeps context", engine.Compression{ServerContextTakeover: true}},
	{"narrow client window", engine.Compression{ClientMaxWindowBits: 8}},
}

// forEachDeflateServer runs f as a subtest per transport and per
// deflateServers entry; i is the entry's index.
func forEachDeflateServer(t *testing.T, f func(t *testing.T, tr transport, i int, z *engine.Compression)) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		for i, d := range deflateServers {
			t.Run(d.name, func(t *testing.T) {
				z := d.z
				f(t, tr, i, &z)
			})
		}
	})
}

// planMessage is a message a client sends and must get back, as the
// scripts read it (data in base64).
type planMessage struct {
	Binary bool   `json:"binary"`
	Data   []byte `json:"data"`
}

func (m planMessage) typ() engine.MessageType {
	if m.Binary {
		return engine.Binary
	}
	return engine.Text
}

// deflatePlan is what a client does: echo each message, then, with a
// broadcast, send "ready", wait for the broadcast message and echo each
// message after.
type deflatePlan struct {
	Messages  []planMessage `json:"messages"`
	Broadcast *planMessage  `json:"broadcast"`
	After     []planMessage `json:"after"`
}

// echoes returns the number of echoes p asks for.
func (p deflatePlan) echoes() int { return len(p.Messages) + len(p.After) }

// deflateMessages are the messages every client echoes with compression
// on: 60 of them, text and binary, from empty to 100 KiB, around the
// server's 128-byte threshold, some incompressible, and many sent again in
// later rounds, so that a context carried over from message to message is
// used (and one used wrongly shows).
func deflateMessages() []planMessage {
	var out []planMessage
	text := func(b []byte) { out = append(out, planMessage{Data: b}) }
	binary := func(b []byte) { out = append(out, planMessage{Binary: true, Data: b}) }
	for round := range uint64(3) {
		for _, n := range []int{0, 5, 100, 127, 128, 129, 300, 1000, 3000} {
			text(chatJSON(n, uint64(n))) // the same in every round
		}
		text(chatJSON(8000, round))
		text(chatJSON(40<<10, round)) // beyond a 32 KiB window
		text(chatJSON(100<<10, round))
		text([]byte(strings.Repeat("grüße, 世界 ✓ 😀 ", 100+int(round)))) // multi-byte UTF-8, validated once inflated
		binary([]byte{byte(round)})
		binary(noise(200, round))
		binary(noise(5000, round))
		binary(shades(2000, 0))
		binary(shades(100<<10, round))
		// A message that starts as the round's 3000-byte JSON and goes on.
		text(append(chatJSON(3000, 3000), chatJSON(1000, 10+round)...))
	}
	return out
}

// chatJSON returns n bytes of chat-like JSON, which compresses as real
// push traffic does.
func chatJSON(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7692))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"event":"message","channel":"room-%d","data":{"user":"u%d","text":"hello %d"}}`, r.IntN(9), r.IntN(50), r.IntN(1000))
	}
	return b.Bytes()[:n]
}

// noise returns n bytes that do not compress.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// shades returns n bytes of a grey-scale picture, which compress.
func shades(n int, seed uint64) []byte {
	b := make([]byte, n)
	for i := range b {
		x, y := i%256, i/256
		b[i] = byte((x/32^y/32)*16 + int(seed))
	}
	return b
}

// writePlan writes p as JSON into a file of t's and returns its path.
func writePlan(t *testing.T, p deflatePlan) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deflateReport is the JSON line node/deflate.mjs and testdata/deflate.py
// print.
type deflateReport struct {
	Client     string `json:"client"`
	Version    string `json:"version"`
	Extensions string `json:"extensions"`
	Echoed     int    `json:"echoed"`
	Error      string `json:"error"`
}

// scriptFlags writes plan into a file of t's and returns the flags of a
// deflate client script that follows it and, over TLS, trusts the test
// certificate.
func scriptFlags(t *testing.T, srv *testServer, plan deflatePlan) []string {
	t.Helper()
	flags := []string{"--plan", writePlan(t, plan)}
	if srv.tr.TLS {
		flags = append(flags, "--cafile", caFile(t))
	}
	return flags
}

// runDeflateScript runs a deflate client script (argv, with its flags from
// scriptFlags) on a connection to path, following plan, and returns its
// report. It may be called from any goroutine: it does not fail t.
func runDeflateScript(t *testing.T, srv *testServer, dir, path string, plan deflatePlan, argv ...string) (deflateReport, error) {
	argv = append(argv, srv.url(path))
	out, runErr := runOutput(t, scriptTimeout, dir, argv...)
	var rep deflateReport
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		return rep, fmt.Errorf("no JSON report on the script's last line: %v\n%v", err, runErr)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("client %s %s: %s (after %d echoes)", rep.Client, rep.Version, rep.Error, rep.Echoed)
	}
	if runErr != nil {
		return rep, fmt.Errorf("the script failed although it reports no error: %v", runErr)
	}
	if rep.Echoed != plan.echoes() {
		return rep, fmt.Errorf("%d messages echoed, want %d", rep.Echoed, plan.echoes())
	}
	return rep, nil
}

// scriptVariant is a way to run a deflate client script, and the answer
// the server owes its offer, by deflateServers entry.
type scriptVariant struct {
	name   string
	flags  []string
	answer [3]string
}

// Answers to the offer "permessage-deflate; client_max_window_bits", which
// Chromium, Node's ws and Python's websockets send by default.
var defaultAnswers = [3]string{
	"permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
	"permessage-deflate; client_max_window_bits=15",
	"permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
}

// checkScript runs the deflate script argv in every variant against each
// server and checks the answer the client saw, the echoes, and the
// server's side: the connection compressed and ended with the client's
// 1000 "done". It also runs the client's interop checks (checksArgv, as
// TestNode and TestPython run them) with compression on: messages up to
// 1 MiB, fragmented compressed messages, pings and closes.
func checkScript(t *testing.T, dir string, argv, checksArgv []string, variants []scriptVariant) {
	t.Helper()
	plan := deflatePlan{Messages: deflateMessages()}
	forEachDeflateServer(t, func(t *testing.T, tr transport, si int, z *engine.Compression) {
		srv := startHandlerServer(t, tr, z, newEchoServer())
		t.Run("checks", func(t *testing.T) {
			runScript(t, srv, dir, checksArgv...)
			for _, c := range scriptChecks {
				srv.wantCompressed(t, "/"+t.Name()+"/"+c.name)
			}
		})
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				path := "/" + t.Name()
				args := append(append(append([]string(nil), argv...), v.flags...), scriptFlags(t, srv, plan)...)
				rep, err := runDeflateScript(t, srv, dir, path, plan, args...)
				if err != nil {
					t.Error(err)
				}
				if rep.Extensions != v.answer[si] {
					t.Errorf("the client saw the answer %q, want %q", rep.Extensions, v.answer[si])
				}
				t.Logf("%s %s: %d messages echoed, answer %q", rep.Client, rep.Version, rep.Echoed, rep.Extensions)
				srv.wantClosed(t, path, wsproto.CloseNormal, "done")
				srv.wantCompressed(t, path)
			})
		}
	})
}

func TestNodeDeflate(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	requireComponent(t, "Node.js (node)", err)
	requireComponent(t, "the ws package in interop/node", installNodeModules(t))
	checkScript(t, nodeDir, []string{node, "deflate.mjs"}, []string{node, "client.mjs"}, []scriptVariant{
		{"default", nil, defaultAnswers},
		{"clientNoContextTakeover", []string{"--client-no-context-takeover"}, [3]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9",
		}},
		{"serverNoContextTakeover", []string{"--server-no-context-takeover"}, [3]string{
			"permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
		}},
		{"serverMaxWindowBits 9", []string{"--server-max-window-bits", "9"}, [3]string{
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=15",
			"permessage-deflate; server_max_window_bits=9; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
		}},
	})
}

func TestPythonDeflate(t *testing.T) {
	t.Parallel()
	_, err := runOutput(t, scriptTimeout, ".", python, "-c", "import websockets")
	requireComponent(t, "Python's websockets for "+python+" (Debian package python3-websockets)", err)
	script, err := filepath.Abs(filepath.Join("testdata", "deflate.py"))
	if err != nil {
		t.Fatal(err)
	}
	checks, err := filepath.Abs(filepath.Join("testdata", "client.py"))
	if err != nil {
		t.Fatal(err)
	}
	checkScript(t, ".", []string{python, script}, []string{python, checks}, []scriptVariant{
		{"default", nil, defaultAnswers},
		{"client_no_context_takeover", []string{"--client-no-context-takeover"}, [3]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9",
		}},
		{"server_max_window_bits=8", []string{"--server-max-window-bits", "8"}, [3]string{
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
			"permessage-deflate; server_max_window_bits=8; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
		}},
	})
}

// compressedFrames counts the data messages among hs whose first frame has
// RSV1 set, and fails on RSV bits anywhere else.
func compressedFrames(hs []wsproto.Header) (int, error) {
	n, inMessage := 0, false
	for _, h := range hs {
		first := !h.Op.IsControl() && h.Op != wsproto.OpContinuation
		switch {
		case h.Rsv == 0b100 && first:
			n++
		case h.Rsv != 0:
			return n, fmt.Errorf("RSV %03b on a %v frame (in a message: %v)", h.Rsv, h.Op, inMessage)
		}
		if !h.Op.IsControl() {
			inMessage = !h.Fin
		}
	}
	return n, nil
}

// checkWire checks that the client sent and the server answered with
// compressed messages (at least the three 100 KiB JSON messages of
// deflateMessages each way), RSV1 on first frames only.
func checkWire(t *testing.T, tap *wireTap) {
	t.Helper()
	for _, side := range []struct {
		name   string
		frames func() ([]wsproto.Header, error)
	}{{"client", tap.frames}, {"server", tap.serverFrames}} {
		hs, err := side.frames()
		if err != nil {
			t.Errorf("%s frames: %v", side.name, err)
			continue
		}
		n, err := compressedFrames(hs)
		if err != nil {
			t.Errorf("%s frames: %v", side.name, err)
		}
		if n < 3 {
			t.Errorf("the %s sent %d messages compressed, want most", side.name, n)
		}
		t.Logf("%s: %d of %d frames begin a compressed message", side.name, n, len(hs))
	}
}

func TestGorillaDeflate(t *testing.T) {
	t.Parallel()
	msgs := deflateMessages()
	// gorilla offers and takes no context takeover only.
	const answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	forEachDeflateServer(t, func(t *testing.T, tr transport, _ int, z *engine.Compression) {
		srv := startHandlerServer(t, tr, z, newEchoServer())
		tap := &wireTap{}
		c, h, path := gorillaDialHeader(t, srv, websocket.Dialer{EnableCompression: true, NetDialContext: tap.dial, NetDialTLSContext: tap.dialTLS})
		if got := h.Get("Sec-WebSocket-Extensions"); got != answer {
			t.Fatalf("answer %q, want %q", got, answer)
		}
		for i, m := range msgs {
			if err := c.WriteMessage(int(m.typ()), m.Data); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			gorillaExpectEcho(t, c, m.typ(), m.Data)
		}
		checkWire(t, tap)
		gorillaClose(t, c, wsproto.CloseNormal, "done")
		srv.wantClosed(t, path, wsproto.CloseNormal, "done")
		srv.wantCompressed(t, path)
	})
}

func TestCoderDeflate(t *testing.T) {
	t.Parallel()
	msgs := deflateMessages()
	modes := []struct {
		name   string
		mode   coder.CompressionMode
		answer [3]string
	}{
		{"context takeover", coder.CompressionContextTakeover, [3]string{
			"permessage-deflate; server_no_context_takeover",
			"permessage-deflate",
			"permessage-deflate; server_no_context_takeover",
		}},
		{"no context takeover", coder.CompressionNoContextTakeover, [3]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		}},
	}
	forEachDeflateServer(t, func(t *testing.T, tr transport, si int, z *engine.Compression) {
		srv := startHandlerServer(t, tr, z, newEchoServer())
		for _, md := range modes {
			t.Run(md.name, func(t *testing.T) {
				tap := &wireTap{}
				ctx, c, h, path := coderDialCompression(t, srv, tap, md.mode)
				if got := h.Get("Sec-WebSocket-Extensions"); got != md.answer[si] {
					t.Fatalf("answer %q, want %q", got, md.answer[si])
				}
				for i, m := range msgs {
					if err := c.Write(ctx, coderType(m.typ()), m.Data); err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					coderExpectEcho(t, ctx, c, m.typ(), m.Data)
				}
				checkWire(t, tap)
				coderClose(t, c, wsproto.CloseNormal, "done")
				srv.wantClosed(t, path, wsproto.CloseNormal, "done")
				srv.wantCompressed(t, path)
			})
		}
	})
}

// TestChromiumDeflate echoes deflateMessages from a page in headless
// Chromium, which offers permessage-deflate by itself: the page reports
// the extensions its WebSocket negotiated and checks every echo.
func TestChromiumDeflate(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")
	msgs := deflateMessages()
	forEachDeflateServer(t, func(t *testing.T, tr transport, si int, z *engine.Compression) {
		srv := startHandlerServer(t, tr, z, newEchoServer())
		const path = "/chromium"
		wsURL := fmt.Sprintf("%s://localhost:%d%s", tr.Name, srv.Addr().Port(), path)
		pages := httptest.NewServer(newPageServer(deflatePage, deflatePageData{URL: wsURL, Messages: msgs}))
		t.Cleanup(pages.Close)

		var res deflatePageResult
		loadPage(t, chromium, tr, pages.URL+"/", &res)
		want := deflatePageResult{Extensions: defaultAnswers[si], Echoed: len(msgs), Code: 1000, WasClean: true}
		if res != want {
			t.Errorf("the page reports %+v\nwant %+v", res, want)
		}
		srv.wantClosed(t, path, wsproto.CloseNormal, "done")
		srv.wantCompressed(t, path)
	})
}

// deflatePageData is what deflatePage is executed with.
type deflatePageData struct {
	URL      string
	Messages []planMessage
}

// deflatePageResult is what deflatePage reports.
type deflatePageResult struct {
	Extensions string `json:"extensions"` // the WebSocket's extensions attribute
	Echoed     int    `json:"echoed"`
	Error      string `json:"error"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	WasClean   bool   `json:"wasClean"`
}

// deflatePage sends each message and waits for its echo, which must be
// the same string (text) or bytes (binary), then closes with 1000 "done"
// and reports as JSON in #result (pageEnd).
var deflatePage = template.Must(template.New("deflate").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>wssd permessage-deflate</title></head>
<body><pre id="result">pending</pre>
<script>
const plan = {{.}};
const result = {extensions: "", echoed: 0, error: ""};
function decode(m) {
  const s = atob(m.data || "");
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return m.binary ? b : new TextDecoder("utf-8", {fatal: true}).decode(b);
}
function same(got, want) {
  if (typeof want === "string") return got === want;
  if (!(got instanceof ArrayBuffer) || got.byteLength !== want.length) return false;
  const g = new Uint8Array(got);
  return g.every((v, i) => v === want[i]);
}
const ws = new WebSocket(plan.URL);
ws.binaryType = "arraybuffer";
let want;
function next() {
  if (result.echoed === plan.Messages.length) {
    ws.close(1000, "done");
    return;
  }
  want = decode(plan.Messages[result.echoed]);
  ws.send(want);
}
ws.onopen = () => { result.extensions = ws.extensions; next(); };
ws.onmessage = (e) => {
  if (!same(e.data, want)) {
    result.error = "message " + result.echoed + " came back different";
    ws.close(1000, "done");
    return;
  }
  result.echoed++;
  next();
};
ws.onerror = () => { result.error = result.error || "an error event"; };
` + pageEnd))

// readyBroadcaster echoes like echoServer, but holds the text "ready"
// until want connections have sent it, and then broadcasts msg, prepared
// once, to them.
type readyBroadcaster struct {
	*echoServer
	srv  atomic.Pointer[engine.Server] // set once started
	want int
	msg  planMessage

	mu    sync.Mutex
	ready []*engine.Conn
}

func (b *readyBroadcaster) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	if typ != engine.Text || string(data) != "ready" {
		b.echoServer.OnMessage(c, typ, data)
		return
	}
	b.mu.Lock()
	b.ready = append(b.ready, c)
	conns := append([]*engine.Conn(nil), b.ready...)
	b.mu.Unlock()
	if len(conns) != b.want {
		return
	}
	srv := b.srv.Load()
	pm, err := srv.Prepare(b.msg.typ(), b.msg.Data)
	if err == nil {
		err = srv.Broadcast(pm, conns)
	}
	if err != nil {
		_ = c.Close(wsproto.CloseInternalError, err.Error())
	}
}

// TestBroadcastDeflate has gorilla, Node's ws and Python's websockets
// connected at once, each with permessage-deflate, receive one message
// prepared and compressed once and broadcast. Each echoes messages before
// and after it, which repeat it: a server that keeps its context (the Node
// and Python clients let it) must count the broadcast message in its
// window, as the clients do, or its references back into what came before
// point at the wrong bytes.
func TestBroadcastDeflate(t *testing.T) {
	t.Parallel()
	node, nodeErr := exec.LookPath("node")
	requireComponent(t, "Node.js (node)", nodeErr)
	requireComponent(t, "the ws package in interop/node", installNodeModules(t))
	_, pyErr := runOutput(t, scriptTimeout, ".", python, "-c", "import websockets")
	requireComponent(t, "Python's websockets for "+python+" (Debian package python3-websockets)", pyErr)
	script, err := filepath.Abs(filepath.Join("testdata", "deflate.py"))
	if err != nil {
		t.Fatal(err)
	}
	msg := planMessage{Data: chatJSON(5000, 42)}
	before := planMessage{Data: chatJSON(3000, 43)}
	plan := deflatePlan{
		Messages:  []planMessage{before},
		Broadcast: &msg,
		After: []planMessage{
			before,
			{Data: append(bytes.Clone(msg.Data[:4000]), " and more"...)},
			{Data: msg.Data},
			{Binary: true, Data: msg.Data[1000:]},
		},
	}
	forEachDeflateServer(t, func(t *testing.T, tr transport, _ int, z *engine.Compression) {
		h := &readyBroadcaster{echoServer: newEchoServer(), want: 3, msg: msg}
		srv := startHandlerServer(t, tr, z, h)
		h.srv.Store(srv.Server)

		scripts := []struct {
			name, dir string
			argv      []string
		}{{"node", nodeDir, []string{node, "deflate.mjs"}}, {"python", ".", []string{python, script}}}
		flags := scriptFlags(t, srv, plan)
		errs := make([]error, len(scripts))
		var wg sync.WaitGroup
		for i, s := range scripts {
			wg.Go(func() {
				var rep deflateReport
				rep, errs[i] = runDeflateScript(t, srv, s.dir, "/"+s.name, plan, append(s.argv, flags...)...)
				if errs[i] == nil && !strings.HasPrefix(rep.Extensions, "permessage-deflate") {
					errs[i] = fmt.Errorf("answer %q", rep.Extensions)
				}
			})
		}

		c, hdr, _ := gorillaDialHeader(t, srv, websocket.Dialer{EnableCompression: true})
		if !strings.HasPrefix(hdr.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
			t.Errorf("gorilla: answer %q", hdr.Get("Sec-WebSocket-Extensions"))
		}
		echo := func(msgs []planMessage) {
			for _, m := range msgs {
				if err := c.WriteMessage(int(m.typ()), m.Data); err != nil {
					t.Fatal(err)
				}
				gorillaExpectEcho(t, c, m.typ(), m.Data)
			}
		}
		echo(plan.Messages)
		if err := c.WriteMessage(websocket.TextMessage, []byte("ready")); err != nil {
			t.Fatal(err)
		}
		gorillaExpectEcho(t, c, msg.typ(), msg.Data)
		echo(plan.After)
		gorillaClose(t, c, wsproto.CloseNormal, "done")
		wg.Wait()
		for i, s := range scripts {
			if errs[i] != nil {
				t.Errorf("%s: %v", s.name, errs[i])
				continue
			}
			srv.wantClosed(t, "/"+s.name, wsproto.CloseNormal, "done")
			srv.wantCompressed(t, "/"+s.name)
		}
	})
}
