// Package interop tests wssd's engine against WebSocket clients that share
// no code with it: gorilla/websocket and coder/websocket in Go, Python's
// websockets and Node's ws. It has no code of its own, only tests.
//
// # Layout
//
// The package is its own module, so that the client libraries never enter
// wssd's go.mod. Each test starts the engine in process on a free loopback
// port with an echo handler: every message comes back with its opcode, and
// the text "close-me" makes the server close with 1000 "bye". Each behaviour
// is a named subtest, run over every transport (ws now, wss later).
//
// # External clients
//
// The Python and Node clients are scripts, testdata/client.py and
// node/client.mjs, that run every check against the server and print one
// JSON line with the results. A missing interpreter or library skips their
// tests, except with CI=true, where it fails them: CI never skips a client.
// setup.sh installs what they need.
package interop
