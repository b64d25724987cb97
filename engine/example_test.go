package engine_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
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
