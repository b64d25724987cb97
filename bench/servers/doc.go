// Package servers holds the WebSocket servers that wssd is measured against,
// each a small echo server written the way its library's own examples write
// one, plus two ceilings that are not WebSocket servers at all. "nginx"
// (wssd's ws behind nginx terminating TLS) is started by the runner, not
// here.
//
// # Protocol
//
// Every WebSocket server answers each text or binary message with the same
// message (the same opcode), except a text message that starts with
// [BroadcastPrefix]: the rest of it is sent, as a text message, to every
// connection the server holds (the sender included) and nothing is echoed.
// Every WebSocket server pings each connection every Options.PingInterval
// when it is positive.
//
// # Ceilings
//
// "gnet-echo" is a raw TCP echo server on gnet: no upgrade, no framing, no
// TLS; the bytes a client sends come back as they are, but for a read that
// is exactly one broadcast command, whose text it sends to every connection
// with the least work an event-loop server can do. "tls-loop" accepts
// TCP connections, completes a crypto/tls handshake on each and closes it:
// the rate at which a Go server can complete handshakes at all.
package servers
