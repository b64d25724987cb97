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
// # Latency
//
// Latencies are recorded in microseconds into HDR histograms ([Hist]),
// which travel to the runner encoded and merge there.
package load
