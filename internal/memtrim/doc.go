// Package memtrim returns to the operating system the memory that a burst of
// connections leaves behind, once the burst is over. The wssd binary runs it,
// and so does the benchmark's wssd server.
//
// A burst of connections leaves memory behind that an idle server would keep
// for good: each TLS handshake leaves ~140 KB of garbage, and Go's runtime
// keeps pages it has freed for reuse up to about 1.1 times the collector's
// heap goal, which GOGC=50 puts at 1.5 times the heap that was live at the
// last collection, during the burst. A server that allocates nothing once
// its connections are open runs no collection (until the forced one every
// two minutes, which still keeps the goal's worth): measured with 15,000 idle
// wss connections, it held 8.1 KB of RSS per connection for a live heap of
// 4.8 KB. [Run] collects and returns what is free once allocation has gone
// quiet.
package memtrim
