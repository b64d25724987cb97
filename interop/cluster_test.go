package interop

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/push"
)

// The cluster tests run the wssd binary with -procs (workers sharing one
// port with SO_REUSEPORT, their push state shared over NATS) and drive it
// with node/cluster.mjs: many pusher-js 8.6.0 clients spread over the
// workers, and Pusher's Node server SDK calling the HTTP API on new TCP
// connections, so that each request may land on another worker. The
// script counts every tagged event at every client, per channel: each
// intended client must get each event exactly once, the others none.

// clusterApp is the one app every worker of the cluster tests serves.
var clusterApp = push.App{ID: "9", Key: "cluster-key", Secret: "cluster-secret"}

// clusterChecks are the checks node/cluster.mjs runs in each mode, in
// its order.
var clusterChecks = map[string][]string{
	"delivery": {"spread", "subscribe", "trigger", "trigger-several-channels", "trigger-exclude",
		"trigger-batch", "queries", "send-to-user", "gateway", "no-late-duplicates"},
	"kill":          {"spread", "subscribe", "before", "kill", "after", "others-never-dropped", "no-late-duplicates"},
	"outage":        {"spread", "subscribe", "cross", "nats-down", "nats-up", "no-late-duplicates"},
	"machines":      {"spread", "subscribe", "trigger-machine-1", "trigger-machine-2", "queries", "send-to-user", "no-late-duplicates"},
	"presence":      {"spread", "member-added-once", "presence-list", "member-removed-once"},
	"webhooks":      {"spread", "occupied-once", "vacated-once", "member-webhooks-once"},
	"gateway-bind":  {"spread", "bind-uid-any-worker", "join-group-any-worker"},
	"presence-kill": {"spread", "member-added", "kill", "member-removed-once", "presence-list", "member-removed-webhook-once", "vacated-webhook-once"},
	"echo":          {"spread", "subscribe", "trigger", "trigger-batch", "to-others", "whisper", "presence", "no-late-duplicates"},
	"php":           {"spread", "subscribe", "php-delivered", "no-late-duplicates"},
}

// phpClusterChecks are the checks php/cluster.php runs, in its order.
var phpClusterChecks = []string{"trigger", "trigger-batch", "channels", "channel-info", "users"}

// TestClusterDelivery: three workers on one port with the embedded NATS
// server. pusher-js clients on every worker subscribe to public, private
// and presence channels; triggers through the pusher SDK (one channel,
// several, with socket_id exclusion, batches), sendToUser to a user with
// sockets on two workers, and the Gateway facade (send to uid, group and
// all) reach each intended client exactly once; the API's channel lists,
// counts, presence users and facade answers are the same whichever worker
// answers.
func TestClusterDelivery(t *testing.T) {
	runThreeWorkers(t, "delivery", threeWorkers{})
}

// TestClusterWorkerKilled: a worker of three killed with SIGKILL loses
// its own clients only; pusher-js reconnects them (onto the others, or
// the worker the supervisor restarted) with new socket ids, the other
// clients never see their connection change, and triggers reach everyone
// exactly once again.
func TestClusterWorkerKilled(t *testing.T) {
	runThreeWorkers(t, "kill", threeWorkers{})
}

// TestClusterNATSOutage: two workers (-node 1) on an external NATS
// server the test runs in process. While it is down each worker still
// delivers to its own clients, and only to them; once it is back on the
// same port, without restarting wssd, wssd_nats_connected goes back to 1
// on every worker and events cross workers again.
func TestClusterNATSOutage(t *testing.T) {
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		port := freePort(t)
		opts := func() *server.Options {
			return &server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true}
		}
		var mu sync.Mutex // guards ns
		ns := startNATS(t, opts())
		c := startCluster(t, tr, 2, 2, "-node", "1", "-nats-url", ns.ClientURL())
		mux := http.NewServeMux()
		mux.HandleFunc("POST /nats/stop", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ns.Shutdown()
			ns.WaitForShutdown()
			mu.Unlock()
			if err := waitMetric(c.metrics, "wssd_nats_connected", 0, 2); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		mux.HandleFunc("POST /nats/start", func(w http.ResponseWriter, r *http.Request) {
			next, err := newNATS(opts())
			if err == nil {
				t.Cleanup(func() { stopNATS(next) })
				mu.Lock()
				ns = next
				mu.Unlock()
			}
			if err == nil {
				err = waitMetric(c.metrics, "wssd_nats_connected", 1, 2)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		runClusterScript(t, tr, node, "outage", map[string]any{
			"servers": []clusterServer{{Port: c.port, Nodes: []int{256, 257}}},
			"control": serveHTTP(t, mux),
		})
	})
}

// TestClusterTwoMachines: two wssd instances with their own ports
// (-procs 2 each, -node 1 and -node 2), joined through a 3-node NATS
// cluster with JetStream the test runs in process. A trigger through
// either machine's API reaches the pusher-js clients of both exactly
// once, sendToUser reaches a user's tabs on both, and queries through
// either machine agree.
func TestClusterTwoMachines(t *testing.T) {
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		urls := startNATSCluster(t, 3)
		m1 := startCluster(t, tr, 2, 2, "-node", "1", "-nats-url", urls)
		m2 := startCluster(t, tr, 2, 4, "-node", "2", "-nats-url", urls)
		// Each machine's workers see all four nodes.
		if err := waitMetric(m1.metrics, "wssd_cluster_nodes", 4, 2); err != nil {
			t.Fatal(err)
		}
		runClusterScript(t, tr, node, "machines", map[string]any{
			"servers": []clusterServer{{Port: m1.port, Nodes: []int{256, 257}}, {Port: m2.port, Nodes: []int{512, 513}}},
		})
	})
}

// TestClusterPresenceExactlyOnce: a presence channel across three
// workers. A user with tabs on two workers is added once
// (pusher:member_added once at each other member, on every worker) and
// removed once, when the last tab closes; every worker lists the same
// members in subscription_succeeded, and the users query agrees.
// It failed while transitions were decided per worker (member_added twice).
func TestClusterPresenceExactlyOnce(t *testing.T) {
	runThreeWorkers(t, "presence", threeWorkers{})
}

// TestClusterWebhooksExactlyOnce: webhooks from three workers, received
// by the test's HTTP server, which checks X-Pusher-Key and
// X-Pusher-Signature: one channel_occupied for a channel whose
// subscribers are on three workers, no channel_vacated while one remains
// anywhere and one once the last leaves; one member_added and one
// member_removed for a user with tabs on two workers.
// It failed while transitions were decided per worker (3
// channel_occupied, vacated while subscribers remained).
func TestClusterWebhooksExactlyOnce(t *testing.T) {
	runThreeWorkers(t, "webhooks", threeWorkers{webhooks: true})
}

// TestClusterPresenceWorkerKilled: the worker holding a user's only tab
// is killed with SIGKILL (and the tab does not come back). Once the
// cluster counts that worker dead, the members on the other workers see
// the user removed once, every worker lists the members without it, and
// the test's server receives one member_removed webhook, and one
// channel_vacated for a channel only that tab had joined.
// It failed while a dead worker's members stayed forever.
func TestClusterPresenceWorkerKilled(t *testing.T) {
	runThreeWorkers(t, "presence-kill", threeWorkers{webhooks: true})
}

// TestClusterEcho drives Laravel Echo 2.5.0 (with pusher-js 8.6.0)
// against three workers, as TestLaravelEcho does against one process:
// Echos spread until each worker holds at least three (the socket ids'
// nodes and the binary's own wssd_connections_open by worker agree)
// listen on a public, a private and a presence channel, authorized by the
// stand-in for Laravel's /broadcasting/auth. App\Events\ClusterEvent
// broadcast through the pusher SDK, each request on a new connection
// (several workers answer: wssd_api_requests_total), alone, in batches and
// toOthers(), reaches each intended Echo's listen() exactly once;
// whispers from an Echo on each worker reach the members on every worker
// once, with the sender's user_id; here() lists the members who joined
// on other workers, joining() and leaving() come once for each, on every
// worker.
func TestClusterEcho(t *testing.T) {
	users := map[string]laravelUser{}
	for id := 1; id <= 100; id++ {
		users["user-"+strconv.Itoa(id)] = laravelUser{ID: id, Name: "User " + strconv.Itoa(id)}
	}
	runThreeWorkers(t, "echo", threeWorkers{
		args: []string{"-client-events"},
		cfg:  map[string]any{"users": users},
		routes: func(*testing.T, transport, *wssdCluster) map[string]http.Handler {
			return map[string]http.Handler{"POST /broadcasting/auth": laravelAuth{app: &clusterApp, users: users}}
		},
		after: func(t *testing.T, c *wssdCluster) {
			wantSeveralWorkers(t, c, "POST /apps/{app_id}/events", "POST /apps/{app_id}/batch_events")
		},
	})
}

// TestClusterPHP runs php/cluster.php (php-cli and php-curl, no SDK)
// against three workers, each request on a new connection: pusher-js
// clients spread over the workers (at least two each) subscribe to a
// public, a private and a presence channel; its triggers, to the three
// channels, and its batches reach each intended client exactly once; the
// channel lists, subscription_count, user_count and presence users it
// asks for, each many times, are the cluster-wide values whichever
// worker answers (several answer each route: wssd_api_requests_total).
func TestClusterPHP(t *testing.T) {
	php := requirePHP(t)
	var mu sync.Mutex
	var ran *phpRun // guarded by mu
	runThreeWorkers(t, "php", threeWorkers{
		routes: func(t *testing.T, tr transport, c *wssdCluster) map[string]http.Handler {
			mu.Lock()
			ran = nil
			mu.Unlock()
			cfg := map[string]any{"appId": clusterApp.ID, "key": clusterApp.Key, "secret": clusterApp.Secret,
				"base": fmt.Sprintf("%s://localhost:%d", map[bool]string{false: "http", true: "https"}[tr.TLS], c.port)}
			if tr.TLS {
				cfg["cafile"] = caFile(t)
			}
			return map[string]http.Handler{"POST /php": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				arg, _ := json.Marshal(cfg)
				run := &phpRun{}
				run.out, run.err = runOutput(t, scriptTimeout, "php", php, "cluster.php", string(arg))
				mu.Lock()
				ran = run
				mu.Unlock()
				// A report, even of failed checks, is for after; no report
				// fails the script's check at once.
				if len(bytes.TrimSpace(run.out)) == 0 {
					http.Error(w, fmt.Sprintf("the PHP script printed no report (%v)", run.err), http.StatusInternalServerError)
				}
			})}
		},
		after: func(t *testing.T, c *wssdCluster) {
			mu.Lock()
			run := ran
			mu.Unlock()
			if run == nil {
				t.Fatal("cluster.mjs never ran the PHP script")
			}
			checkReport(t, run.out, run.err, "(in the error)", phpClusterChecks)
			wantSeveralWorkers(t, c, "POST /apps/{app_id}/events", "POST /apps/{app_id}/batch_events",
				"GET /apps/{app_id}/channels", "GET /apps/{app_id}/channels/{channel}", "GET /apps/{app_id}/channels/{channel}/users")
		},
	})
}

// phpRun is what a PHP script printed on standard output and how it
// ended (runOutput's error, with its standard error).
type phpRun struct {
	out []byte
	err error
}

// wantSeveralWorkers checks that requests to each of routes of the HTTP
// API were answered with 200 by at least two workers of c, and that every
// worker answered some: the clients sent each on a new connection, which
// the kernel hands to any worker (the tests send at least 9 requests to
// each route and 24 in all: by chance one worker takes all of a route's
// with probability 3·(1/3)^9, one worker none with 3·(2/3)^24, each about
// 2·10⁻⁴).
func wantSeveralWorkers(t *testing.T, c *wssdCluster, routes ...string) {
	t.Helper()
	all := map[string]float64{}
	for _, route := range routes {
		by, err := metricValues(c.metrics, "wssd_api_requests_total", `route="`+route+`"`, `status="200"`)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s answered by worker: %v", route, by)
		answered := 0
		for w, n := range by {
			all[w] += n
			if n > 0 {
				answered++
			}
		}
		if answered < 2 {
			t.Errorf("%s: answered by %d worker(s) (%v), want several", route, answered, by)
		}
	}
	for w := range c.pids {
		if all[strconv.Itoa(w)] == 0 {
			t.Errorf("worker %d answered none of %v (%v)", w, routes, all)
		}
	}
}

// threeWorkers are the options of runThreeWorkers; the zero value runs
// the script as it is.
type threeWorkers struct {
	webhooks bool     // wssd sends the app's webhooks to the control server
	args     []string // more flags for wssd
	cfg      map[string]any

	// routes, if set, returns more routes for the control server, for the
	// cluster c; after, if set, runs once the script has ended.
	routes func(t *testing.T, tr transport, c *wssdCluster) map[string]http.Handler
	after  func(t *testing.T, c *wssdCluster)
}

// runThreeWorkers runs node/cluster.mjs in mode against wssd -procs 3 on
// the embedded NATS server, over each transport, with the test's control
// server: POST /kill {"node"} kills that worker (wssdCluster.kill), GET
// /metrics/{name} answers the values of the series name by worker
// (metricValues); with o.webhooks, wssd sends the app's webhooks to its
// POST /hook, and GET /hooks lists them (webhookSink). o.cfg adds to the
// script's configuration.
func runThreeWorkers(t *testing.T, mode string, o threeWorkers) {
	node := requireNode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		var cluster atomic.Pointer[wssdCluster]
		mux := http.NewServeMux()
		mux.HandleFunc("POST /kill", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Node int `json:"node"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := cluster.Load().kill(req.Node); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		mux.HandleFunc("GET /metrics/{name}", func(w http.ResponseWriter, r *http.Request) {
			values, err := metricValues(cluster.Load().metrics, r.PathValue("name"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(values)
		})
		control := serveHTTP(t, mux)
		args := append([]string{"-nats-store", t.TempDir()}, o.args...)
		if o.webhooks {
			hooks := &webhookSink{}
			mux.Handle("POST /hook", hooks)
			mux.HandleFunc("GET /hooks", hooks.list)
			args = append(args, "-webhook-url", control+"/hook")
		}
		c := startCluster(t, tr, 3, 3, args...)
		cluster.Store(c)
		if o.routes != nil {
			for pattern, h := range o.routes(t, tr, c) {
				mux.Handle(pattern, h)
			}
		}
		cfg := map[string]any{
			"servers": []clusterServer{{Port: c.port, Nodes: []int{0, 1, 2}}},
			"control": control,
		}
		maps.Copy(cfg, o.cfg)
		runClusterScript(t, tr, node, mode, cfg)
		if o.after != nil {
			o.after(t, c)
		}
	})
}

// TestClusterGatewayBindAnyWorker: the Gateway facade's requests that
// name a socket (bind_uid, join_group), sent on new connections, work
// whichever worker takes them, as GatewayWorker's do whichever gateway
// holds the client (it failed while only the worker holding the socket
// knew it: the others answered 404, unknown socket).
func TestClusterGatewayBindAnyWorker(t *testing.T) {
	runThreeWorkers(t, "gateway-bind", threeWorkers{})
}

// clusterServer is one wssd instance as node/cluster.mjs sees it: its
// port on localhost and the node numbers of its workers.
type clusterServer struct {
	Port  int   `json:"port"`
	Nodes []int `json:"nodes"`
}

// runClusterScript runs node/cluster.mjs in mode, with the app, the
// transport and cfg, and checks that it passed each check of the mode and
// named pusher-js 8.6.0, or in mode echo laravel-echo 2.5.0, as its
// client.
func runClusterScript(t *testing.T, tr transport, node, mode string, cfg map[string]any) {
	t.Helper()
	cfg["mode"] = mode
	cfg["appId"], cfg["key"], cfg["secret"] = clusterApp.ID, clusterApp.Key, clusterApp.Secret
	cfg["host"], cfg["tls"] = "localhost", tr.TLS
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	client, version := "pusher-js", "8.6.0"
	if mode == "echo" {
		client, version = "laravel-echo", "2.5.0"
	}
	runNodeChecks(t, tr, node, "cluster.mjs", b, client, version, clusterChecks[mode])
	t.Logf("cluster.mjs %s: %v", mode, time.Since(start).Round(100*time.Millisecond))
}

// wssdCluster is a wssd binary started with -procs.
type wssdCluster struct {
	run     *wssdRun
	port    int
	metrics string // the supervisor's merged /metrics

	mu   sync.Mutex
	pids map[int]int // each worker's pid, by node number
	from int         // where in the log kill looks for its lines
}

// startCluster starts wssd with -procs procs, the cluster app, over tr
// (with testpki's certificate over wss), and args, and waits until every
// worker listens and counts nodes live nodes in the cluster.
func startCluster(t *testing.T, tr transport, procs, nodes int, args ...string) *wssdCluster {
	t.Helper()
	args = append([]string{"-procs", strconv.Itoa(procs), "-app-id", clusterApp.ID, "-app-key", clusterApp.Key, "-app-secret", clusterApp.Secret}, args...)
	if tr.TLS {
		cert, key, err := testpki.Get().WriteFiles(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "-tls-cert", cert, "-tls-key", key)
	}
	c := &wssdCluster{run: launchWssd(t, args...), pids: map[int]int{}}
	from := 0
	c.metrics = c.run.next(t, &from, time.Minute, "metrics listening", nil).str("url")
	for from = 0; len(c.pids) < procs; {
		l := c.run.next(t, &from, time.Minute, "wssd listening", nil)
		u, err := url.Parse(l.str("url"))
		if err != nil {
			t.Fatal(err)
		}
		if c.port, err = strconv.Atoi(u.Port()); err != nil {
			t.Fatalf("wssd listening on %q", l.str("url"))
		}
		n, _ := l["node"].(float64)
		pid, _ := l["pid"].(float64)
		c.pids[int(n)] = int(pid)
	}
	c.from = from
	if err := waitMetric(c.metrics, "wssd_cluster_nodes", float64(nodes), procs); err != nil {
		t.Fatal(err)
	}
	return c
}

// kill kills the worker of node with SIGKILL and waits until the
// supervisor has noticed and the restarted worker listens. It may be
// called from any goroutine, one call at a time.
func (c *wssdCluster) kill(node int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pid, ok := c.pids[node]
	if !ok {
		return fmt.Errorf("no worker has node %d", node)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	if _, err := c.run.wait(&c.from, 10*time.Second, "worker died; restarting it", func(l wssdLog) bool {
		return l["pid"] == float64(pid)
	}); err != nil {
		return err
	}
	back, err := c.run.wait(&c.from, 10*time.Second, "wssd listening", func(l wssdLog) bool {
		return l["node"] == float64(node)
	})
	if err != nil {
		return err
	}
	newPid, _ := back["pid"].(float64)
	c.pids[node] = int(newPid)
	return nil
}

// metricValues returns the values of the series name in the supervisor's
// merged /metrics, by worker label: of the series whose labels include
// each of labels (`route="…"`), summed.
func metricValues(metricsURL, name string, labels ...string) (map[string]float64, error) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), name+"{")
		if !ok {
			continue
		}
		have, value, _ := strings.Cut(line, "} ")
		if slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(have, l) }) {
			continue
		}
		_, w, _ := strings.Cut(have, `worker="`)
		w, _, _ = strings.Cut(w, `"`)
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Text(), err)
		}
		out[w] += v
	}
	return out, sc.Err()
}

// waitMetric waits up to 15 s until the merged series name has the value
// want for each of workers 0 to workers-1.
func waitMetric(metricsURL, name string, want float64, workers int) error {
	var got map[string]float64
	var err error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got, err = metricValues(metricsURL, name); err != nil {
			continue
		}
		match := len(got) == workers
		for w := range workers {
			match = match && got[strconv.Itoa(w)] == want
		}
		if match {
			return nil
		}
	}
	return fmt.Errorf("%s %v (%v), want %v on each of %d workers", name, got, err, want, workers)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago,
// for a server that must come back on the same port.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newNATS starts a NATS server in process with opts and waits until it
// takes connections.
func newNATS(opts *server.Options) (*server.Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		stopNATS(ns)
		return nil, errors.New("the test's NATS server is not ready after 10 s")
	}
	return ns, nil
}

func stopNATS(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}

// startNATS is newNATS for the test's goroutine; the server stops with
// the test.
func startNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	ns, err := newNATS(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNATS(ns) })
	return ns
}

// startNATSCluster starts n NATS servers routed together into one
// cluster with JetStream, each with its own store directory, waits until
// each has a route to every other and JetStream has a meta leader, and
// returns their client URLs, comma-separated, as -nats-url takes them.
func startNATSCluster(t *testing.T, n int) string {
	t.Helper()
	routes := make([]string, n)
	routePorts := make([]int, n)
	for i := range n {
		routePorts[i] = freePort(t)
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(routePorts[i])
	}
	servers := make([]*server.Server, n)
	urls := make([]string, n)
	for i := range n {
		ns, err := server.NewServer(&server.Options{
			ServerName: "wssd-test-" + strconv.Itoa(i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "wssd-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:  true, NoLog: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		t.Cleanup(func() { stopNATS(ns) })
		servers[i] = ns
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("NATS server %d is not ready after 10 s", i)
		}
		urls[i] = ns.ClientURL()
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		routed, leader := true, false
		for _, ns := range servers {
			rz, err := ns.Routez(nil)
			if err != nil {
				t.Fatal(err)
			}
			peers := map[string]bool{}
			for _, r := range rz.Routes {
				peers[r.RemoteID] = true
			}
			routed = routed && len(peers) == n-1
			leader = leader || ns.JetStreamIsLeader()
		}
		if routed && leader {
			return strings.Join(urls, ",")
		}
		if time.Now().After(end) {
			t.Fatalf("the NATS cluster did not form in 30 s (routed %v, JetStream leader %v)", routed, leader)
		}
	}
}

// webhookSink receives the webhooks of clusterApp and keeps their events;
// a request whose X-Pusher-Key or X-Pusher-Signature is wrong is kept as
// an error. It may be called concurrently.
type webhookSink struct {
	mu     sync.Mutex
	events []webhookEvent
	bad    []string
}

// webhookEvent is one event of a webhook's body.
type webhookEvent struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	UserID  string `json:"user_id,omitempty"`
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bad = append(s.bad, err.Error())
		return
	}
	mac := hmac.New(sha256.New, []byte(clusterApp.Secret))
	mac.Write(body)
	sig, _ := hex.DecodeString(r.Header.Get("X-Pusher-Signature"))
	if key := r.Header.Get("X-Pusher-Key"); key != clusterApp.Key || !hmac.Equal(sig, mac.Sum(nil)) {
		s.bad = append(s.bad, fmt.Sprintf("key %q, signature %q of %s", key, r.Header.Get("X-Pusher-Signature"), body))
		return
	}
	var hook struct {
		Events []webhookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &hook); err != nil {
		s.bad = append(s.bad, fmt.Sprintf("%s: %v", body, err))
		return
	}
	s.events = append(s.events, hook.Events...)
}

// list answers {"events": [...], "bad": [...]}: every event received so
// far, in order, and the requests refused.
func (s *webhookSink) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": s.events, "bad": s.bad})
}
