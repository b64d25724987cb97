// Package soak holds a wssd binary under a long, mixed load and checks
// that it stays within bounds: `make soak` (cmd/soak) runs it.
//
// # The load
//
// Honest clients ([Config.Conns]) answer pings, echo numbered messages
// and check that each comes back intact and in order; a share of them
// close and reconnect ([Config.ChurnPerMinute]). Beside them run the
// hostile [Kinds], each limited by count, rate and number in flight
// ([Limit]): reset storms, ping floods, bare frame headers announcing
// 1 MiB, slowloris, plain HTTP on the TLS port and silent ClientHellos.
//
// # The bounds
//
// The server is sampled from /proc (RSS, open files) and from its own
// stats log line (-stats-interval: Go heap, goroutines, GC cycles,
// connections). [Bounds] compare the final sample, taken after the
// hostile clients stopped and the server ran a GC cycle, and the peak of
// every sample with the baseline taken once the connections settled.
package soak
