// Command greeter is the library example of wssd's README: a WebSocket
// server that asks who you are in the handshake and greets you by name.
//
//	go run ./examples/greeter    # then connect to ws://127.0.0.1:8282/wss?user=tom
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/wsproto"
)

type greeter struct{ engine.NopHandler }

// OnHandshake is Workerman's onWebSocketConnect: authenticate, pick a
// subprotocol, attach a per-connection value, or reject with a status.
func (greeter) OnHandshake(c *engine.Conn, h *engine.Handshake) error {
	user := h.Query().Get("user")
	if user == "" {
		return &wsproto.RejectError{Status: 401, Reason: "who are you?"}
	}
	c.SetValue(user) // GatewayWorker's $_SESSION
	return nil
}

// OnMessage runs on the event loop; data is valid only during the call.
func (greeter) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	_ = c.Send(typ, fmt.Appendf(nil, "hello %s, you said %q", c.Value(), data))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8282", "host:port to listen on")
	certFile := flag.String("cert", "", "PEM certificate chain: serve wss (with -key)")
	keyFile := flag.String("key", "", "PEM private key of -cert")
	flag.Parse()

	var tlsConfig *tls.Config // nil: plain ws
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// Catch SIGINT and SIGTERM before listening: Start returns at once, and
	// the server runs on its event loops until Shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := engine.New(engine.Config{Path: "/wss", TLS: tlsConfig}, greeter{})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(*listen); err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %v", srv.Addr())

	failed := make(chan error, 1)
	go func() { failed <- srv.Wait() }()
	select {
	case <-ctx.Done():
	case err := <-failed:
		log.Fatal(err) // the event loops stopped by themselves
	}

	log.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// 1001 to everyone, then wait (bounded) for the closing handshakes.
	if err := srv.Shutdown(sctx); err != nil {
		log.Print(err)
	}
	log.Print("stopped")
}
