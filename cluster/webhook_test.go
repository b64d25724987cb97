package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/push"
)

// hookTarget receives the test app's webhooks: it checks the key and
// X-Pusher-Signature of each POST against the bytes received and keeps
// the events; the first failFirst POSTs are answered with 500.
type hookTarget struct {
	t         *testing.T
	app       push.App
	failFirst int
	failUntil time.Time     // and every POST before it
	hold      chan struct{} // if not nil, the first POST waits for the client to give up, and is sent on hold
	mu        sync.Mutex
	posts     int
	events    []push.WebhookEvent
	srv       *httptest.Server
}

func newHookTarget(t *testing.T, failFirst int) *hookTarget {
	h := &hookTarget{t: t, failFirst: failFirst}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	h.app = testApp
	h.app.WebhookURL, _ = url.Parse(h.srv.URL + "/hooks")
	return h
}

func (h *hookTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	creds := push.Credentials{ID: h.app.ID, Key: h.app.Key, Secret: h.app.Secret}
	if r.Header.Get("X-Pusher-Key") != h.app.Key || !creds.ValidSignature(body, r.Header.Get("X-Pusher-Signature")) {
		h.t.Errorf("bad key or signature: %q %q", r.Header.Get("X-Pusher-Key"), r.Header.Get("X-Pusher-Signature"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.posts++; h.posts == 1 && h.hold != nil {
		h.mu.Unlock()
		h.hold <- struct{}{}
		<-r.Context().Done()
		h.mu.Lock()
		return
	}
	if h.posts <= h.failFirst || time.Now().Before(h.failUntil) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var b push.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		h.t.Errorf("body %q: %v", body, err)
	}
	h.events = append(h.events, b.Events...)
}

func (h *hookTarget) received() []push.WebhookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// hookNode is one node's webhook path: its own NATS connection, its
// sender and its cluster.Webhooks.
type hookNode struct {
	nc     *nats.Conn
	sender *push.WebhookSender
	wh     *cluster.Webhooks
	app    *push.App
}

// Short delays and waits, so that the tests see them end.
const (
	testHookDelay   = time.Second
	testHookAckWait = time.Second
)

func startHookNode(t *testing.T, ns *server.Server, target *hookTarget, opts ...nats.Option) *hookNode {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	apps, err := push.NewApps(target.app)
	if err != nil {
		t.Fatal(err)
	}
	n := webhooksOf(t, nc, apps)
	n.nc = nc
	return n
}

// webhooksOf starts a sender and a cluster.Webhooks on nc, closed at the
// test's end (the Webhooks first).
func webhooksOf(t testing.TB, nc *nats.Conn, apps *push.Apps) *hookNode {
	t.Helper()
	sender := push.NewWebhookSender(push.WebhookOptions{Delay: testHookDelay, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sender.Close(ctx); err != nil && !errors.Is(err, push.ErrWebhooksClosed) {
			t.Errorf("sender Close: %v", err)
		}
	})
	wh, err := cluster.NewWebhooks(nc, cluster.WebhooksConfig{Local: push.NewWebhookHook(apps, sender),
		Delay: testHookDelay, AckWait: testHookAckWait})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Close)
	return &hookNode{sender: sender, wh: wh, app: apps.All()[0]}
}

func (n *hookNode) emit(kind push.HookKind, channel, user string) {
	n.wh.HandleEvent(push.HookEvent{Kind: kind, App: n.app, Channel: channel, UserID: user, Time: time.Now()})
}

// streamDone waits until the webhook stream holds nothing: every event
// published was acked (delivered, given up or found cancelled).
func streamDone(t *testing.T, ns *server.Server) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the webhook stream empty", func() bool {
		s, err := js.Stream(context.Background(), "wssd_webhooks")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}

// sumStats adds up the nodes' sender and Webhooks counters.
func sumStats(nodes []*hookNode) (push.WebhookStats, cluster.WebhookStats) {
	var p push.WebhookStats
	var c cluster.WebhookStats
	for _, n := range nodes {
		s := n.sender.Stats()
		p.Delivered += s.Delivered
		p.Retried += s.Retried
		p.Dropped += s.Dropped
		p.Failed += s.Failed
		p.Cancelled += s.Cancelled
		w := n.wh.Stats()
		c.Published += w.Published
		c.PublishFailed += w.PublishFailed
		c.Cancelled += w.Cancelled
		c.Malformed += w.Malformed
	}
	return p, c
}

// TestWebhooksSurviveNode: a channel_vacated decided on node A, whose
// NATS connection is then closed without a goodbye before its delay
// ended, is posted once, by B.
func TestWebhooksSurviveNode(t *testing.T) {
	target := newHookTarget(t, 0)
	ns := startNATS(t)
	a, b := startHookNode(t, ns, target), startHookNode(t, ns, target)
	a.emit(push.HookChannelVacated, "room", "")
	a.emit(push.HookMemberRemoved, "presence-room", "u1")
	waitFor(t, "A's events in the stream", func() bool { return a.wh.Stats().Published == 2 })
	// Killed: no ack leaves A any more, and what its sender held is lost.
	// Its events may be in its consumer's buffer, or waiting for their delay.
	a.nc.Close()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.sender.Close(gone)
	waitFor(t, "the webhooks", func() bool { return len(target.received()) == 2 })
	streamDone(t, ns)
	time.Sleep(2 * testHookAckWait) // a second delivery would come within an AckWait
	want := []push.WebhookEvent{{Name: push.WebhookChannelVacated, Channel: "room"}, {Name: push.WebhookMemberRemoved, Channel: "presence-room", UserID: "u1"}}
	got := target.received()
	slices.SortFunc(got, func(x, y push.WebhookEvent) int { return len(x.Channel) - len(y.Channel) })
	if !slices.Equal(got, want) {
		t.Fatalf("received %+v, want %+v", got, want)
	}
	if st := b.sender.Stats(); st.Delivered != 2 {
		t.Fatalf("B's sender %+v, want the 2 delivered", st)
	}
}

// TestWebhooksCancelAcrossNodes: a delayed event on one node and its
// counterpart on another within the delay send neither; after the delay,
// both are sent, in order, once each.
func TestWebhooksCancelAcrossNodes(t *testing.T) {
	cases := []struct {
		name          string
		first, second push.HookKind
		channel, user string
	}{
		{name: "vacated then occupied", first: push.HookChannelVacated, second: push.HookChannelOccupied, channel: "room"},
		{name: "member removed then added", first: push.HookMemberRemoved, second: push.HookMemberAdded, channel: "presence-room", user: "u1"},
	}
	for _, tc := range cases {
		ev := func(k push.HookKind) push.WebhookEvent {
			return push.WebhookEvent{Name: push.WebhookName(k.String()), Channel: tc.channel, UserID: tc.user}
		}
		t.Run(tc.name+" within the delay", func(t *testing.T) {
			target := newHookTarget(t, 0)
			ns := startNATS(t)
			nodes := []*hookNode{startHookNode(t, ns, target), startHookNode(t, ns, target)}
			nodes[0].emit(tc.first, tc.channel, tc.user)
			waitFor(t, "the first event published", func() bool { return nodes[0].wh.Stats().Published == 1 })
			nodes[1].emit(tc.second, tc.channel, tc.user)
			waitFor(t, "the cancellation", func() bool { return nodes[1].wh.Stats().Cancelled == 2 })
			streamDone(t, ns) // the delayed event came due and was found cancelled
			if got := target.received(); len(got) != 0 {
				t.Fatalf("received %+v, want nothing", got)
			}
			if p, c := sumStats(nodes); p.Delivered != 0 || c != (cluster.WebhookStats{Published: 1, Cancelled: 2}) {
				t.Fatalf("stats %+v %+v", p, c)
			}
		})
		t.Run(tc.name+" after the delay", func(t *testing.T) {
			target := newHookTarget(t, 0)
			ns := startNATS(t)
			nodes := []*hookNode{startHookNode(t, ns, target), startHookNode(t, ns, target)}
			nodes[0].emit(tc.first, tc.channel, tc.user)
			waitFor(t, "the first webhook", func() bool { return len(target.received()) == 1 })
			nodes[1].emit(tc.second, tc.channel, tc.user)
			waitFor(t, "the second webhook", func() bool { return len(target.received()) == 2 })
			streamDone(t, ns)
			if got, want := target.received(), []push.WebhookEvent{ev(tc.first), ev(tc.second)}; !slices.Equal(got, want) {
				t.Fatalf("received %+v, want %+v", got, want)
			}
			if p, c := sumStats(nodes); p.Delivered != 2 || c != (cluster.WebhookStats{Published: 2}) {
				t.Fatalf("stats %+v %+v", p, c)
			}
		})
	}
}

// TestWebhooksRetried: a target that fails a few times and then answers
// gets the event once; the retries are counted.
func TestWebhooksRetried(t *testing.T) {
	target := newHookTarget(t, 3)
	ns := startNATS(t)
	nodes := []*hookNode{startHookNode(t, ns, target), startHookNode(t, ns, target)}
	nodes[0].emit(push.HookChannelOccupied, "room", "")
	waitFor(t, "the webhook", func() bool { return len(target.received()) == 1 })
	streamDone(t, ns)
	if got := target.received(); got[0] != (push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "room"}) {
		t.Fatalf("received %+v", got)
	}
	if p, c := sumStats(nodes); p != (push.WebhookStats{Delivered: 1, Retried: 3}) || c != (cluster.WebhookStats{Published: 1}) {
		t.Fatalf("stats %+v %+v", p, c)
	}
}

// TestWebhooksStreamDown: with NATS gone, an event is sent by the node
// that decided it, from memory, and counted as a publish failure.
func TestWebhooksStreamDown(t *testing.T) {
	target := newHookTarget(t, 0)
	ns := startNATS(t)
	n := startHookNode(t, ns, target)
	ns.Shutdown()
	waitFor(t, "the node disconnected", func() bool { return !n.nc.IsConnected() })
	n.emit(push.HookChannelOccupied, "room", "")
	waitFor(t, "the webhook", func() bool { return len(target.received()) == 1 })
	if st := n.wh.Stats(); st != (cluster.WebhookStats{PublishFailed: 1}) {
		t.Fatalf("stats %+v", st)
	}
	if st := n.sender.Stats(); st.Delivered != 1 {
		t.Fatalf("sender %+v", st)
	}
}

// TestWebhooksFromPushServers: push servers on two nodes with Webhooks as
// their hook. A channel vacated on node 1 and occupied again within the
// delay on node 2 sends neither webhook; only the first occupied is sent.
func TestWebhooksFromPushServers(t *testing.T) {
	target := newHookTarget(t, 0)
	ns := startNATS(t)
	var hooks []*hookNode
	mk := func(nc *nats.Conn, apps *push.Apps) push.Hook {
		n := webhooksOf(t, nc, apps)
		hooks = append(hooks, n)
		return n.wh
	}
	a := startNodeHook(t, ns.ClientURL(), 1, testConfig, target.app, mk)
	b := startNodeHook(t, ns.ClientURL(), 2, testConfig, target.app, mk)
	waitFor(t, "both nodes live", func() bool { return len(a.st.Nodes()) == 2 && len(b.st.Nodes()) == 2 })

	ca := a.dial()
	ca.Join("room", "")
	waitFor(t, "channel_occupied", func() bool { return len(target.received()) == 1 })
	ca.Leave("room")
	waitFor(t, "channel_vacated in the stream", func() bool { return hooks[0].wh.Stats().Published == 2 })
	b.dial().Join("room", "")
	waitFor(t, "the cancellation", func() bool { return hooks[1].wh.Stats().Cancelled == 2 })
	streamDone(t, ns)
	if got, want := target.received(), []push.WebhookEvent{{Name: push.WebhookChannelOccupied, Channel: "room"}}; !slices.Equal(got, want) {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}

// TestWebhooksPosterDies: the node posting a delayed event (it has claimed
// its marker) dies before the target answered; after AckWait another node
// posts it, once.
func TestWebhooksPosterDies(t *testing.T) {
	target := newHookTarget(t, 0)
	target.hold = make(chan struct{}, 1)
	ns := startNATS(t)
	a := startHookNode(t, ns, target)
	a.emit(push.HookChannelVacated, "room", "")
	<-target.hold // A took it at its due time, claimed it and is posting it
	b := startHookNode(t, ns, target)
	a.nc.Close()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.sender.Close(gone) // the POST is abandoned
	waitFor(t, "the webhook", func() bool { return len(target.received()) == 1 })
	streamDone(t, ns)
	if got := target.received(); got[0] != (push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: "room"}) {
		t.Fatalf("received %+v", got)
	}
	if st := b.sender.Stats(); st.Delivered != 1 {
		t.Fatalf("B's sender %+v", st)
	}
}

// TestWebhooksLongRetry: an event retried for longer than AckWait stays
// with its node (it tells the stream it is in progress): delivered once.
func TestWebhooksLongRetry(t *testing.T) {
	target := newHookTarget(t, 0)
	target.failUntil = time.Now().Add(3 * testHookAckWait)
	ns := startNATS(t)
	nodes := []*hookNode{startHookNode(t, ns, target), startHookNode(t, ns, target)}
	nodes[0].emit(push.HookChannelOccupied, "room", "")
	waitFor(t, "the webhook", func() bool { return len(target.received()) >= 1 })
	streamDone(t, ns)
	time.Sleep(2 * testHookAckWait) // a second delivery would come within an AckWait
	if p, _ := sumStats(nodes); len(target.received()) != 1 || p.Delivered != 1 {
		t.Fatalf("received %+v, stats %+v", target.received(), p)
	}
}

// TestWebhooksStreamLater: a node started while its NATS server has no
// JetStream sends its webhooks itself, and goes through the stream once
// JetStream is there, without a restart. Before, it stayed on its own
// sender for its life.
func TestWebhooksStreamLater(t *testing.T) {
	target := newHookTarget(t, 0)
	plain := startNATSWith(t, &server.Options{Port: server.RANDOM_PORT}) // no JetStream
	port := plain.Addr().(*net.TCPAddr).Port
	n := startHookNode(t, plain, target, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	n.emit(push.HookChannelOccupied, "early", "")
	waitFor(t, "the early event sent from the node", func() bool { return len(target.received()) == 1 })
	if st := n.wh.Stats(); st.PublishFailed != 1 || st.Published != 0 {
		t.Errorf("without JetStream: %d published, %d handed to the local sender; want 0 and 1", st.Published, st.PublishFailed)
	}

	plain.Shutdown()
	plain.WaitForShutdown()
	ns := startNATSAt(t, port, t.TempDir()) // the same address, now with JetStream
	waitFor(t, "the stream bound", func() bool { return cluster.WebhooksBound(n.wh) })
	n.emit(push.HookChannelOccupied, "late", "")
	waitFor(t, "the late event", func() bool { return len(target.received()) == 2 })
	streamDone(t, ns)
	if st := n.wh.Stats(); st.PublishFailed != 1 || st.Published != 1 {
		t.Errorf("with JetStream: %d published, %d handed to the local sender; want 1 and 1", st.Published, st.PublishFailed)
	}
	if got := target.received(); got[1].Channel != "late" {
		t.Errorf("events %v, want early then late", got)
	}
}
