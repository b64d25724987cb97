// Package load is the benchmark client: lean WebSocket connections (raw
// frames with a precomputed mask, one read buffer each, a goroutine each
// blocked in Read), the scenarios run over them, and the results a loadgen
// process reports to the runner.
//
// # Connections
//
// A [Session] opens many connections from a list of source addresses and
// keeps them: they answer pings, and on command echo messages
// ([Session.Echo]) or receive broadcasts ([Session.Arm], [Session.Collect]).
// [Churn] opens and closes connections as fast as a server completes them.
//
// # Compression
//
// With [Target.Deflate] connections offer permessage-deflate (RFC 7692) as
// Chrome does. Where the server accepts it, every message they send is
// compressed (RSV1; each message on its own, which every answer allows,
// compressed once for all connections) and every compressed message they
// receive is inflated whole, with a pooled decoder and, when the server
// keeps its context, a window per connection. [Result] counts the
// connections that negotiated it and the messages that came compressed,
// so that a run can tell a server that did not compress.
//
// # Latency
//
// Latencies are recorded in microseconds into HDR histograms ([Hist]),
// which travel to the runner encoded and merge there.
package load
