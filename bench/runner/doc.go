// Package runner runs the benchmark: every server of package servers in its
// own benchd process, driven by loadgen processes from their own source
// addresses, through each scenario over ws and wss, all in one run, and
// collects the [Results] that package report turns into tables and charts.
//
// # Scenarios
//
//   - connect: connections opened and closed as fast as the server
//     completes them (handshakes/s, handshake latency).
//   - idle: N connections held with heartbeats on (server RSS, Go heap and
//     goroutines per connection, CPU while idle).
//   - echo: 1,000 connections each echoing one message at a time, for each
//     payload size (messages/s, round-trip latency).
//   - broadcast: one message to all N connections, repeated (time until the
//     last connection has it, arrival latency over connections).
//   - scale: as many wss connections as the machine holds, on several wssd
//     processes sharing a port (RSS per connection, setup time).
package runner
