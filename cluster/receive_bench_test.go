package cluster

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/push"
)

// BenchmarkReceive: what a dispatcher spends on one event from another
// node before LocalState delivers it (subject parsed, headers read,
// Message made), for a channel without subscribers here.
func BenchmarkReceive(b *testing.B) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	apps, _ := push.NewApps(push.App{ID: "1", Key: "k", Secret: "s"})
	s, err := New(nc, Config{Apps: apps})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := &nats.Msg{Subject: s.subj.channel("1", "private-room"), Data: []byte(`{"event":"ev","channel":"private-room","data":"{}"}`),
		Header: nats.Header{hdrOrigin: {"2.00"}, hdrExcept: {"1.2"}}}
	b.ReportAllocs()
	for b.Loop() {
		s.receive(msg)
	}
}
