package tlsconn_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/wssd/wssd/tlsconn"
)

// Example drives a server Conn the way an event loop does: bytes from the
// socket go to Feed, whatever Outbound holds goes back to the socket, and
// once the handshake is complete AppendPlaintext yields the client's data.
// Here one goroutine stands in for the loop, and a channel for its wakeups.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() { // an ordinary crypto/tls client
		c, err := tls.Dial("tcp", ln.Addr().String(), clientConfig(tls.VersionTLS13))
		if err != nil {
			panic(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("tom"))
		reply := make([]byte, len("TOM"))
		_, _ = io.ReadFull(c, reply)
		fmt.Printf("client got %s\n", reply)
	}()
	sock, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	defer sock.Close()

	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	defer h.Close()
	events := make(chan []byte, 16) // socket reads and wakeups (nil), in order
	// The client's handshakes count against its address's share.
	peer := sock.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	conn := tlsconn.Server(serverConfig(), h, peer, func() { events <- nil })
	defer conn.Close()
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			events <- buf[:n]
		}
	}()
	send := func() {
		for out := conn.Outbound(); len(out) > 0; out = conn.Outbound() {
			_, _ = sock.Write(out)
			conn.DiscardOutbound(len(out))
		}
	}
	for ev := range events {
		if ev != nil {
			if err := conn.Feed(ev); err != nil {
				panic(err)
			}
		}
		send()
		if done, err := conn.HandshakeComplete(); !done || err != nil {
			continue
		}
		plain, _ := conn.AppendPlaintext(nil)
		if len(plain) == 0 {
			continue
		}
		fmt.Printf("server got %s over TLS 1.3: %v\n", plain, conn.ConnectionState().Version == tls.VersionTLS13)
		_, _ = conn.Write([]byte(strings.ToUpper(string(plain))))
		send()
		break
	}
	_, _ = io.Copy(io.Discard, sock) // until the client hangs up
	// Output:
	// server got tom over TLS 1.3: true
	// client got TOM
}

// A server starts from HardenedConfig and adds its certificate and ALPN.
func ExampleHardenedConfig() {
	cfg := tlsconn.HardenedConfig()
	cfg.Certificates = serverConfig().Certificates
	cfg.NextProtos = []string{"http/1.1"}
	for _, id := range cfg.CipherSuites[:2] {
		fmt.Println(tls.CipherSuiteName(id))
	}
	fmt.Println("curves:", cfg.CurvePreferences) // nil: Go's defaults, X25519MLKEM768 first
	// Output:
	// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	// curves: []
}

// A server that shuts down aborts the handshakes in flight at once and
// waits for their goroutines only as long as its deadline allows.
func ExampleHandshaker_Wait() {
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	// ... Server(cfg, h, peer, wake) for each connection ...
	h.Close() // refuses new handshakes and aborts the others, without waiting
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Wait(ctx); err != nil {
		fmt.Println("a handshake goroutine is still in a tls.Config callback:", err)
		return
	}
	fmt.Println("no handshake goroutine left")
	// Output: no handshake goroutine left
}

// A server behind a load balancer that sends the PROXY protocol learns the
// client's address only from the header: it names the client before
// feeding the first TLS byte, so the handshake counts against the client's
// share of handshake slots, not the load balancer's.
func ExampleConn_SetPeer() {
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	defer h.Close()
	lb := netip.MustParseAddr("10.0.0.1")
	conn := tlsconn.Server(serverConfig(), h, lb, func() {})
	defer conn.Close()
	// ... the PROXY header announced 203.0.113.7 ...
	conn.SetPeer(netip.MustParseAddr("203.0.113.7"))
	// ... then conn.Feed(the bytes after the header) ...
}
