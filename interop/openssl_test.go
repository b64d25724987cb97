package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/logtest"
	"github.com/wssd/wssd/wsproto"
)

// opensslTimeout bounds one openssl s_client run.
const opensslTimeout = 20 * time.Second

// TestOpenSSL connects with openssl s_client to a wss server: TLS 1.0 and
// 1.1 must be refused by the server, with a protocol_version alert, and TLS
// 1.2 and 1.3 accepted, with the certificate verified. Over an accepted
// connection, s_client then carries a WebSocket upgrade, a message and a
// closing handshake, written byte for byte by the test.
func TestOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := requireProgram(t, "openssl", "openssl (Debian package openssl)", "version")

	// The server logs why a TLS handshake failed at debug level.
	var serverLog logtest.Buffer
	tr := transport{Name: "wss", TLS: true}
	h := newEchoServer()
	srv := &testServer{
		Server: startEngine(t, tr, engine.Config{
			Logger:       slog.New(slog.NewTextHandler(&serverLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
			EventLoops:   2,
			PingInterval: -1,
		}, h),
		tr: tr,
		h:  h,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", serverLog.String())
		}
	})
	base := []string{
		openssl, "s_client",
		"-connect", srv.Addr().String(),
		"-servername", "localhost",
		"-CAfile", caFile(t), // the certificate is its own CA
		"-verify_return_error", "-verify_hostname", "localhost",
		// -brief prints a summary of the connection on stderr and only
		// what the server sends on stdout; -nocommands passes every line
		// of stdin to the server, even one starting with Q or R.
		"-brief", "-nocommands",
	}
	// OpenSSL 3 refuses TLS 1.0 and 1.1 itself at its default security
	// level; level 0 lets it offer them, so that the refusal is the server's.
	old := []string{"-cipher", "DEFAULT:@SECLEVEL=0"}

	for _, tc := range []struct {
		name  string
		flags []string
		// version is the protocol s_client must report; empty when the
		// server must refuse the handshake.
		version string
		// offered is how the server's error lists the versions the
		// client offered, when it refuses.
		offered string
	}{
		{name: "TLS1.0", flags: append([]string{"-tls1"}, old...), offered: "[301]"},
		{name: "TLS1.1", flags: append([]string{"-tls1_1"}, old...), offered: "[302 301]"},
		{name: "TLS1.2", flags: []string{"-tls1_2"}, version: "TLSv1.2"},
		{name: "TLS1.3", flags: []string{"-tls1_3"}, version: "TLSv1.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append(append([]string(nil), base...), tc.flags...)
			if tc.version == "" {
				sClientRefused(t, argv, &serverLog, tc.offered)
				return
			}
			sClientUpgrade(t, srv, argv, tc.version)
		})
	}
}

// sClientRefused runs s_client, which must fail because the server sent a
// protocol_version alert, and checks the reason the server logged, if any:
// the client offered only the versions in offered.
func sClientRefused(t *testing.T, argv []string, serverLog *logtest.Buffer, offered string) {
	t.Helper()
	logStart := len(serverLog.String())
	ctx, cancel := context.WithTimeout(t.Context(), opensslTimeout)
	defer cancel()
	cmd := command(ctx, ".", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("s_client still running after %v", opensslTimeout)
	}
	if err == nil {
		t.Errorf("s_client succeeded, want a refused handshake\nstderr:\n%s", stderr.Bytes())
	}
	// OpenSSL's names for alert 70, protocol_version, received from the
	// server. A refusal by OpenSSL itself would say "no protocols available"
	// or "unsupported protocol" instead.
	for _, want := range []string{"tlsv1 alert protocol version", "SSL alert number 70"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("s_client's stderr lacks %q: the server did not refuse the version with a protocol_version alert\nstderr:\n%s", want, stderr.Bytes())
		}
	}
	if strings.Contains(stderr.String(), "CONNECTION ESTABLISHED") || stdout.Len() > 0 {
		t.Errorf("s_client got a connection\nstdout:\n%s\nstderr:\n%s", stdout.Bytes(), stderr.Bytes())
	}
	// crypto/tls's error names the versions the ClientHello offered. The
	// engine may drop it: when s_client hangs up on the alert before the
	// handshake goroutine has reported the failure to the event loop, the
	// connection is closed and the failure never logged. So the reason is
	// checked when it is logged, and its absence only noted.
	want := "tls: client offered only unsupported versions: " + offered
	deadline := time.Now().Add(2 * time.Second)
	for {
		logged := serverLog.String()[logStart:]
		if i := strings.Index(logged, `msg="TLS handshake failed"`); i >= 0 {
			if line, _, _ := strings.Cut(logged[i:], "\n"); !strings.Contains(line, want) {
				t.Errorf("the server logged %s; want the reason %q", line, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Logf("the server logged no reason for the refusal (the engine drops it when the client hangs up first)")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rfcKey and rfcAccept are the Sec-WebSocket-Key and Sec-WebSocket-Accept
// of RFC 6455's example handshake (section 1.3).
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// sClientUpgrade runs s_client, which must connect with version, and sends
// through it a WebSocket upgrade request, a text message and a close frame,
// checking the server's answer to each: 101, the echo, and the close echo,
// after which the server must end TLS with close_notify, so that s_client
// exits 0.
func sClientUpgrade(t *testing.T, srv *testServer, argv []string, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opensslTimeout)
	defer cancel()
	cmd := command(ctx, ".", argv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cancel()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("s_client's stderr:\n%s", stderr.String())
		}
	}()
	stdout := bufio.NewReader(stdoutPipe)

	// s_client reads its stdin only once the handshake is done.
	path := "/" + t.Name()
	fmt.Fprintf(stdin, "GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, srv.Addr().Port(), rfcKey)
	resp, err := http.ReadResponse(stdout, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade response %s %s, want HTTP/1.1 101", resp.Proto, resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != rfcAccept {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, rfcAccept)
	}

	if _, err := stdin.Write(maskedFrame(0x1, []byte("tom"))); err != nil {
		t.Fatal(err)
	}
	readFrame(t, stdout, "the echo of tom", []byte{0x81, 3, 't', 'o', 'm'})
	if _, err := stdin.Write(maskedFrame(0x8, []byte{0x03, 0xe8, 'd', 'o', 'n', 'e'})); err != nil {
		t.Fatal(err)
	}
	readFrame(t, stdout, "the close echo", []byte{0x88, 2, 0x03, 0xe8}) // 1000, no reason
	if rest, err := io.ReadAll(stdout); err != nil || len(rest) > 0 {
		t.Errorf("after the close frame: % x, %v; want the end of the stream", rest, err)
	}
	err = cmd.Wait()
	exited = true
	if ctx.Err() != nil {
		t.Fatalf("s_client still running after %v: the server did not close the connection", opensslTimeout)
	}
	if err != nil {
		t.Errorf("s_client: %v; want exit 0 after the server's close_notify", err)
	}
	srv.wantClosed(t, path, wsproto.CloseNormal, "done")

	summary := stderr.String()
	for _, want := range []string{"CONNECTION ESTABLISHED", "Protocol version: " + version + "\n", "Verification: OK", "Verified peername: localhost"} {
		if !strings.Contains(summary, want) {
			t.Errorf("s_client's summary lacks %q", strings.TrimSpace(want))
		}
	}
	for _, line := range strings.Split(summary, "\n") {
		if strings.HasPrefix(line, "Ciphersuite: ") {
			t.Log(version, line)
		}
	}
}

// maskedFrame returns a client frame with FIN, opcode op and a payload of
// at most 125 bytes, masked with a fixed key.
func maskedFrame(op byte, payload []byte) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d} // RFC 6455 section 5.7's
	f := append([]byte{0x80 | op, 0x80 | byte(len(payload))}, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// readFrame reads len(want) bytes from r and checks they are want.
func readFrame(t *testing.T, r io.Reader, what string, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %s: got % x, %v", what, got[:n], err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got % x, want % x", what, got, want)
	}
}
