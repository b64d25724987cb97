package engine_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/wssd/wssd/engine"
)

// A server with an HTTP API beside its WebSocket endpoint, on one port: the
// requests that are not upgrades go to Config.HTTPHandler, which learns the
// client's address with HTTPClientOf.
func ExampleHTTPClientOf() {
	api := http.NewServeMux()
	api.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // at most Config.MaxHTTPBodyBytes
		client, _ := engine.HTTPClientOf(r)
		fmt.Fprintf(w, "%s from %s (%s)", body, client.IP, client.IPSource)
	})
	srv, err := engine.New(engine.Config{Path: "/wss", HTTPHandler: api}, engine.NopHandler{})
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

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://"+srv.Addr().String()+"/api/echo", "text/plain", strings.NewReader("hello"))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(reply))
	// Output: 200 hello from 127.0.0.1 (peer)
}
