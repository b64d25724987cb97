package interop

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/wsproto"
)

// chromiumTimeout bounds one Chromium run, from its start to the page's
// result.
const chromiumTimeout = 60 * time.Second

// TestChromium runs a browser's WebSocket in headless Chromium: a
// page served over http from 127.0.0.1 opens a WebSocket to
// localhost:PORT/wss, sends "tom", takes the reply, sends an
// acknowledgement and closes with 1000 "done", then writes what happened
// into the DOM, which --dump-dom prints. The server checks its side: the
// page's Origin and Host, the messages, the closing handshake, and over wss
// the TLS the browser negotiated.
func TestChromium(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")

	forEachTransport(t, func(t *testing.T, tr transport) {
		h := newPageHandler()
		srv := startEngine(t, tr, engine.Config{Path: "/wss", EventLoops: 2, PingInterval: -1}, h)
		host := fmt.Sprintf("localhost:%d", srv.Addr().Port())
		wsURL := tr.Name + "://" + host + "/wss"
		pages := httptest.NewServer(newPageServer(page, wsURL))
		t.Cleanup(pages.Close)

		res := runPage(t, chromium, tr, pages.URL+"/")
		// The close event carries the server's answer to the page's close:
		// the engine echoes the code, without a reason.
		want := pageResult{URL: wsURL, Opened: true, Reply: "hello tom", Code: 1000, WasClean: true}
		if res != want {
			report := t.Errorf
			if !res.Opened {
				report = t.Fatalf // the server has nothing to check
			}
			report("the page reports %+v\nwant %+v", res, want)
		}

		pc := h.conn(t)
		if pc.origin != pages.URL {
			t.Errorf("server: Origin %q, want the page's %q", pc.origin, pages.URL)
		}
		if pc.host != host {
			t.Errorf("server: Host %q, want %q", pc.host, host)
		}
		if want := []string{"tom", "got hello tom"}; !slices.Equal(pc.messages, want) {
			t.Errorf("server: received %q, want %q (the second one is the page's acknowledgement of the reply)", pc.messages, want)
		}
		if err := checkCloseErr(pc.closeErr, wsproto.CloseNormal, "done"); err != nil {
			t.Errorf("server OnClose: %v", err)
		}
		switch {
		case !tr.TLS && pc.tls != nil:
			t.Errorf("server: TLS state %+v on plain ws", pc.tls)
		case tr.TLS && pc.tls == nil:
			t.Error("server: no TLS state over wss")
		case tr.TLS:
			if pc.tls.Version != tls.VersionTLS13 || pc.tls.ServerName != "localhost" {
				t.Errorf("server: %s with SNI %q, want TLS 1.3 with SNI localhost", tls.VersionName(pc.tls.Version), pc.tls.ServerName)
			}
			t.Logf("server: %s, %s, ALPN %q", tls.VersionName(pc.tls.Version), tls.CipherSuiteName(pc.tls.CipherSuite), pc.tls.NegotiatedProtocol)
		}
	})
}

// TestChromiumOrigin: cross-site WebSocket hijacking, with a real browser.
// The same page opens a WebSocket to a server whose AllowedOrigins lists
// the page's origin, and to one that lists another: the first talks, the
// second refuses the handshake with 403 before the handler sees it, and
// the page gets only an error and close code 1006.
func TestChromiumOrigin(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")

	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tc := range []struct {
			name    string
			allowed func(pageOrigin string) []string
			want    pageResult // URL aside
		}{
			{"page's origin allowed", func(o string) []string { return []string{"https://app.example.com", o} },
				pageResult{Opened: true, Reply: "hello tom", Code: 1000, WasClean: true}},
			{"other origin only", func(string) []string { return []string{"https://app.example.com", "http://*.example.com"} },
				pageResult{Error: true, Code: 1006}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newPageHandler()
				// The page server's address comes first: its origin is
				// what the WebSocket server allows or not.
				pages := httptest.NewUnstartedServer(nil)
				t.Cleanup(pages.Close)
				origin := "http://" + pages.Listener.Addr().String()
				srv := startEngine(t, tr, engine.Config{Path: "/wss", EventLoops: 2, PingInterval: -1, AllowedOrigins: tc.allowed(origin)}, h)
				wsURL := fmt.Sprintf("%s://localhost:%d/wss", tr.Name, srv.Addr().Port())
				pages.Config.Handler = newPageServer(page, wsURL)
				pages.Start()

				res := runPage(t, chromium, tr, pages.URL+"/")
				want := tc.want
				want.URL = wsURL
				if res != want {
					t.Errorf("the page reports %+v\nwant %+v", res, want)
				}
				h.mu.Lock()
				n := len(h.conns)
				h.mu.Unlock()
				if wantConns := map[bool]int{true: 1, false: 0}[want.Opened]; n != wantConns {
					t.Errorf("OnHandshake ran %d times, want %d", n, wantConns)
				}
			})
		}
	})
}

// runPage loads url in a fresh headless Chromium and returns the result the
// page wrote into its DOM. Over wss Chromium trusts the test certificate's
// key, and only it.
func runPage(t *testing.T, chromium string, tr transport, url string) pageResult {
	t.Helper()
	var res pageResult
	loadPage(t, chromium, tr, url, &res)
	return res
}

// loadPage is runPage for any page: it decodes the JSON the page wrote into
// its #result into res.
func loadPage(t *testing.T, chromium string, tr transport, url string, res any) {
	t.Helper()
	argv := []string{
		chromium,
		"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic",
		"--user-data-dir=" + t.TempDir(),
		// --dump-dom prints the DOM once the page has loaded, which its
		// /wait script holds up until the WebSocket is done.
		"--dump-dom",
	}
	if tr.TLS {
		argv = append(argv, "--ignore-certificate-errors-spki-list="+testSPKIHash(t))
	}
	argv = append(argv, url)
	out, err := runOutput(t, chromiumTimeout, t.TempDir(), argv...)
	if err != nil {
		t.Fatal(err)
	}
	m := resultRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no result in the page's DOM:\n%s", out)
	}
	if text := html.UnescapeString(string(m[1])); text == "pending" {
		t.Fatalf("the page has no result yet: its WebSocket never closed:\n%s", out)
	} else if err := json.Unmarshal([]byte(text), res); err != nil {
		t.Fatalf("the page's result %q: %v", text, err)
	}
}

// resultRE finds the text of the page's #result in Chromium's --dump-dom.
var resultRE = regexp.MustCompile(`<pre id="result">([^<]*)</pre>`)

// testSPKIHash returns the base64 SHA-256 of the test certificate's public
// key, as Chromium's --ignore-certificate-errors-spki-list takes it.
func testSPKIHash(t *testing.T) string {
	t.Helper()
	cert := testpki.Get().ServerConfig().Certificates[0]
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return spkiHash(leaf)
}

// pageResult is what the page reports about its WebSocket.
type pageResult struct {
	URL      string `json:"url"`
	Opened   bool   `json:"opened"`
	Reply    string `json:"reply"`
	Error    bool   `json:"error"` // an error event
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	WasClean bool   `json:"wasClean"`
}

// pageWait bounds how long the page server holds up the page's load for
// the WebSocket's result.
const pageWait = 20 * time.Second

// newPageServer returns the handler of a test page, tmpl executed with
// data: page talks to the WebSocket at the URL data. The page's load, and with it Chromium's --dump-dom,
// waits for its /wait script, which the server sends when the page has
// POSTed /done after writing its result, or after pageWait. (Headless
// Chromium's --virtual-time-budget does not wait for a WebSocket.)
func newPageServer(tmpl *template.Template, data any) http.Handler {
	done := make(chan struct{})
	markDone := sync.OnceFunc(func() { close(done) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = tmpl.Execute(w, data)
	})
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-time.After(pageWait):
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = io.WriteString(w, "// the WebSocket is done\n")
	})
	mux.HandleFunc("POST /done", func(w http.ResponseWriter, r *http.Request) {
		markDone()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// page is the test page, executed with the WebSocket's URL: a plain
// WebSocket exchange, which then reports the WebSocket's life as JSON in
// #result once it has closed, and tells the server it is done. The /wait
// script blocks the parser, so the page does not finish loading before.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>wssd interop</title></head>
<body><pre id="result">pending</pre>
<script>
const result = {url: {{.}}};
const ws = new WebSocket(result.url);
ws.onopen = () => { result.opened = true; ws.send("tom"); };
ws.onmessage = (e) => {
  result.reply = e.data;
  ws.send("got " + e.data);
  ws.close(1000, "done");
};
ws.onerror = () => { result.error = true; };
` + pageEnd))

// pageEnd ends a test page's script, whose WebSocket is ws and whose report
// is result: when ws has closed, it adds the close event to result, writes
// it as JSON into #result and tells the server it is done. The /wait script
// after it blocks the parser, so the page does not finish loading before.
const pageEnd = `ws.onclose = (e) => {
  result.code = e.code;
  result.reason = e.reason;
  result.wasClean = e.wasClean;
  document.getElementById("result").textContent = JSON.stringify(result);
  fetch("/done", {method: "POST"});
};
</script>
<script src="/wait"></script>
</body></html>
`

// pageHandler is the server the page talks to: it answers a connection's
// first message with "hello " and the message, and records what it saw of
// each connection.
type pageHandler struct {
	engine.NopHandler

	mu     sync.Mutex
	conns  []*pageConn
	closed chan struct{} // a value per closed connection
}

// pageConn is what the server saw of one connection.
type pageConn struct {
	origin, host string
	tls          *tls.ConnectionState
	messages     []string
	closeErr     error
}

func newPageHandler() *pageHandler {
	return &pageHandler{closed: make(chan struct{}, 16)}
}

func (h *pageHandler) OnHandshake(c *engine.Conn, r *engine.Handshake) error {
	pc := &pageConn{origin: r.Header.Get("Origin"), host: r.Host, tls: c.TLSState()}
	c.SetValue(pc)
	h.mu.Lock()
	h.conns = append(h.conns, pc)
	h.mu.Unlock()
	return nil
}

func (h *pageHandler) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	pc := c.Value().(*pageConn)
	h.mu.Lock()
	pc.messages = append(pc.messages, string(data))
	first := len(pc.messages) == 1
	h.mu.Unlock()
	if first {
		_ = c.Send(typ, append([]byte("hello "), data...))
	}
}

func (h *pageHandler) OnClose(c *engine.Conn, err error) {
	pc := c.Value().(*pageConn)
	h.mu.Lock()
	pc.closeErr = err
	h.mu.Unlock()
	select {
	case h.closed <- struct{}{}:
	default:
	}
}

// conn waits until the server has seen one connection end and returns it;
// it fails the test if there were more.
func (h *pageHandler) conn(t *testing.T) pageConn {
	t.Helper()
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("server: no connection closed 10 s after the page's result")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) != 1 {
		t.Fatalf("server: %d connections, want the page's one", len(h.conns))
	}
	return *h.conns[0]
}
