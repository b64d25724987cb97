package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcsWorkerStalled: a worker stopped (SIGSTOP) for longer than
// -cluster-dead-after, as one starved by load for seconds is, keeps its
// NATS connections: the other worker suspects and probes it but does not
// take it for dead (which would remove its members and vacate its
// channels), and hears it again once it runs.
func TestProcsWorkerStalled(t *testing.T) {
	const deadAfter = 2 * time.Second
	args := append([]string{"-procs", "2", "-nats-store", t.TempDir(), "-shutdown-timeout", "3s",
		"-cluster-dead-after", deadAfter.String(), "-cluster-hung-after", "30s"}, pushAppArgs...)
	p := startWSSD(t, args...)
	pids, _, _ := workerLines(t, p, p.listening, 2)
	waitMetric(t, p.metrics, "wssd_cluster_nodes", 2, 2)
	victim := pids[1]
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(victim, syscall.SIGCONT) })
	stall := time.After(3 * deadAfter)
	var suspected bool
	for waiting := true; waiting; {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatal("wssd exited")
			}
			msg, _ := m["msg"].(string)
			switch {
			case strings.HasPrefix(msg, "cluster: node suspected"):
				suspected = true
			case strings.HasPrefix(msg, "cluster: node dead"):
				t.Fatalf("worker stopped for less than -cluster-hung-after taken for dead: %v", m)
			}
		case <-stall:
			waiting = false
		}
	}
	if !suspected {
		t.Errorf("no \"cluster: node suspected\" line while worker pid %d was stopped for %v", victim, 3*deadAfter)
	}
	if err := syscall.Kill(victim, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	p.next("cluster: suspected node heard again", "cluster: suspected node answered a probe: alive, only slow")
}
