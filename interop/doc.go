// Package interop tests wssd's engine against WebSocket clients that share
// no code with it: gorilla/websocket and coder/websocket in Go, Python's
// websockets, Node's ws and headless Chromium, and its TLS against openssl
// s_client, and behind nginx, Apache and HAProxy. It has no code of its
// own, only tests.
//
// # Layout
//
// The package is its own module, so that the client libraries never enter
// wssd's go.mod. Each test starts the engine in process on a free loopback
// port with an echo handler: every message comes back with its opcode, and
// the text "close-me" makes the server close with 1000 "bye". Each behaviour
// is a named subtest, run over every transport: ws, and wss with
// internal/testpki's certificate, which every client trusts.
//
// # External clients
//
// The Python and Node clients are scripts, testdata/client.py and
// node/client.mjs, that run every check against the server and print one
// JSON line with the results. Chromium loads a page whose script talks to
// the server and writes the outcome into the DOM, which --dump-dom prints;
// openssl s_client checks which TLS versions the server accepts and carries
// a WebSocket exchange written byte for byte; testssl.sh scans the wssd
// binary's TLS (protocols, cipher suites, known vulnerabilities). A missing
// program or library skips its test, except with CI=true, where it fails
// it: CI never skips a client. A skip is loud: a line on standard error
// when it happens and a summary of every missing component when the run
// ends. setup.sh installs what they need.
//
// # Proxies
//
// The proxy tests start Debian's nginx, Apache and HAProxy with the files in
// ../deploy, rewritten only where a test must (ports, certificate paths),
// and check that the client's real address reaches wssd through each.
package interop
