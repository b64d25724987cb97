package cluster_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

var testApp = push.App{ID: "1", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}

// startNATS runs an embedded NATS server with JetStream, storing in a
// temporary directory, on a free loopback port.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	return startNATSAt(t, server.RANDOM_PORT, t.TempDir())
}

// startNATSAt runs an embedded NATS server on port with JetStream storing
// in dir: started again on the same port and directory, it comes back
// with the state bucket.
func startNATSAt(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	return startNATSWith(t, &server.Options{Port: port, JetStream: true, StoreDir: dir})
}

// startNATSWith runs an embedded NATS server with opts on 127.0.0.1,
// quiet, shut down at the test's end (also if the test did it first).
func startNATSWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// testConfig has short intervals, so that the tests see deaths quickly.
var testConfig = cluster.Config{
	HeartbeatInterval: 50 * time.Millisecond,
	DeadAfter:         time.Second,
	HungAfter:         3 * time.Second,
	QueryTimeout:      2 * time.Second,
}

// node is one push server on a cluster State, with its own NATS
// connection, on a free loopback port.
type node struct {
	t    testing.TB
	nc   *nats.Conn
	st   *cluster.State
	srv  *push.Server
	es   *engine.Server
	hook *recorder
}

// startNode starts node num. Even numbers connect without nats.NoEcho, so
// that their own events come back to them and the origin check is tested.
func startNode(t testing.TB, ns *server.Server, num uint16, cfg cluster.Config) *node {
	t.Helper()
	return startNodeApp(t, ns, num, cfg, testApp)
}

// startNodeApp is startNode serving app (with its Limits) as the test app.
func startNodeApp(t testing.TB, ns *server.Server, num uint16, cfg cluster.Config, app push.App) *node {
	t.Helper()
	return startNodeAt(t, ns.ClientURL(), num, cfg, app)
}

// startNodeAt is startNodeApp connecting to NATS at url.
func startNodeAt(t testing.TB, url string, num uint16, cfg cluster.Config, app push.App) *node {
	t.Helper()
	return startNodeHook(t, url, num, cfg, app, nil)
}

// startNodeHook is startNodeAt whose push server's Hook is made by
// mkHook, if not nil (the node's recorder then gets nothing).
func startNodeHook(t testing.TB, url string, num uint16, cfg cluster.Config, app push.App, mkHook func(*nats.Conn, *push.Apps) push.Hook) *node {
	t.Helper()
	var opts []nats.Option
	if num%2 == 1 {
		opts = append(opts, nats.NoEcho())
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := push.NewApps(app)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node, cfg.Apps = num, apps
	st, err := cluster.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the engine's shutdown, registered below
		st.Close()
		nc.Close()
	})
	hook := &recorder{}
	var h push.Hook = hook
	if mkHook != nil {
		h = mkHook(nc, apps)
	}
	srv, err := push.New(push.Config{Apps: apps, State: st, Node: num, Hook: h})
	if err != nil {
		t.Fatal(err)
	}
	es := wstest.StartServerWith(t, wstest.Transport{Name: "ws"}, "127.0.0.1:0", engine.Config{}, srv, 5*time.Second, srv.Bind)
	return &node{t: t, nc: nc, st: st, srv: srv, es: es, hook: hook}
}

// startCluster starts n nodes, numbered from 1, and waits until each sees
// all of them.
func startCluster(t testing.TB, n int) (*server.Server, []*node) {
	t.Helper()
	return startClusterWith(t, n, testConfig)
}

// startClusterWith is startCluster with cfg for every node.
func startClusterWith(t testing.TB, n int, cfg cluster.Config) (*server.Server, []*node) {
	t.Helper()
	ns := startNATS(t)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, ns, uint16(i+1), cfg)
	}
	for _, nd := range nodes {
		waitFor(t, "every node live", func() bool { return len(nd.st.Nodes()) == n })
	}
	for _, nd := range nodes { // so that no test sees the cache's query
		<-cluster.Synced(nd.st)
	}
	return ns, nodes
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// follow waits until the node is subscribed to the channel's subject, or
// not, and NATS knows it: a flush is answered after what was sent before.
func (n *node) follow(channel string, on bool) {
	n.t.Helper()
	waitFor(n.t, "interest in "+channel, func() bool { return cluster.Following(n.st, testApp.ID, channel) == on })
	if err := n.nc.Flush(); err != nil {
		n.t.Fatal(err)
	}
}

// dial connects a Pusher client of the test app to the node.
func (n *node) dial() *pushtest.Client {
	n.t.Helper()
	return pushtest.Dial(n.t, n.es.Addr().String(), pushtest.Options{Key: testApp.Key, Secret: testApp.Secret})
}

// gateway returns the node's Gateway of the test app.
func (n *node) gateway() *push.Gateway {
	n.t.Helper()
	g, err := n.srv.Gateway(testApp.ID)
	if err != nil {
		n.t.Fatal(err)
	}
	return g
}

// jsonHas says whether the encoded frame contains s.
func jsonHas(frame []byte, s string) bool { return strings.Contains(string(frame), s) }

// recorder is a push.Hook that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []push.HookEvent
}

func (r *recorder) HandleEvent(e push.HookEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// hooks counts the events of kind on channel (about user, if not empty)
// that the nodes' hooks received, all nodes together.
func hooks(nodes []*node, kind push.HookKind, channel, user string) int {
	n := 0
	for _, nd := range nodes {
		nd.hook.mu.Lock()
		for _, e := range nd.hook.events {
			if e.Kind == kind && e.Channel == channel && (user == "" || e.UserID == user) {
				n++
			}
		}
		nd.hook.mu.Unlock()
	}
	return n
}

// sendPresence sends c's presence subscription, signed, as user.
func sendPresence(c *pushtest.Client, channel, user string) {
	cd := `{"user_id":"` + user + `"}`
	c.Subscribe(channel, c.Auth(channel, cd), cd)
}

// signin signs c in as user, watching watchlist.
func signin(c *pushtest.Client, user string, watchlist ...string) {
	ud, _ := json.Marshal(map[string]any{"id": user, "watchlist": watchlist})
	c.SignIn(string(ud))
}
