package runner

import (
	"slices"
	"time"
)

// Config sizes a run. Quick, Full and Smoke return the three used ones.
type Config struct {
	// Servers to measure (names from package servers); the ceilings take
	// part only where they apply.
	Servers    []string `json:"servers"`
	Transports []string `json:"transports"` // ws, wss
	// Scenarios: connect, idle, echo, latency, broadcast, echo-deflate,
	// idle-deflate, broadcast-deflate, push-idle, push-fanout,
	// push-latency, scale, push-scale, push-cluster-fanout,
	// push-cluster-cost.
	Scenarios []string `json:"scenarios"`

	ConnectN           int           `json:"connect_n"` // ws; wss opens a quarter
	ConnectDuration    time.Duration `json:"connect_duration"`
	ConnectConcurrency int           `json:"connect_concurrency"`

	IdleN int `json:"idle_n"`
	// IdleSettle and IdleHold are when, after the last connection opened,
	// the idle scenario reads the server's RSS: right after the storm, and
	// once it has stood idle; idle CPU is measured between the two.
	IdleSettle   time.Duration `json:"idle_settle"`
	IdleHold     time.Duration `json:"idle_hold"`
	PingInterval time.Duration `json:"ping_interval"`
	// IdleHolds is how many idle servers may be held at once: while one
	// stands idle until IdleHold, the next ones open their connections.
	IdleHolds int `json:"idle_holds"`

	EchoConns    int           `json:"echo_conns"`
	EchoSizes    []int         `json:"echo_sizes"`
	EchoDuration time.Duration `json:"echo_duration"`
	// EchoRepeat runs the echo scenario this many times, the servers taking
	// turns in each round so that a slow minute of this shared machine hits
	// them all alike; the report shows the median round of each.
	EchoRepeat int `json:"echo_repeat"`

	// The latency scenario: LatencyRate messages a second in total, of
	// LatencySize bytes, over LatencyConns connections, for LatencyDuration.
	LatencyConns    int           `json:"latency_conns"`
	LatencyRate     int           `json:"latency_rate"`
	LatencySize     int           `json:"latency_size"`
	LatencyDuration time.Duration `json:"latency_duration"`

	BroadcastN        int           `json:"broadcast_n"`
	BroadcastRounds   int           `json:"broadcast_rounds"`
	BroadcastInterval time.Duration `json:"broadcast_interval"`
	BroadcastSize     int           `json:"broadcast_size"`

	// DeflateSize is the size of the JSON chat messages the
	// permessage-deflate scenarios echo and broadcast (package chatmsg);
	// they take their connections and durations from the echo, idle and
	// broadcast scenarios'.
	DeflateSize int `json:"deflate_size,omitempty"`

	// The push scenarios, on the push server (package push on the engine):
	// push-idle holds IdleN connections, PushSubsPerChannel to a channel;
	// push-fanout triggers PushFanoutRounds events, BroadcastInterval apart,
	// on one channel of PushFanoutN subscribers, beside the engine's own
	// broadcast and the raw TCP ceiling at the same N; push-latency
	// triggers PushLatencyRate events a second over PushLatencyChannels
	// channels of PushLatencySubs subscribers, for PushLatencyDuration.
	PushSubsPerChannel  int           `json:"push_subs_per_channel,omitempty"`
	PushFanoutN         int           `json:"push_fanout_n,omitempty"`
	PushFanoutRounds    int           `json:"push_fanout_rounds,omitempty"`
	PushLatencyChannels int           `json:"push_latency_channels,omitempty"`
	PushLatencySubs     int           `json:"push_latency_subs,omitempty"`
	PushLatencyRate     int           `json:"push_latency_rate,omitempty"`
	PushLatencyDuration time.Duration `json:"push_latency_duration,omitempty"`
	// PushTrigger is how the push scenarios publish: PushTriggerGo or
	// PushTriggerHTTP.
	PushTrigger string `json:"push_trigger,omitempty"`

	// The cluster scenarios, on the wssd binary's push mode with -procs
	// (its workers share the port and the push state over the embedded
	// NATS server): push-scale holds PushScaleTarget wss subscribers, one
	// of every PushSubsPerChannel to a channel, on PushScaleProcs workers
	// (0: one per ConnsPerServer connections), opening as the scale
	// scenario does (ScaleTimeout, ScaleMinFree, ScaleGOMAXPROCS);
	// push-cluster-fanout then subscribes all of them to one more channel
	// and triggers PushClusterRounds events on it, at least
	// PushClusterInterval apart and longer for many subscribers (so that
	// a fan-out is over before the next: clusterGap), and does the same on one process (-procs 1) holding as many
	// as one process may (ConnsPerServer, at most PushScaleTarget);
	// push-cluster-cost runs push-latency's load (channels, subscribers,
	// rate, duration) on PushCostProcs workers and on one process, after
	// reading their idle CPU for PushCostIdle.
	PushScaleTarget     int           `json:"push_scale_target,omitempty"`
	PushScaleProcs      int           `json:"push_scale_procs,omitempty"`
	PushClusterRounds   int           `json:"push_cluster_rounds,omitempty"`
	PushClusterInterval time.Duration `json:"push_cluster_interval,omitempty"`
	PushCostProcs       int           `json:"push_cost_procs,omitempty"`
	PushCostIdle        time.Duration `json:"push_cost_idle,omitempty"`

	ScaleTarget  int           `json:"scale_target"`
	ScaleTimeout time.Duration `json:"scale_timeout"`
	// ScaleMinFree stops the scale scenario's opening when the machine's
	// available memory falls below it.
	ScaleMinFree int64 `json:"scale_min_free_bytes"`

	// ConnsPerClient bounds a loadgen process's connections (each is a
	// file; the limit is 20,000 per process).
	ConnsPerClient int `json:"conns_per_client"`
	// ConnsPerServer bounds a scale server's connections likewise.
	ConnsPerServer int `json:"conns_per_server"`
	// ScaleGOMAXPROCS is every scale process's GOMAXPROCS: with dozens of
	// server and client processes on 2 cores, more Ps than cores per
	// process only add hand-offs between threads. "" leaves Go's default.
	ScaleGOMAXPROCS string `json:"scale_gomaxprocs,omitempty"`
	// GOGC is given to every server process alike.
	GOGC string `json:"gogc"`
	// Profile takes CPU profiles of wssd during echo.
	Profile bool `json:"profile"`
}

// How the push scenarios trigger their events (Config.PushTrigger).
const (
	// PushTriggerGo: POST /trigger on benchd's side port, which calls
	// push.Server.Trigger (the Go API).
	PushTriggerGo = "go"
	// PushTriggerHTTP: Pusher's HTTP API on the server's own port, POST
	// /apps/{id}/events signed as the Pusher server SDKs sign.
	PushTriggerHTTP = "http"
)

var (
	allServers   = []string{"wssd", "push", "centrifugo", "gorilla", "gobwas", "gws", "nbio", "coder", "nginx", "gnet-echo", "tls-loop"}
	allScenarios = []string{"connect", "idle", "echo", "latency", "broadcast", "echo-deflate", "idle-deflate", "broadcast-deflate", "push-idle", "push-fanout", "push-latency", "scale", "push-scale", "push-cluster-fanout", "push-cluster-cost"}
)

// Full is `make bench`: about 25 minutes on 2 cores, 9 of them scale,
// before the push scenarios (push-scale has its own 9 minutes).
func Full() Config {
	return Config{
		Servers: allServers, Transports: []string{"ws", "wss"}, Scenarios: allScenarios,
		ConnectN: 20000, ConnectDuration: 5 * time.Second, ConnectConcurrency: 64,
		IdleN: 15000, IdleSettle: 3 * time.Second, IdleHold: time.Minute, PingInterval: 5 * time.Second, IdleHolds: 4,
		EchoConns: 1000, EchoSizes: []int{64, 512, 4096, 65536}, EchoDuration: 1500 * time.Millisecond, EchoRepeat: 3,
		LatencyConns: 1000, LatencyRate: 20000, LatencySize: 512, LatencyDuration: 3 * time.Second,
		BroadcastN: 10000, BroadcastRounds: 15, BroadcastInterval: 200 * time.Millisecond, BroadcastSize: 64,
		DeflateSize:        512,
		PushSubsPerChannel: 15, PushFanoutN: 15000, PushFanoutRounds: 30,
		PushLatencyChannels: 1000, PushLatencySubs: 10, PushLatencyRate: 500, PushLatencyDuration: 5 * time.Second,
		PushTrigger:     PushTriggerHTTP,
		PushScaleTarget: 500000, PushClusterRounds: 15, PushClusterInterval: 200 * time.Millisecond,
		PushCostProcs: 4, PushCostIdle: 3 * time.Second,
		ScaleTarget: 500000, ScaleTimeout: 9 * time.Minute, ScaleMinFree: 3 << 30, ScaleGOMAXPROCS: "1",
		ConnsPerClient: 18000, ConnsPerServer: 18000, GOGC: "50", Profile: true,
	}
}

// Quick is `make bench-quick`: small N, about 3 minutes, no scale; the
// cluster scenarios on 3 workers and a few thousand connections.
func Quick() Config {
	c := Full()
	c.Scenarios = slices.DeleteFunc(slices.Clone(allScenarios), func(s string) bool { return s == "scale" })
	c.ConnectN, c.ConnectDuration = 2000, 1500*time.Millisecond
	c.IdleN, c.IdleSettle, c.IdleHold, c.PingInterval = 2000, time.Second, 3*time.Second, time.Second
	c.EchoConns, c.EchoDuration, c.EchoRepeat = 200, 800*time.Millisecond, 1
	c.LatencyConns, c.LatencyRate, c.LatencyDuration = 200, 5000, time.Second
	c.BroadcastN, c.BroadcastRounds, c.BroadcastInterval = 1000, 5, 100*time.Millisecond
	c.PushFanoutN, c.PushFanoutRounds = 1000, 10
	c.PushLatencyChannels, c.PushLatencyDuration = 100, 2*time.Second
	c.PushScaleTarget, c.PushScaleProcs, c.PushClusterRounds, c.PushClusterInterval = 3000, 3, 10, 200*time.Millisecond
	c.PushCostIdle = 2 * time.Second
	return c
}

// Smoke is the test's run: a few servers, a few connections, seconds.
func Smoke() Config {
	c := Quick()
	c.Servers = []string{"wssd", "push", "gorilla", "nginx", "gnet-echo", "tls-loop"}
	c.ConnectN, c.ConnectDuration, c.ConnectConcurrency = 40, time.Second, 8
	c.IdleN, c.IdleSettle, c.IdleHold, c.PingInterval = 20, 100*time.Millisecond, 400*time.Millisecond, 100*time.Millisecond
	c.EchoConns, c.EchoSizes, c.EchoDuration, c.EchoRepeat = 10, []int{64, 65536}, 200*time.Millisecond, 2
	c.LatencyConns, c.LatencyRate, c.LatencyDuration = 10, 500, 300*time.Millisecond
	c.BroadcastN, c.BroadcastRounds, c.BroadcastInterval = 20, 3, 50*time.Millisecond
	c.PushSubsPerChannel, c.PushFanoutN, c.PushFanoutRounds = 5, 20, 3
	c.PushLatencyChannels, c.PushLatencySubs, c.PushLatencyRate, c.PushLatencyDuration = 4, 5, 50, 500*time.Millisecond
	c.PushScaleTarget, c.PushScaleProcs, c.PushClusterRounds, c.PushClusterInterval = 40, 2, 3, 50*time.Millisecond
	c.PushCostProcs, c.PushCostIdle = 2, 300*time.Millisecond
	c.Profile = false
	return c
}

func (c Config) has(scenario string) bool {
	for _, s := range c.Scenarios {
		if s == scenario {
			return true
		}
	}
	return false
}
