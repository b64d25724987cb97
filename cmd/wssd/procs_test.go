package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sys/unix"

	"github.com/wssd/wssd/internal/procstat"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// pushAppArgs configure one app, so that every worker serves the same.
var pushAppArgs = []string{"-app-id", "1", "-app-key", "procs-key", "-app-secret", "procs-secret"}

// workerLines reads the "wssd listening" lines of n workers (the first
// one's is given) and returns each worker's pid, push node and scheduling.
func workerLines(t *testing.T, p *wssdProcess, first map[string]any, n int) (pids, nodes map[int]int, sched map[int]workerSched) {
	t.Helper()
	pids, nodes, sched = map[int]int{}, map[int]int{}, map[int]workerSched{}
	for m := first; ; m = p.next("wssd listening") {
		w, ok := m["worker"].(float64)
		if !ok {
			t.Fatalf("a worker's listening line without its index: %v", m)
		}
		pids[int(w)], nodes[int(w)] = int(m["pid"].(float64)), int(m["node"].(float64))
		g, _ := m["gomaxprocs"].(float64)
		l, _ := m["event_loops"].(float64)
		sched[int(w)] = workerSched{gomaxprocs: int(g), loops: int(l)}
		if len(pids) == n {
			return pids, nodes, sched
		}
	}
}

// workerSched is a worker's GOMAXPROCS and event loops.
type workerSched struct{ gomaxprocs, loops int }

// socketNode returns the node number a socket id carries: "17.0483920571"
// is node 0, "17.769483920571" node 769 (push/doc.go).
func socketNode(t *testing.T, id string) int {
	t.Helper()
	_, s, ok := strings.Cut(id, ".")
	if !ok || len(s) <= 9 {
		t.Fatalf("socket id %q", id)
	}
	n, err := strconv.Atoi(s[:len(s)-9])
	if err != nil {
		t.Fatalf("socket id %q: %v", id, err)
	}
	return n
}

// dialWorker connects a Pusher client of the test's app over wss when
// tlsConf is set.
func dialWorker(t *testing.T, addr string, tlsConf *tls.Config) *pushtest.Client {
	t.Helper()
	return pushtest.Dial(t, addr, pushtest.Options{Key: "procs-key", Secret: "procs-secret", TLS: tlsConf, Timeout: 10 * time.Second})
}

// gone reports whether pid has exited: no /proc entry, or a zombie left
// for init to reap.
func gone(pid int) bool {
	f := procstat.StatFields(pid)
	return len(f) == 0 || f[0] == "Z"
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		for end := time.Now().Add(10 * time.Second); !gone(pid); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("process %d still runs", pid)
			}
		}
	}
}

// scrapeMetric returns the values of a series in the supervisor's merged
// /metrics, by worker label.
func scrapeMetric(t *testing.T, metricsURL, name string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		labels, value, _ := strings.Cut(strings.TrimPrefix(line, name), " ")
		_, w, _ := strings.Cut(labels, `worker="`)
		w, _, _ = strings.Cut(w, `"`)
		out[w], _ = strconv.ParseFloat(value, 64)
	}
	return out
}

// TestProcs runs -procs 3 on the embedded NATS server: connections spread
// over the workers, each with its own node number; a worker killed with
// SIGKILL is restarted while the others' clients keep working; SIGTERM
// stops every worker, whose clients get 4200, and the supervisor exits 0
// leaving no process behind.
func TestProcs(t *testing.T) {
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		args := append([]string{"-procs", "3", "-nats-store", t.TempDir(), "-shutdown-timeout", "3s"}, pushAppArgs...)
		var tlsConf *tls.Config
		if tr.TLS {
			args = append(args, "-tls-dev", t.TempDir())
			tlsConf = &tls.Config{InsecureSkipVerify: true}
		}
		p := startWSSD(t, args...)
		if p.metrics == "" {
			t.Fatal("the supervisor logged no metrics address")
		}
		pids, nodes, sched := workerLines(t, p, p.listening, 3)
		var want workerSched
		want.gomaxprocs, want.loops = workerCPUs(runtime.GOMAXPROCS(0), 3)
		if env, set := os.LookupEnv("GOMAXPROCS"); set { // the workers inherit it, and loop on each P
			want.gomaxprocs, _ = strconv.Atoi(env)
			want.loops = want.gomaxprocs
		}
		for w, got := range sched {
			if got != want {
				t.Errorf("worker %d runs with GOMAXPROCS %d and %d event loops, want %d and %d", w, got.gomaxprocs, got.loops, want.gomaxprocs, want.loops)
			}
		}

		// The clients belong to the whole test (closed at its end); each
		// step lends them its t.
		outer := t
		var clients []*pushtest.Client
		t.Run("spread", func(t *testing.T) {
			seen := map[int]int{}
			for range 12 {
				c := dialWorker(outer, p.addr, tlsConf)
				c.Attach(t)
				clients = append(clients, c)
				seen[socketNode(t, c.ID)]++
			}
			if len(seen) < 2 {
				t.Fatalf("12 connections all on node(s) %v", seen)
			}
			for w, n := range nodes {
				if n != w { // -node 0: worker i is node i
					t.Fatalf("worker %d has node %d", w, n)
				}
			}
			for n := range seen {
				if _, ok := nodes[n]; !ok {
					t.Fatalf("a socket id with node %d: no worker has it (%v)", n, nodes)
				}
			}
			// The merged /metrics counts each worker's connections and
			// NATS connection (to the embedded server).
			for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				open, conn := scrapeMetric(t, p.metrics, "wssd_connections_open"), scrapeMetric(t, p.metrics, "wssd_nats_connected")
				match := len(open) == 3
				for n := range 3 {
					match = match && open[strconv.Itoa(n)] == float64(seen[n]) && conn[strconv.Itoa(n)] == 1
				}
				if match {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("merged metrics: connections_open %v (clients by node %v), nats_connected %v", open, seen, conn)
				}
			}
			if wstest.HTTPStatus(t, strings.Replace(p.metrics, "/metrics", "/readyz", 1)) != http.StatusOK {
				t.Fatal("/readyz with three workers running is not 200")
			}
		})
		if t.Failed() {
			return
		}

		t.Run("trigger reaches every worker once", func(t *testing.T) {
			for _, c := range clients {
				c.Attach(t)
				c.Join("news", "")
			}
			// No wait: a node's NATS subscription to the channel is in
			// place before it answers its first subscriber (cluster.State).
			creds := push.Credentials{ID: "1", Key: "procs-key", Secret: "procs-secret"}
			body := `{"name":"update","channels":["news"],"data":"{\"n\":1}"}`
			query := creds.SignQuery("POST", "/apps/1/events", nil, []byte(body), time.Now())
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
			defer client.CloseIdleConnections()
			scheme := "http"
			if tr.TLS {
				scheme = "https"
			}
			res, err := client.Post(scheme+"://"+p.addr+"/apps/1/events?"+query, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("trigger: %d", res.StatusCode)
			}
			for _, c := range clients {
				c.ExpectEvent("update", "news", `{"n":1}`)
				c.Ping() // and nothing else: not a second copy
			}
			// Every worker sees the three nodes, the event crossed NATS, and
			// each worker's first subscriber went through the state bucket
			// of the embedded server's JetStream, none decided alone.
			sum := func(m map[string]float64) (total float64) {
				for _, n := range m {
					total += n
				}
				return total
			}
			for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				nodes, published := scrapeMetric(t, p.metrics, "wssd_cluster_nodes"), scrapeMetric(t, p.metrics, "wssd_cluster_published_total")
				writes, degraded := scrapeMetric(t, p.metrics, "wssd_cluster_kv_writes_total"), scrapeMetric(t, p.metrics, "wssd_cluster_degraded_total")
				if nodes["0"] == 3 && nodes["1"] == 3 && nodes["2"] == 3 && sum(published) >= 1 && sum(writes) >= 3 && sum(degraded) == 0 {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("wssd_cluster_nodes %v, wssd_cluster_published_total %v, wssd_cluster_kv_writes_total %v, wssd_cluster_degraded_total %v",
						nodes, published, writes, degraded)
				}
			}
		})
		if t.Failed() {
			return
		}

		var alive []*pushtest.Client // the clients of the workers not killed
		t.Run("worker killed", func(t *testing.T) {
			victim := socketNode(t, clients[0].ID)
			pid := pids[victim]
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			died := p.next("worker died; restarting it")
			if died["worker"] != float64(victim) || died["cause"] != "signal: killed" || died["pid"] != float64(pid) {
				t.Fatalf("death line %v, want worker %d pid %d killed", died, victim, pid)
			}
			back := p.next("wssd listening")
			if back["worker"] != float64(victim) || back["pid"] == float64(pid) || back["node"] != float64(victim) {
				t.Fatalf("restart line %v, want worker %d with a new pid and node %d", back, victim, victim)
			}
			waitGone(t, pid)
			for _, c := range clients {
				c.Attach(t)
				if socketNode(t, c.ID) == victim {
					if _, _, err := c.WS.ReadMessage(5 * time.Second); err == nil {
						t.Fatal("a client of the killed worker still reads")
					}
					continue
				}
				c.Ping()
				alive = append(alive, c)
			}
			c := dialWorker(outer, p.addr, tlsConf)
			c.Attach(t)
			c.Ping()
			alive = append(alive, c)
		})
		if t.Failed() {
			return
		}

		t.Run("graceful stop", func(t *testing.T) {
			workers := procstat.Children(p.cmd.Process.Pid)
			if len(workers) != 3 {
				t.Fatalf("supervisor's children %v, want 3 workers", workers)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for _, c := range alive {
				c.Attach(t)
				if code := c.ExpectClose(); code != wsproto.CloseCode(push.CodeReconnect) {
					t.Fatalf("close %v, want 4200", code)
				}
			}
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("supervisor exited with %v after SIGTERM", err)
			}
			waitGone(t, workers...)
		})
	})
}

// TestProcsSupervisorKilled: workers die with a supervisor killed with
// SIGKILL (-mode echo takes -procs too: it has no state to share).
func TestProcsSupervisorKilled(t *testing.T) {
	p := startWSSD(t, "-mode", "echo", "-procs", "2")
	workerLines(t, p, p.listening, 2)
	c, err := wstest.Dial(p.addr, wstest.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoOnce(t, c, "before")
	workers := procstat.Children(p.cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("supervisor's children %v, want 2 workers", workers)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, workers...)
	if !c.WaitEOF(5 * time.Second) {
		t.Fatal("the client's connection outlived its worker")
	}
}

// TestProcsExternalNATS: with -nats-url the workers connect to that
// server (the test's, with a user and password), as node -node*256+i,
// instead of an embedded one, and reconnect after an outage; a wrong
// password stops wssd at start with NATS's reason, with -procs and
// without.
func TestProcsExternalNATS(t *testing.T) {
	ns := startTestNATS(t, server.RANDOM_PORT)
	url := ns.ClientURL()

	for _, procs := range []string{"1", "2"} {
		t.Run("wrong password/procs "+procs, func(t *testing.T) {
			bin, err := buildOnce()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, append([]string{"-procs", procs, "-listen", "127.0.0.1:0", "-metrics-listen", "",
				"-node", "1", "-nats-url", url, "-nats-user", "wssd", "-nats-password", "wrong"}, pushAppArgs...)...).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("wssd with a wrong NATS password: %v (%v)\n%s", err, ctx.Err(), out)
			}
			if !strings.Contains(string(out), "Authorization Violation") {
				t.Fatalf("the error does not say why:\n%s", out)
			}
		})
	}

	t.Run("connects", func(t *testing.T) {
		t.Setenv("WSSD_NATS_PASSWORD", "s3cret")
		p := startWSSD(t, append([]string{"-procs", "2", "-node", "3", "-nats-url", url, "-nats-user", "wssd"}, pushAppArgs...)...)
		_, nodes, _ := workerLines(t, p, p.listening, 2)
		if nodes[0] != 3*256 || nodes[1] != 3*256+1 {
			t.Fatalf("nodes %v, want 768 and 769 for -node 3", nodes)
		}
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			connz, err := ns.Connz(&server.ConnzOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range connz.Conns {
				names = append(names, c.Name)
			}
			if slices.Contains(names, "wssd node 768") && slices.Contains(names, "wssd node 769") {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("connections to the test's NATS server: %q", names)
			}
		}
		// The second worker reports to the supervisor just after its
		// listening line.
		waitMetric(t, p.metrics, "wssd_nats_connected", 1, 1)

		// An outage: the workers notice, and reconnect once NATS is back
		// on its address.
		port := ns.Addr().(*net.TCPAddr).Port
		ns.Shutdown()
		ns.WaitForShutdown()
		waitMetric(t, p.metrics, "wssd_nats_connected", 0, 0)
		startTestNATS(t, port)
		waitMetric(t, p.metrics, "wssd_nats_connected", 1, 1)
		waitMetric(t, p.metrics, "wssd_nats_reconnects_total", 1, 1)
	})
}

// TestProcsPortInUse: -procs does not join another server that listens
// on -listen with SO_REUSEPORT (another wssd's workers), though its own
// workers use it.
func TestProcsPortInUse(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-mode", "echo", "-procs", "2", "-metrics-listen", "", "-listen", ln.Addr().String()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("wssd -procs on a port in use: %v\n%s", err, out)
	}
}

// TestNATSStoreLocked: two supervisors cannot share an embedded NATS
// server's JetStream directory.
func TestNATSStoreLocked(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another wssd") {
		t.Fatalf("second lock: %v", err)
	}
	first.Close()
	again, err := lockDir(dir)
	if err != nil {
		t.Fatalf("after the first is released: %v", err)
	}
	again.Close()
}

// TestProcsReload: SIGHUP to the supervisor reloads the certificate in
// every worker.
func TestProcsReload(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir)
	p := startWSSD(t, "-mode", "echo", "-procs", "2", "-tls-watch", "0",
		"-tls-cert", filepath.Join(dir, "cert.pem"), "-tls-key", filepath.Join(dir, "key.pem"))
	workerLines(t, p, p.listening, 2)
	next := writePair(t, dir)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := map[any]bool{}
	for len(reloaded) < 2 {
		reloaded[p.next("certificates loaded")["worker"]] = true
	}
	// Every new connection, whichever worker takes it, gets the new one.
	for range 6 {
		if serial, _ := serialOf(t, p.addr); serial.Cmp(next) != 0 {
			t.Fatalf("serial %v after SIGHUP, want %v", serial, next)
		}
	}
}

// startTestNATS starts a NATS server on port of 127.0.0.1 (RANDOM_PORT: a
// free one) that wants the user wssd, password s3cret; it stops with the
// test.
func startTestNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, Username: "wssd", Password: "s3cret", NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("test NATS server not ready")
	}
	return ns
}

// waitMetric waits until the merged series name has, for workers 0, 1,
// ..., the values want.
func waitMetric(t *testing.T, metricsURL, name string, want ...float64) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := scrapeMetric(t, metricsURL, name)
		match := len(got) == len(want)
		for i, v := range want {
			match = match && got[strconv.Itoa(i)] == v
		}
		if match {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s %v, want %v by worker", name, got, want)
		}
	}
}

func TestWorkerCPUs(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		cpus, procs              int
		wantGOMAXPROCS, wantLoop int
	}{
		{"more workers than CPUs", 2, 4, 2, 1},
		{"as many as CPUs", 8, 8, 2, 1},
		{"a share of the CPUs", 8, 4, 3, 2},
		{"a share rounded down", 7, 2, 4, 3},
		{"one worker", 2, 1, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, l := workerCPUs(tc.cpus, tc.procs)
			if g != tc.wantGOMAXPROCS || l != tc.wantLoop {
				t.Fatalf("workerCPUs(%d, %d) = %d, %d; want %d, %d", tc.cpus, tc.procs, g, l, tc.wantGOMAXPROCS, tc.wantLoop)
			}
		})
	}
}
