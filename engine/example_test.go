package engine_test

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// greeter authenticates in the handshake hook, remembers the user as the
// connection's value and answers every message with a greeting.
type greeter struct{ engine.NopHandler }

func (greeter) OnHandshake(c *engine.Conn, h *engine.Handshake) error {
	user := h.Query().Get("user")
	if user == "" {
		return &wsproto.RejectError{Status: http.StatusUnauthorized, Reason: "who are you?"}
	}
	c.SetValue(user)
	return nil
}

func (greeter) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	// data is valid only during this call; Send copies it.
	_ = c.Send(typ, fmt.Appendf(nil, "hello %s, you said %q", c.Value(), data))
}

func Example() {
	srv, err := engine.New(engine.Config{Path: "/wss"}, greeter{})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	// Any WebSocket client will do; this one is wssd's test client.
	c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Path: "/wss?user=tom"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Write(wstest.Message(wsproto.OpText, []byte("tom")))
	_, reply, _ := c.ReadMessage(time.Second)
	fmt.Println(string(reply))
	// Output: hello tom, you said "tom"
}

func ExampleServer_Shutdown() {
	srv, _ := engine.New(engine.Config{}, engine.NopHandler{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	c, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
	defer c.Close()

	go func() {
		// Peers get 1001 and answer; Shutdown returns when all have.
		code, _, _ := c.ReadClose(time.Second)
		fmt.Println("client got", code)
		_ = c.Write(wstest.Message(wsproto.OpClose, []byte{0x03, 0xe9}))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	// Output: client got 1001 (going away)
	// shutdown: <nil>
}

func ExampleConn_Send() {
	// Send is safe from any goroutine: here a ticker pushes to a connection
	// that OnOpen handed over.
	opened := make(chan *engine.Conn, 1)
	srv, _ := engine.New(engine.Config{}, pusher{opened})
	_ = srv.Start("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	c, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
	defer c.Close()
	conn := <-opened
	for i := range 3 {
		if err := conn.Send(engine.Text, fmt.Appendf(nil, "tick %d", i)); err != nil {
			fmt.Println(err) // engine.ErrBufferFull when the peer does not keep up
		}
	}
	for range 3 {
		_, msg, _ := c.ReadMessage(time.Second)
		fmt.Println(string(msg))
	}
	// Output: tick 0
	// tick 1
	// tick 2
}

type pusher struct{ opened chan *engine.Conn }

func (pusher) OnHandshake(*engine.Conn, *engine.Handshake) error  { return nil }
func (p pusher) OnOpen(c *engine.Conn)                            { p.opened <- c }
func (pusher) OnMessage(*engine.Conn, engine.MessageType, []byte) {}
func (pusher) OnClose(*engine.Conn, error)                        {}
func (pusher) OnBufferFull(*engine.Conn)                          {}
func (pusher) OnBufferDrain(*engine.Conn)                         {}

// ExampleConfig_behindProxy: behind a load balancer that appends the
// client's address to X-Forwarded-For (AWS ALB, Google, Cloudflare, Envoy),
// name that header and the balancer's addresses; an X-Real-IP the client
// wrote itself is never read.
func ExampleConfig_behindProxy() {
	ips := make(chan string, 1)
	srv, _ := engine.New(engine.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RealIPHeader:   engine.SourceXForwardedFor,
	}, clientIPs{ips})
	_ = srv.Start("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	// What the balancer forwards: the client's forged headers, and its
	// real address appended to X-Forwarded-For.
	forged := http.Header{"X-Real-Ip": {"6.6.6.6"}, "X-Forwarded-For": {"6.6.6.7, 203.0.113.7"}}
	c, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Header: forged})
	defer c.Close()
	fmt.Println(<-ips)
	// Output: 203.0.113.7 from x-forwarded-for
}

type clientIPs struct{ ips chan string }

func (h clientIPs) OnHandshake(_ *engine.Conn, hs *engine.Handshake) error {
	h.ips <- fmt.Sprint(hs.ClientIP, " from ", hs.ClientIPSource)
	return nil
}
func (clientIPs) OnOpen(*engine.Conn)                                {}
func (clientIPs) OnMessage(*engine.Conn, engine.MessageType, []byte) {}
func (clientIPs) OnClose(*engine.Conn, error)                        {}
func (clientIPs) OnBufferFull(*engine.Conn)                          {}
func (clientIPs) OnBufferDrain(*engine.Conn)                         {}

// ExampleConfig_allowedOrigins: a cookie-authenticated app lets only its
// own pages open WebSockets.
func ExampleConfig_allowedOrigins() {
	srv, _ := engine.New(engine.Config{
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.com"},
	}, engine.NopHandler{})
	_ = srv.Start("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	for _, origin := range []string{"https://app.example.com", "https://evil.example"} {
		c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Header: http.Header{"Origin": {origin}}})
		if err != nil {
			fmt.Println(origin, err)
			continue
		}
		fmt.Println(origin, "upgraded")
		c.Close()
	}
	// Output: https://app.example.com upgraded
	// https://evil.example handshake refused: 403 Forbidden: Origin "https://evil.example" is not allowed
}

// ExampleIPSource_UnmarshalText: an IPSource is a flag, as wssd's
// -real-ip-header.
func ExampleIPSource_UnmarshalText() {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var header engine.IPSource
	fs.TextVar(&header, "real-ip-header", engine.SourceXRealIP, "the one client-IP source the trusted proxies set")
	_ = fs.Parse([]string{"-real-ip-header", "X-Forwarded-For"})
	fmt.Println(header, header == engine.SourceXForwardedFor)
	// Output: x-forwarded-for true
}

// A server open to the internet: no client address holds more than two
// connections, and a storm of clients reconnecting after a restart is let
// in at 500 a second, 100 at once.
func ExampleConfig_admission() {
	srv, _ := engine.New(engine.Config{MaxConnsPerIP: 2, AcceptRate: 500, AcceptBurst: 100}, engine.NopHandler{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for i := 1; i <= 3; i++ {
		c, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
		if err != nil {
			fmt.Println("connection", i, "refused")
			continue
		}
		defer c.Close()
		fmt.Println("connection", i, "open")
	}
	// Output: connection 1 open
	// connection 2 open
	// connection 3 refused
}

// room sends every message it receives to all its members, framed and
// compressed once.
type room struct {
	engine.NopHandler
	srv     atomic.Pointer[engine.Server]
	mu      sync.Mutex
	members []*engine.Conn
}

func (r *room) OnOpen(c *engine.Conn) {
	r.mu.Lock()
	r.members = append(r.members, c)
	r.mu.Unlock()
}

func (r *room) OnMessage(_ *engine.Conn, typ engine.MessageType, data []byte) {
	pm, err := r.srv.Load().Prepare(typ, data) // copies data
	if err != nil {
		return
	}
	r.mu.Lock()
	members := slices.Clone(r.members)
	r.mu.Unlock()
	_ = r.srv.Load().Broadcast(pm, members)
}

func ExampleServer_Broadcast() {
	r := &room{}
	srv, err := engine.New(engine.Config{Compression: &engine.Compression{}}, r)
	if err != nil {
		log.Fatal(err)
	}
	r.srv.Store(srv)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	// One member offers compression as a browser does, the other does not.
	offer := http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}}
	browser, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Header: offer})
	defer browser.Close()
	plain, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{})
	defer plain.Close()
	fmt.Println("negotiated:", browser.Response.Header.Get("Sec-WebSocket-Extensions"))

	msg := strings.Repeat(`{"event":"message","data":"hello"}`, 10)
	_ = plain.Write(wstest.Message(wsproto.OpText, []byte(msg)))
	for _, c := range []*wstest.Client{browser, plain} {
		h, payload, _ := c.ReadFrame(time.Second)
		fmt.Printf("compressed %v: %d bytes on the wire for %d\n", h.Rsv != 0, len(payload), len(msg))
	}
	// Output:
	// negotiated: permessage-deflate; server_no_context_takeover; client_max_window_bits=15
	// compressed true: 41 bytes on the wire for 340
	// compressed false: 340 bytes on the wire for 340
}

func ExampleServer_Stats() {
	srv, _ := engine.New(engine.Config{Path: "/wss"}, echo{})
	_ = srv.Start("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	c, _ := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Path: "/wss"})
	defer c.Close()
	_ = c.Write(wstest.Message(wsproto.OpText, []byte("hi")))
	_, _, _ = c.ReadMessage(time.Second)
	refused, err := wstest.Dial(srv.Addr().String(), wstest.DialOptions{Path: "/chat"})
	fmt.Println(err != nil)
	refused.Close() // the 404's connection

	// Stats may be called from any goroutine, a metrics scrape say; the
	// refused upgrade is counted once the server has read its request.
	st := srv.Stats()
	for st.UpgradeRefused[404] == 0 {
		time.Sleep(time.Millisecond)
		st = srv.Stats()
	}
	fmt.Println("open:", st.Open, "messages in:", st.MessagesIn, "out:", st.MessagesOut)
	fmt.Println(engine.RefusedUpgrade, st.Refused[engine.RefusedUpgrade], "404:", st.UpgradeRefused[404])
	// Output: true
	// open: 1 messages in: 1 out: 1
	// upgrade 1 404: 1
}
