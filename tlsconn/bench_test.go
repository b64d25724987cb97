package tlsconn_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/wssd/wssd/tlsconn"
)

// bareHandshake runs a handshake between crypto/tls's client and server over
// the given pipe, each on its own goroutine as blocking code would.
func bareHandshake(b *testing.B, client, server net.Conn, cfg *tls.Config) (*tls.Conn, *tls.Conn) {
	tc, ts := tls.Client(client, cfg), tls.Server(server, serverConfig())
	serverErr := make(chan error, 1)
	go func() { serverErr <- ts.Handshake() }()
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-serverErr; err != nil {
		b.Fatal(err)
	}
	return tc, ts
}

// BenchmarkHandshake compares a TLS 1.3 handshake with an ECDSA P-256
// certificate through the adapter with bare crypto/tls servers. Each
// operation includes the client's work, verification of the chain included.
func BenchmarkHandshake(b *testing.B) {
	cfg := clientConfig(tls.VersionTLS13)
	b.Run("adapter", func(b *testing.B) {
		h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
		defer h.Close()
		b.ReportAllocs()
		for b.Loop() {
			s, tc := handshake(b, h, cfg)
			s.conn.Close()
			tc.Close()
		}
	})
	b.Run("bare/net.Pipe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			client, server := net.Pipe()
			tc, ts := bareHandshake(b, client, server, cfg)
			// net.Pipe is synchronous: close both sides without waiting on
			// the other to read.
			client.Close()
			server.Close()
			tc.Close()
			ts.Close()
		}
	})
	b.Run("bare/bufPipe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			client, server := newBufPipe()
			tc, ts := bareHandshake(b, client, server, cfg)
			tc.Close()
			ts.Close()
		}
	})
}

// BenchmarkRecord512 measures an established TLS 1.3 connection's cost per
// 512 B record: encrypting one on the server, and the client encrypting one
// that the server decrypts.
func BenchmarkRecord512(b *testing.B) {
	cfg := clientConfig(tls.VersionTLS13)
	msg := payload(512)
	b.Run("adapter", func(b *testing.B) {
		h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
		defer h.Close()
		s, tc := handshake(b, h, cfg)
		defer s.conn.Close()
		s.in, s.pt = make([]byte, 0, 4096), make([]byte, 0, 4096)
		roundTrip(b, s, tc, msg, make([]byte, len(msg)))
		b.Run("encrypt", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				s.conn.Write(msg)
				s.conn.DiscardOutbound(len(s.conn.Outbound())) // as if sent
			}
		})
		b.Run("decrypt", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				tc.Write(msg)
				s.in, _ = s.side.drain(s.in[:0])
				s.conn.Feed(s.in)
				s.pt, _ = s.conn.AppendPlaintext(s.pt[:0])
			}
		})
	})
	b.Run("bare", func(b *testing.B) {
		client, server := newBufPipe()
		tc, ts := bareHandshake(b, client, server, cfg)
		defer tc.Close()
		defer ts.Close()
		buf, scratch := make([]byte, 4096), make([]byte, 0, 4096)
		if _, err := ts.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(tc, buf[:len(msg)]); err != nil { // and its tickets
			b.Fatal(err)
		}
		b.Run("encrypt", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				ts.Write(msg)
				scratch, _ = client.drain(scratch[:0]) // as if sent
			}
		})
		b.Run("decrypt", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				tc.Write(msg)
				ts.Read(buf)
			}
		})
	})
}

// BenchmarkDecrypt measures the server's cost to take in and decrypt one
// message of ciphertext, 512 B and 64 KiB (four full records and a small
// one), fed (copied) and then decrypted, or decrypted where it lies. Each
// operation includes the client's encryption.
func BenchmarkDecrypt(b *testing.B) {
	cfg := clientConfig(tls.VersionTLS13)
	for _, size := range []int{512, 64 << 10} {
		msg := payload(size)
		h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
		s, tc := handshake(b, h, cfg)
		s.in, s.pt = make([]byte, 0, 2*size+4096), make([]byte, 0, 2*size+4096)
		roundTrip(b, s, tc, msg, make([]byte, len(msg)))
		b.Run(fmt.Sprintf("%d/feed", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				tc.Write(msg)
				s.in, _ = s.side.drain(s.in[:0])
				s.conn.Feed(s.in)
				s.pt, _ = s.conn.AppendPlaintext(s.pt[:0])
			}
			if len(s.pt) != size {
				b.Fatalf("decrypted %d bytes", len(s.pt))
			}
		})
		b.Run(fmt.Sprintf("%d/lent", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				tc.Write(msg)
				s.in, _ = s.side.drain(s.in[:0])
				s.pt, _ = s.conn.AppendDecrypted(s.pt[:0], s.in)
			}
			if len(s.pt) != size {
				b.Fatalf("decrypted %d bytes", len(s.pt))
			}
		})
		s.conn.Close()
		h.Close()
	}
}
