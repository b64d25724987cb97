package load

import (
	"syscall"
	"time"
)

// Result is what a loadgen process reports for one command, as one JSON
// line.
type Result struct {
	Cmd   string `json:"cmd"`
	Size  int    `json:"size,omitempty"`
	Conns int    `json:"conns"`
	// Failed counts connections that could not be opened (open, churn).
	Failed int64 `json:"failed,omitempty"`
	// Errors counts connections that broke.
	Errors int64 `json:"errors,omitempty"`
	Msgs   int64 `json:"msgs,omitempty"`
	// Sent counts the messages sent (rate).
	Sent    int64   `json:"sent,omitempty"`
	Seconds float64 `json:"seconds"`
	// Lat holds the latencies in microseconds: of a connection's
	// handshakes (open, churn), an echo round trip, a broadcast's arrival.
	Lat Hist `json:"lat,omitempty"`
	// CPUSeconds is the process's user and system CPU time during the
	// command (stats: since the process started).
	CPUSeconds float64 `json:"cpu_seconds"`
	// RoundMaxNs and RoundCount give, for each broadcast round, the latest
	// arrival after the send and the number of arrivals.
	RoundMaxNs []int64 `json:"round_max_ns,omitempty"`
	RoundCount []int64 `json:"round_count,omitempty"`
	// Deflated counts the connections on which the server accepted
	// permessage-deflate (open).
	Deflated int `json:"deflated,omitempty"`
	// Compressed counts the data messages received compressed (RSV1)
	// during the command (echo, collect, subscribe).
	Compressed int64  `json:"compressed,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// rusage returns the process's CPU time so far.
func rusage() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const rusageZero = time.Duration(0)

func (r *Result) addCPU(since time.Duration) {
	r.CPUSeconds = (rusage() - since).Seconds()
}
