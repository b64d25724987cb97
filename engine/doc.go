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
//
// # Lifecycle
//
// [Handler.OnOpen] is called for a connection that is alive once its 101
// response is written, and exactly one [Handler.OnClose] follows it, after
// which no callback is made for that connection and Send fails. A client
// that leaves before the response could be written gets neither. When the
// peer begins the closing handshake, what Send had accepted is still
// written, the close echo last, before the server closes TCP (bounded by
// [Config.CloseTimeout]). What is queued for a connection, pongs included,
// is bounded by [Config.MaxQueuedBytes]; what a connection buffers of a
// message still arriving follows the bytes that arrived, up to
// [Config.MaxMessageSize].
//
// # Compression
//
// With [Config.Compression] set, the server accepts permessage-deflate
// (RFC 7692) from clients that offer it. Compressed messages are inflated on
// the event loop when their last frame arrives, the inflated size bounded by
// [Config.MaxMessageSize] as it grows (a small message that would inflate to
// gigabytes closes with 1009 having produced at most the limit), and text
// validated as UTF-8 once inflated. Messages at least
// [Compression.Threshold] long are compressed when sent, on the sender's
// goroutine. Encoders and decoders are pooled per message; what a
// connection keeps between messages is described in [Compression].
// [Server.Prepare] frames, and compresses, a message once for many
// connections, and [Server.Broadcast] writes it with one task per event loop.
//
// # Plain HTTP on the same port
//
// With [Config.HTTPHandler], requests that are not WebSocket upgrades are
// served on the server's port, over its TLS, by an http.Handler: read on
// the event loop with bounded head and body, run on a bounded pool of
// goroutines (503 beyond it), their buffered responses written back by the
// loop, with keep-alive and pipelining. [HTTPClientOf] gives a handler the
// client IP resolved as for upgrades. An HTTP API beside the WebSocket
// endpoint needs no second listener.
//
// # Admission and refusals
//
// The server accepts connections itself and checks [Config.MaxConns],
// [Config.MaxConnsPerIP] and [Config.AcceptRate] before a connection reaches
// an event loop; running out of file descriptors or kernel memory refuses or
// delays connections but never stops the server. Refusals (limits, rejected
// upgrades, failed TLS handshakes, bad PROXY headers) are logged at most once
// a second per kind, with a count.
//
// # Counters
//
// [Server.Stats] returns the server's counters, from any goroutine:
// connections open and admitted; accepted, upgraded and closed by
// [CloseCause]; refused by [RefusalReason] and upgrade refusals by HTTP
// status; data messages and bytes both ways, compressed messages, and sends
// refused with [ErrBufferFull]. What happens per message is counted by each
// event loop in counters of its own, on cache lines of their own, and
// summed when Stats is called: the loops share no counter, and the echo
// path allocates nothing for them. A metrics exporter reads Stats at
// scrape time (wssd's is internal/metrics).
package engine
