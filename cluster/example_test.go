package cluster_test

import (
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/push"
)

// A push server whose State is the cluster's: its triggers reach the
// subscribers of every node on the same NATS, and its queries count them
// all. Here the NATS server is embedded, on a free loopback port.
func ExampleNew() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats-server not ready")
	}

	nc, err := nats.Connect(ns.ClientURL(), nats.NoEcho()) // NoEcho: our own events do not come back
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	apps, err := push.NewApps(push.App{ID: "1", Key: "key", Secret: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	st, err := cluster.New(nc, cluster.Config{Node: 1, Apps: apps})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	srv, err := push.New(push.Config{Apps: apps, State: st, Node: 1})
	if err != nil {
		log.Fatal(err)
	}
	// srv is the engine.Server's handler: engine.New(cfg, srv), srv.Bind(es), es.Start(addr).
	fmt.Println(st.Nodes(), srv.Trigger("1", []string{"news"}, "hello", `{"n":1}`, ""))
	// Output: [1] <nil>
}
