package runner

import "time"

// Results is everything one run measured. It is what latest.json holds.
type Results struct {
	Machine  Machine   `json:"machine"`
	Mode     string    `json:"mode"`
	Config   Config    `json:"config"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`

	Connect   []ConnectRow   `json:"connect"`
	Idle      []IdleRow      `json:"idle"`
	Echo      []EchoRow      `json:"echo"`
	Latency   []LatencyRow   `json:"latency"`
	Broadcast []BroadcastRow `json:"broadcast"`
	Scale     *ScaleRow      `json:"scale,omitempty"`
	// The permessage-deflate scenarios (echo-deflate, idle-deflate,
	// broadcast-deflate): every server they measure runs with compression
	// on, once with clients that do not offer it (the uncompressed row)
	// and once with clients that do; each row's Deflate says which.
	DeflateEcho      []EchoRow      `json:"deflate_echo,omitempty"`
	DeflateIdle      []IdleRow      `json:"deflate_idle,omitempty"`
	DeflateBroadcast []BroadcastRow `json:"deflate_broadcast,omitempty"`
	// The push scenarios: push-idle (the push server's rows, each
	// connection subscribed to a channel, beside the engine's wssd rows
	// measured the same way in the same scenario), push-fanout (the push
	// server's triggers beside the engine's broadcast and the raw TCP
	// ceiling at the same N) and push-latency.
	PushIdle    []IdleRow        `json:"push_idle,omitempty"`
	PushFanout  []BroadcastRow   `json:"push_fanout,omitempty"`
	PushLatency []PushLatencyRow `json:"push_latency,omitempty"`
	// The cluster scenarios, on the wssd binary with -procs: push-scale,
	// push-cluster-fanout (the workers holding push-scale's connections,
	// then one process) and push-cluster-cost (PushCostProcs workers, then
	// one process).
	PushScale         *PushScaleRow      `json:"push_scale,omitempty"`
	PushClusterFanout []ClusterFanoutRow `json:"push_cluster_fanout,omitempty"`
	PushClusterCost   []ClusterCostRow   `json:"push_cluster_cost,omitempty"`
	// Profiles are CPU profiles taken during echo, relative to the output
	// directory.
	Profiles []string `json:"profiles,omitempty"`
	// Problems lists what failed, by server and scenario.
	Problems []string `json:"problems,omitempty"`
}

// Machine records where the run happened.
type Machine struct {
	Cores     int     `json:"cores"`
	CPU       string  `json:"cpu"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Kernel    string  `json:"kernel"`
	OpenFiles uint64  `json:"open_files"`
	Commit    string  `json:"commit,omitempty"`
	Date      string  `json:"date"`
	GOGC      string  `json:"gogc"`
}

// Latency percentiles, in microseconds.
type Latency struct {
	P50  int64 `json:"p50_us"`
	P99  int64 `json:"p99_us"`
	P999 int64 `json:"p999_us"`
	Max  int64 `json:"max_us"`
}

// DeflateStats is how a row of the permessage-deflate scenarios used the
// extension.
type DeflateStats struct {
	// Offered: the clients offered permessage-deflate; false in the
	// uncompressed row beside.
	Offered bool `json:"offered"`
	// Negotiated counts the connections on which the server accepted it.
	Negotiated int `json:"negotiated"`
	// Received counts the data messages the clients received while
	// measured (echoes, broadcasts, answers to the idle subscription),
	// Compressed those of them that came compressed (RSV1).
	Received   int64 `json:"received"`
	Compressed int64 `json:"compressed"`
}

// Key names a server over a transport.
type Key struct {
	Server    string `json:"server"`
	Transport string `json:"transport"` // ws or wss
}

// Is says whether k names server over transport.
func (k Key) Is(server, transport string) bool { return k.Server == server && k.Transport == transport }

// ConnectRow is the connect scenario for one server and transport.
type ConnectRow struct {
	Key
	Conns     int     `json:"conns"`
	Failed    int64   `json:"failed"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Latency   Latency `json:"latency"`
	ServerCPU float64 `json:"server_cpu"` // cores busy, on average
	ClientCPU float64 `json:"client_cpu"`
	// PerServerCPUSecond is connections per second of server CPU time.
	PerServerCPUSecond float64 `json:"per_server_cpu_second"`
	LastError          string  `json:"last_error,omitempty"`
}

// RSSSample is what a server's processes held, by VmRSS in /proc/PID/status
// (what top shows), some time after the last connection opened.
type RSSSample struct {
	AfterSeconds float64 `json:"after_seconds"`
	RSS          int64   `json:"rss_bytes"`
	PerConn      float64 `json:"per_conn_bytes"` // RSS ÷ connections held
}

// IdleRow is the idle scenario for one server and transport.
type IdleRow struct {
	Key
	Conns        int     `json:"conns"`
	Failed       int64   `json:"failed"`
	SetupSeconds float64 `json:"setup_seconds"`
	// RSSSamples are the server's RSS at Config.IdleSettle and
	// Config.IdleHold after the last connection opened: what a user sees.
	// Runs before them recorded only RSSPerConn.
	RSSSamples []RSSSample `json:"rss_samples,omitempty"`
	RSSBase    int64       `json:"rss_base_bytes"` // before any connection
	RSS        int64       `json:"rss_bytes"`      // at the end
	// RSSPerConn is RSS less RSSBase, per connection: the growth, not what
	// the process holds.
	RSSPerConn       float64 `json:"rss_per_conn_bytes"`
	HeapPerConn      float64 `json:"heap_per_conn_bytes"`
	Goroutines       int     `json:"goroutines"`
	IdleCPU          float64 `json:"idle_cpu"` // cores busy while idle
	ClientRSSPerConn float64 `json:"client_rss_per_conn_bytes"`
	Alive            int     `json:"alive"` // connections still open at the end
	// Deflate is set in the permessage-deflate scenarios, which also read
	// LiveHeapPerConn: the Go heap a collection found live at the end,
	// less the same before any connection, per connection (what the
	// connections hold, without the garbage RSS and HeapPerConn count).
	Deflate         *DeflateStats `json:"deflate,omitempty"`
	LiveHeapPerConn float64       `json:"live_heap_per_conn_bytes,omitempty"`
	// Channels is, in the push server's push-idle rows, the number of
	// channels the connections subscribed to, one each (so do
	// LiveHeapPerConn the push-idle rows).
	Channels int `json:"channels,omitempty"`
}

// EchoRow is the echo scenario for one server, transport and payload size.
type EchoRow struct {
	Key
	Size      int     `json:"size"`
	Conns     int     `json:"conns"`
	Msgs      int64   `json:"msgs"`
	PerSecond float64 `json:"per_second"`
	Latency   Latency `json:"latency"`
	ServerCPU float64 `json:"server_cpu"`
	ClientCPU float64 `json:"client_cpu"`
	// PerServerCPUSecond is messages per second of server CPU time: the
	// server's efficiency, less sensitive than PerSecond to how the two
	// cores were shared with the client.
	PerServerCPUSecond float64 `json:"per_server_cpu_second"`
	Errors             int64   `json:"errors,omitempty"`
	// Runs and PerServerCPUSecondRuns hold every round's figures, in the
	// order they ran, when the scenario was repeated: the row is then the
	// median round by PerSecond, and PerServerCPUSecond the median of its
	// rounds.
	Runs                   []float64 `json:"runs_per_second,omitempty"`
	PerServerCPUSecondRuns []float64 `json:"runs_per_server_cpu_second,omitempty"`
	// Deflate is set in the permessage-deflate scenarios.
	Deflate *DeflateStats `json:"deflate,omitempty"`
}

// LatencyRow is the latency scenario (a fixed rate) for one server and
// transport.
type LatencyRow struct {
	Key
	Conns int `json:"conns"`
	Size  int `json:"size"`
	// Rate is the messages a second offered; PerSecond those answered.
	Rate      int     `json:"rate"`
	PerSecond float64 `json:"per_second"`
	Sent      int64   `json:"sent"`
	Received  int64   `json:"received"`
	// Latency runs from when each message was due to be sent.
	Latency   Latency `json:"latency"`
	ServerCPU float64 `json:"server_cpu"`
	ClientCPU float64 `json:"client_cpu"`
}

// BroadcastRow is the broadcast scenario for one server and transport.
type BroadcastRow struct {
	Key
	Conns     int   `json:"conns"`
	Rounds    int   `json:"rounds"`
	Delivered int64 `json:"delivered"`
	Expected  int64 `json:"expected"`
	// TimeToLast is, per round, the time from the send until the last
	// connection had the message: its median and worst over rounds.
	TimeToLastMedianUs int64 `json:"time_to_last_median_us"`
	TimeToLastP99Us    int64 `json:"time_to_last_p99_us,omitempty"`
	TimeToLastMaxUs    int64 `json:"time_to_last_max_us"`
	// Latency is over every arrival on every connection.
	Latency   Latency `json:"latency"`
	ServerCPU float64 `json:"server_cpu"`
	ClientCPU float64 `json:"client_cpu"`
	// Deflate is set in the permessage-deflate scenarios.
	Deflate *DeflateStats `json:"deflate,omitempty"`
}

// PushLatencyRow is the push-latency scenario for one server and transport:
// events triggered at a fixed rate over many small channels.
type PushLatencyRow struct {
	Key
	Conns       int `json:"conns"`
	Channels    int `json:"channels"`
	Subscribers int `json:"subscribers"` // per channel
	// Rate is the triggers a second offered; Sent those the server took,
	// Failed those it refused or that failed.
	Rate   int   `json:"rate"`
	Sent   int64 `json:"sent"`
	Failed int64 `json:"failed,omitempty"`
	// Expected is Sent × Subscribers; Delivered the events received.
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	// Latency runs from when each trigger was due to be sent until a
	// subscriber had its event, over every delivery.
	Latency   Latency `json:"latency"`
	ServerCPU float64 `json:"server_cpu"`
	ClientCPU float64 `json:"client_cpu"`
	// ServerCPUSeconds is the server's CPU time while measured: from just
	// before the first trigger until the last delivery was read.
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
}

// ClusterFigures are the wssd binary's own counts, summed over its
// workers from its /metrics at the end of a measure.
type ClusterFigures struct {
	// Conns is wssd_connections_open; PerWorker the same per worker, in
	// the workers' order.
	Conns     int   `json:"conns"`
	PerWorker []int `json:"per_worker,omitempty"`
	// Published and Received are wssd_cluster_published_total and
	// wssd_cluster_received_total: events sent to the other workers over
	// NATS, and events from them delivered here; Dropped sums the
	// cluster's dropped counters (publish and receive).
	Published int64 `json:"published"`
	Received  int64 `json:"received"`
	Dropped   int64 `json:"dropped,omitempty"`
	// Subscriptions is wssd_cluster_subscriptions: the NATS
	// subscriptions the workers hold for their clients' channels.
	Subscriptions int64 `json:"subscriptions,omitempty"`
	// Closed counts the connections the workers closed, by cause
	// (wssd_connections_closed_total: pong_timeout, transport, ...), and
	// SendsRefused the messages refused because a connection's send queue
	// was full (wssd_send_buffer_full_total): what explains a delivery
	// missing.
	Closed       map[string]int64 `json:"closed,omitempty"`
	SendsRefused int64            `json:"sends_refused,omitempty"`
}

// ClosedTotal is the number of connections Closed counts.
func (f ClusterFigures) ClosedTotal() int64 {
	var n int64
	for _, v := range f.Closed {
		n += v
	}
	return n
}

// PushScaleRow is the push-scale scenario: the wssd binary's push mode
// with Procs workers, holding as many subscribed wss connections as the
// machine holds.
type PushScaleRow struct {
	Target   int `json:"target"`
	Procs    int `json:"procs"`
	Clients  int `json:"clients"`
	Channels int `json:"channels"`
	// Conns and the rest of the cluster's counts, from its /metrics.
	ClusterFigures
	Opened       int     `json:"opened"` // by the clients' count
	Failed       int64   `json:"failed"`
	SetupSeconds float64 `json:"setup_seconds"` // opening the connections
	// SubscribeSeconds is how long the subscriptions took, after.
	SubscribeSeconds float64 `json:"subscribe_seconds"`
	StoppedBy        string  `json:"stopped_by"`
	// RSS is the workers' VmRSS summed, at the end; RSSSamples the same
	// 3 s after the last subscription and at the end, per connection what
	// the workers hold; RSSPerConn the growth (less the workers' RSS
	// before any connection).
	RSS        int64       `json:"rss_bytes"`
	RSSSamples []RSSSample `json:"rss_samples,omitempty"`
	RSSPerConn float64     `json:"rss_per_conn_bytes"`
	// SupervisorRSS is the supervisor's, which runs the embedded NATS
	// server, at the end.
	SupervisorRSS int64   `json:"supervisor_rss_bytes"`
	IdleCPU       float64 `json:"idle_cpu"` // supervisor and workers
	ClientRSS     int64   `json:"client_rss_bytes"`
	MemAvailable  int64   `json:"mem_available_bytes"`
}

// ClusterFanoutRow is push-cluster-fanout on Procs processes: the
// broadcast figures of one channel every connection subscribed to, and
// what crossed NATS meanwhile.
type ClusterFanoutRow struct {
	BroadcastRow
	Procs int `json:"procs"`
	// Interval is the time between two events.
	Interval time.Duration  `json:"interval"`
	Cluster  ClusterFigures `json:"cluster"`
}

// ClusterCostRow is push-cluster-cost on Procs processes: push-latency's
// load, and the deliveries per second of server CPU (the supervisor and
// its embedded NATS server counted with the workers).
type ClusterCostRow struct {
	PushLatencyRow
	Procs                  int     `json:"procs"`
	DeliveriesPerCPUSecond float64 `json:"deliveries_per_cpu_second"`
	// IdleCPU is the processes' CPU, in cores, for a while before the
	// triggers, subscribers connected: pings, and under -procs the
	// cluster's heartbeats. DeliveriesPerBusyCPUSecond counts only the CPU
	// above it while measured: what the deliveries themselves cost.
	IdleCPU                    float64        `json:"idle_cpu"`
	DeliveriesPerBusyCPUSecond float64        `json:"deliveries_per_busy_cpu_second,omitempty"`
	Cluster                    ClusterFigures `json:"cluster"`
}

// ScaleRow is the scale scenario.
type ScaleRow struct {
	Transport    string  `json:"transport"`
	Target       int     `json:"target"`
	Servers      int     `json:"servers"`
	Clients      int     `json:"clients"`
	Conns        int     `json:"conns"` // open at the end, by the servers' count
	Failed       int64   `json:"failed"`
	SetupSeconds float64 `json:"setup_seconds"`
	RSS          int64   `json:"rss_bytes"`          // all servers together, at the end
	RSSPerConn   float64 `json:"rss_per_conn_bytes"` // RSS less the servers' RSS before any connection
	// RSSSamples are the servers' RSS together, 3 s after the last
	// connection opened and at the end.
	RSSSamples   []RSSSample `json:"rss_samples,omitempty"`
	Goroutines   int         `json:"goroutines"`
	IdleCPU      float64     `json:"idle_cpu"`
	ClientRSS    int64       `json:"client_rss_bytes"`
	StoppedBy    string      `json:"stopped_by"`
	MemAvailable int64       `json:"mem_available_bytes"`
}

// DeflateStats returns how the row used permessage-deflate: nil outside the
// permessage-deflate scenarios.
func (r EchoRow) DeflateStats() *DeflateStats { return r.Deflate }

// DeflateStats returns how the row used permessage-deflate: nil outside the
// permessage-deflate scenarios.
func (r IdleRow) DeflateStats() *DeflateStats { return r.Deflate }

// DeflateStats returns how the row used permessage-deflate: nil outside the
// permessage-deflate scenarios.
func (r BroadcastRow) DeflateStats() *DeflateStats { return r.Deflate }

// HeldPerConn is what the server held per connection at the last RSS
// sample, and how long after the last connection opened; results recorded
// before the samples give RSSPerConn (the growth, less the RSS before any
// connection) and after 0.
func (r IdleRow) HeldPerConn() (perConn, after float64) {
	if n := len(r.RSSSamples); n > 0 {
		return r.RSSSamples[n-1].PerConn, r.RSSSamples[n-1].AfterSeconds
	}
	return r.RSSPerConn, 0
}
