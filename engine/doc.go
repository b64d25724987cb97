// Package engine is wssd's WebSocket server: a gnet v2 multi-reactor event
// loop (epoll, one loop per core by default) that parses RFC 6455 in place
// with package wsproto. An open connection costs no goroutine: its state
// lives in the event loop's connection context.
//
// # Use
//
// Create a [Server] with [New] from a [Config], whose zero value works, and a
// [Handler]; embed [NopHandler] to implement only the callbacks you need.
// [Server.Start] listens, [Server.Shutdown] closes every connection with
// 1001 (going away) and waits for the closing handshakes.
//
// # Threading
//
// Handler callbacks run on the connection's event loop, one at a time per
// loop: they must not block. A payload handed to [Handler.OnMessage] is valid
// only during the call. [Conn] methods that send (Send, Ping, Close) are
// safe from any goroutine: frames are built into a pooled buffer and written
// by the connection's event loop, in one write for everything a callback sent.
//
// # Handshake
//
// [Handler.OnHandshake] is the place to authenticate (Workerman's
// onWebSocketConnect): it sees method, path, query, headers, the TCP peer and
// the client IP resolved through trusted proxies ([Config.TrustedProxies],
// from the one source [Config.RealIPHeader] names); it may reject with an
// HTTP status, add response headers, choose a subprotocol and attach a
// per-connection value. Before it, a server with [Config.AllowedOrigins]
// refuses browsers' requests from other origins with 403.
package engine
