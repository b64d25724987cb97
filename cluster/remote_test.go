package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/push"
	"github.com/wssd/wssd/wsproto"
)

// TestRemoteSocketOps: the facade's operations on a socket id, and
// terminate_connections, work from whichever node the back end asks. They
// answered "unknown socket" (404) for the sockets of the other nodes: with
// -procs 3 two binds in three failed.
func TestRemoteSocketOps(t *testing.T) {
	_, nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ga := a.gateway()

	t.Run("bind and groups", func(t *testing.T) {
		onB := b.dial()
		if err := ga.BindUID(onB.ID, "bob"); err != nil {
			t.Fatalf("BindUID through another node: %v", err)
		}
		b.follow("#server-to-user-bob", true)
		if err := ga.JoinGroup(onB.ID, "room"); err != nil {
			t.Fatalf("JoinGroup through another node: %v", err)
		}
		b.follow("room", true)
		if err := c.gateway().SendToUID("bob", "dm", "hi"); err != nil {
			t.Fatal(err)
		}
		onB.ExpectEvent("dm", "#server-to-user-bob", "hi")
		if err := c.gateway().SendToGroup("room", "say", "all"); err != nil {
			t.Fatal(err)
		}
		onB.ExpectEvent("say", "room", "all")
		if err := ga.LeaveGroup(onB.ID, "room"); err != nil {
			t.Fatalf("LeaveGroup through another node: %v", err)
		}
		b.follow("room", false)
		if err := c.gateway().SendToGroup("room", "say", "gone"); err != nil {
			t.Fatal(err)
		}
		onB.Ping()
	})

	t.Run("errors keep their kind", func(t *testing.T) {
		onB := b.dial()
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"bad uid", ga.BindUID(onB.ID, ""), push.ErrLimit},
			{"bad group", ga.JoinGroup(onB.ID, "bad name!"), push.ErrInvalidChannel},
			{"presence group before a bind", ga.JoinGroup(onB.ID, "presence-x"), push.ErrNotPresence},
			{"no such socket on a live node", ga.BindUID("999999.2000000001", "u"), push.ErrUnknownSocket},
			{"no such node", ga.BindUID("1.9000000001", "u"), push.ErrUnknownSocket},
			{"not a socket id", ga.CloseSocket("nonsense"), push.ErrUnknownSocket},
		}
		for _, tc := range cases {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			}
		}
	})

	t.Run("close", func(t *testing.T) {
		onC := c.dial()
		if err := ga.CloseSocket(onC.ID); err != nil {
			t.Fatalf("CloseSocket through another node: %v", err)
		}
		if code, _, err := onC.WS.ReadClose(5 * time.Second); err != nil || code != wsproto.CloseCode(push.CodeUnauthorized) {
			t.Fatalf("close %v %v, want 4009", code, err)
		}
	})

	t.Run("terminate a user everywhere", func(t *testing.T) {
		tabs := []*pushtest.Client{a.dial(), b.dial(), c.dial(), c.dial()}
		for _, tab := range tabs {
			if err := ga.BindUID(tab.ID, "carl"); err != nil {
				t.Fatal(err)
			}
		}
		n, err := b.srv.TerminateUserConnections(testApp.ID, "carl")
		if err != nil || n != len(tabs) {
			t.Fatalf("terminated %d (%v), want %d", n, err, len(tabs))
		}
		for i, tab := range tabs {
			if code, _, err := tab.WS.ReadClose(5 * time.Second); err != nil || code != wsproto.CloseCode(push.CodeUnauthorized) {
				t.Fatalf("tab %d: close %v %v, want 4009", i, code, err)
			}
		}
	})
}
