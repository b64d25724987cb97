package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wssd/wssd/push"
)

// WebhooksConfig configures Webhooks. It must not be modified after
// NewWebhooks.
type WebhooksConfig struct {
	// Local is the process's webhook hook: its targets say where each
	// app's webhooks go, its sender posts what this node takes from the
	// stream, and it takes the events the stream could not. Required.
	Local *push.WebhookHook
	// Prefix is the cluster's Config.Prefix. Default "wssd".
	Prefix string
	// Logger receives publish failures (at most one line a second) and
	// events that could not be handled; nil discards them.
	Logger *slog.Logger
	// Delay holds channel_vacated and member_removed back; a matching
	// channel_occupied or member_added within it, on any node, cancels
	// both. Default push.DefaultWebhookDelay.
	Delay time.Duration
	// AckWait is how long a node may hold an event without news before the
	// stream hands it to another node: a node that dies while posting an
	// event delays it by up to AckWait. A node posting an event tells the
	// stream so every AckWait/3. Default 30 s.
	AckWait time.Duration
	// Timeout bounds each JetStream request: a publish, a marker's read or
	// write, binding the stream. Default 2 s.
	Timeout time.Duration
	// Replicas is the stream's and the marker bucket's number of replicas
	// in a JetStream cluster. Default 1.
	Replicas int
	// Buffer bounds the events waiting to be published; beyond it they go
	// to Local. Default 4096.
	Buffer int
}

// Defaults of WebhooksConfig.
const (
	DefaultWebhookAckWait = 30 * time.Second
	DefaultWebhookTimeout = 2 * time.Second
)

// Webhook stream parameters.
const (
	// webhookConsumer is the durable consumer every node pulls from.
	webhookConsumer = "deliver"
	// webhookMaxAckPending bounds the events handed out and not yet acked
	// cluster-wide, delayed ones included (their early delivery is
	// answered with a delayed NAK, which keeps them pending).
	webhookMaxAckPending = 10000
	// webhookMaxAge is how long the stream keeps an event nobody took (no
	// node running), and the marker bucket's TTL.
	webhookMaxAge = 24 * time.Hour
	// casTries bounds the compare-and-set rounds on one marker.
	casTries = 8
)

// WebhookStats are a Webhooks' counters since NewWebhooks. What this node
// posts is counted by Local's sender (push.WebhookStats): each node counts
// what it delivered.
type WebhookStats struct {
	// Published counts events stored in the stream.
	Published uint64
	// PublishFailed counts events the stream did not take (NATS down,
	// JetStream slower than Timeout, the buffer full): they went to Local.
	PublishFailed uint64
	// Cancelled counts the delayed events this node's counterparts
	// cancelled, and those counterparts (2 per cancellation), as
	// push.WebhookStats.Cancelled does.
	Cancelled uint64
	// Malformed counts stream messages that were not of this layout, or of
	// an app without webhooks here; they are dropped.
	Malformed uint64
}

// Webhooks is a push.Hook that queues webhook events in a JetStream
// work-queue stream shared by the cluster, so that an event is posted even
// when the node that decided it dies; every node takes events from it and
// posts them through Local's sender. See the package documentation,
// section Webhooks. HandleEvent never blocks; its methods may be called
// concurrently, Close once.
type Webhooks struct {
	cfg     WebhooksConfig
	log     limitedLog
	nc      *nats.Conn
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	subject string // prefix + ".wh." (then the app's token)

	mu      sync.RWMutex
	closing bool
	in      chan hookJob
	pubDone chan struct{}

	// bound is set once the stream, consumer and marker bucket are bound
	// (at NewWebhooks, or later by bindLoop): kv and cc are set before it.
	bound    atomic.Bool
	stopBind chan struct{} // closed by Close: bindLoop gives up
	bindDone chan struct{} // closed when bindLoop is over, or was never needed

	cc       jetstream.ConsumeContext
	tracked  map[jetstream.Msg]struct{} // being posted: kept in progress
	stopTick chan struct{}
	tickDone chan struct{}

	// downUntil (Unix nanoseconds) is set a second ahead by a failed
	// publish: until then events go to Local at once, so that an outage
	// costs each queued event no Timeout.
	downUntil atomic.Int64

	published, publishFailed, cancelled, malformed atomic.Uint64
}

type hookJob struct {
	e push.HookEvent
	t *push.WebhookTarget
}

// hookMsg is a stream message's body.
type hookMsg struct {
	ID     string            `json:"id"` // also its Nats-Msg-Id
	App    string            `json:"app"`
	TimeMs int64             `json:"time_ms"`
	Event  push.WebhookEvent `json:"event"`
	// DueMs is when a delayed event may be posted, Unix milliseconds (the
	// publishing node's clock), and Marker its marker's key.
	DueMs  int64  `json:"due_ms,omitempty"`
	Marker string `json:"marker,omitempty"`
}

// Marker values: a delayed event's id, pending until its deliverer claims
// it or a counterpart deletes it.
const (
	markPending = "pending:"
	markClaimed = "claimed:"
)

// errStreamDown is what fallBack logs for events not tried because the
// stream is not bound yet, NATS is disconnected or a publish failed less
// than a second ago.
var errStreamDown = errors.New("cluster: webhook stream unavailable")

// errQueueFull is what fallBack logs for events past Buffer, or after
// Close.
var errQueueFull = errors.New("cluster: webhook publish queue full or closed")

// errMarker is returned when a marker's compare-and-set lost casTries
// rounds in a row.
var errMarker = errors.New("cluster: webhook marker kept changing")

// NewWebhooks binds the stream, its consumer and the marker bucket
// (creating them if needed, within Timeout each) and starts taking events.
// Close stops it. It returns an error only for a bad config: without
// JetStream (not enabled yet, NATS down at start) the events go to Local,
// counted in PublishFailed, and the binding is tried again every 5 s, so a
// node started before its JetStream joins the stream once it is there.
func NewWebhooks(nc *nats.Conn, cfg WebhooksConfig) (*Webhooks, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Delay <= 0 {
		cfg.Delay = push.DefaultWebhookDelay
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultWebhookAckWait
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 4096
	}
	if cfg.Local == nil || !validPrefix(cfg.Prefix) {
		return nil, errors.Join(ErrConfig, errors.New("Webhooks needs Local and a valid Prefix"))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	w := &Webhooks{cfg: cfg, log: limitedLog{log: cfg.Logger}, nc: nc, js: js, subject: cfg.Prefix + ".wh.",
		in: make(chan hookJob, cfg.Buffer), pubDone: make(chan struct{}),
		tracked: make(map[jetstream.Msg]struct{}), stopTick: make(chan struct{}), tickDone: make(chan struct{}),
		stopBind: make(chan struct{}), bindDone: make(chan struct{})}
	if err := w.bind(); err != nil {
		cfg.Logger.Warn("cluster: webhook stream unavailable (is JetStream enabled?): webhooks are sent from this node until it is",
			"error", err, "retry_every", webhookRebind)
		go w.bindLoop()
	} else {
		close(w.bindDone)
	}
	go w.publishLoop()
	go w.tick()
	return w, nil
}

// webhookRebind is how often a Webhooks without its stream tries again.
const webhookRebind = 5 * time.Second

// bind creates or binds the stream, its consumer and the marker bucket,
// within Timeout each, and starts taking events from the stream.
func (w *Webhooks) bind() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	stream := jsName(w.cfg.Prefix, "_webhooks")
	if _, err := w.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       stream,
		Subjects:   []string{w.subject + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   w.cfg.Replicas,
		MaxAge:     webhookMaxAge,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return err
	}
	cons, err := w.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       webhookConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxAckPending: webhookMaxAckPending,
		MaxDeliver:    -1,
	})
	if err != nil {
		return err
	}
	kv, err := w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   jsName(w.cfg.Prefix, "_hooks"),
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: w.cfg.Replicas,
		TTL:      webhookMaxAge,
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return errQueueFull
	}
	w.kv = kv // before Consume, whose handler reads it
	if w.cc, err = cons.Consume(w.receive, jetstream.PullMaxMessages(64)); err != nil {
		return err
	}
	w.bound.Store(true)
	return nil
}

// bindLoop tries bind every webhookRebind until it works or Close.
func (w *Webhooks) bindLoop() {
	defer close(w.bindDone)
	t := time.NewTicker(webhookRebind)
	defer t.Stop()
	for {
		select {
		case <-w.stopBind:
			return
		case <-t.C:
		}
		if err := w.bind(); err == nil {
			w.cfg.Logger.Info("cluster: webhook stream bound: webhooks go through it from now on")
			return
		}
	}
}

// Stats returns the counters.
func (w *Webhooks) Stats() WebhookStats {
	return WebhookStats{Published: w.published.Load(), PublishFailed: w.publishFailed.Load(),
		Cancelled: w.cancelled.Load(), Malformed: w.malformed.Load()}
}

// HandleEvent queues e to be published to the stream, in order, and
// returns at once; past Buffer, or once closed, e goes to Local.
func (w *Webhooks) HandleEvent(e push.HookEvent) {
	if e.App == nil {
		return
	}
	t := w.cfg.Local.Target(e.App.ID)
	if t == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closing {
		select {
		case w.in <- hookJob{e: e, t: t}:
			return
		default:
		}
	}
	w.fallBack(e, errQueueFull)
}

// fallBack hands e to Local, counted and logged.
func (w *Webhooks) fallBack(e push.HookEvent, err error) {
	w.publishFailed.Add(1)
	w.log.warn("cluster: webhook event not queued in the stream, sent from this node", "event", e.Kind.String(), "channel", e.Channel, "error", err)
	w.cfg.Local.HandleEvent(e)
}

// Close stops taking events from the stream and publishes those queued
// (each within Timeout). Events this node is posting are acked when its
// sender is done with them; one it gives up because the sender closed is
// handed back to the stream for another node. Call it before closing
// Local's sender and the NATS connection; it may be called once.
func (w *Webhooks) Close() {
	w.mu.Lock()
	w.closing = true
	close(w.in)
	w.mu.Unlock()
	close(w.stopBind)
	<-w.bindDone
	<-w.pubDone
	if w.bound.Load() {
		w.cc.Stop()
		<-w.cc.Closed()
	}
	close(w.stopTick)
	<-w.tickDone
}

func (w *Webhooks) publishLoop() {
	defer close(w.pubDone)
	for j := range w.in {
		w.publish(j)
	}
}

// markerKey is the marker bucket's key pairing a delayed event with its
// counterpart: c.{app}.{channel} or m.{app}.{channel}.{user}. delay and
// counterpart say which ev is (neither for the other kinds).
func markerKey(app string, ev push.WebhookEvent) (key string, delay, counterpart bool) {
	switch ev.Name {
	case push.WebhookChannelVacated, push.WebhookChannelOccupied:
		return "c." + token(app) + "." + token(ev.Channel), ev.Name == push.WebhookChannelVacated, ev.Name == push.WebhookChannelOccupied
	case push.WebhookMemberRemoved, push.WebhookMemberAdded:
		if ev.UserID == "" {
			return "", false, false
		}
		return "m." + token(app) + "." + token(ev.Channel) + "." + token(ev.UserID), ev.Name == push.WebhookMemberRemoved, ev.Name == push.WebhookMemberAdded
	}
	return "", false, false
}

// publish settles j's cancellation and stores it in the stream: a
// counterpart that finds its delayed event's marker pending deletes it and
// is not sent; a delayed event writes its marker first (a second one while
// the first is pending is dropped, as the local sender keeps the first).
func (w *Webhooks) publish(j hookJob) {
	if !w.bound.Load() || !w.nc.IsConnected() || time.Now().UnixNano() < w.downUntil.Load() {
		w.fallBack(j.e, errStreamDown)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	failed := func(err error) {
		w.downUntil.Store(time.Now().Add(time.Second).UnixNano())
		w.fallBack(j.e, err)
	}
	ev := push.WebhookEventOf(j.e)
	key, delay, counterpart := markerKey(j.e.App.ID, ev)
	if counterpart {
		won, err := w.cancelMarker(ctx, key)
		if err != nil {
			failed(err)
			return
		}
		if won {
			w.cancelled.Add(2)
			return
		}
	}
	if !j.t.Wants(ev.Name) {
		return
	}
	m := hookMsg{ID: rand.Text(), App: j.e.App.ID, TimeMs: j.e.Time.UnixMilli(), Event: ev}
	var rev uint64
	if delay {
		var first bool
		var err error
		if rev, first, err = w.mark(ctx, key, m.ID); err != nil {
			failed(err)
			return
		}
		if !first {
			return
		}
		m.DueMs, m.Marker = j.e.Time.Add(w.cfg.Delay).UnixMilli(), key
	}
	body, _ := json.Marshal(m) // cannot fail: strings and numbers
	if _, err := w.js.Publish(ctx, w.subject+token(m.App), body, jetstream.WithMsgID(m.ID)); err != nil {
		if delay {
			_ = w.kv.Delete(ctx, key, jetstream.LastRevision(rev)) // best effort; the TTL ends it otherwise
		}
		failed(err)
		return
	}
	w.published.Add(1)
}

// cas reads key and hands its entry (nil when there is none) to f, which
// writes expecting its revision; a write that lost to another node's is
// tried again from a new read, up to casTries times.
func (w *Webhooks) cas(ctx context.Context, key string, f func(jetstream.KeyValueEntry) (uint64, bool, error)) (rev uint64, ok bool, err error) {
	err = casRetry(ctx, w.kv, key, casTries, nil, func(e jetstream.KeyValueEntry) error {
		var err error
		rev, ok, err = f(e)
		return err
	})
	switch {
	case err == nil:
		return rev, ok, nil
	case conflict(err):
		err = errMarker
	}
	return 0, false, err
}

// mark writes a pending marker for event id at key, unless one is pending
// already (first is then false). A claimed marker, of an event being
// posted, is replaced.
func (w *Webhooks) mark(ctx context.Context, key, id string) (rev uint64, first bool, err error) {
	val := []byte(markPending + id)
	return w.cas(ctx, key, func(e jetstream.KeyValueEntry) (uint64, bool, error) {
		switch {
		case e == nil:
			rev, err := w.kv.Create(ctx, key, val)
			return rev, err == nil, err
		case strings.HasPrefix(string(e.Value()), markPending):
			return 0, false, nil
		}
		rev, err := w.kv.Update(ctx, key, val, e.Revision())
		return rev, err == nil, err
	})
}

// cancelMarker deletes key's marker if it is pending and reports whether
// it did: the delayed event is then cancelled.
func (w *Webhooks) cancelMarker(ctx context.Context, key string) (bool, error) {
	_, won, err := w.cas(ctx, key, func(e jetstream.KeyValueEntry) (uint64, bool, error) {
		if e == nil || !strings.HasPrefix(string(e.Value()), markPending) {
			return 0, false, nil
		}
		err := w.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		return 0, err == nil, err
	})
	return won, err
}

// claim marks key's marker as claimed by event id, and reports whether the
// event is still to be sent: its marker pending, or already claimed by
// it (a node that claimed it died before acking).
func (w *Webhooks) claim(ctx context.Context, key, id string) (uint64, bool, error) {
	return w.cas(ctx, key, func(e jetstream.KeyValueEntry) (uint64, bool, error) {
		switch {
		case e == nil:
			return 0, false, nil // cancelled
		case string(e.Value()) == markClaimed+id:
			return e.Revision(), true, nil
		case string(e.Value()) != markPending+id:
			return 0, false, nil // cancelled, and another event marked since
		}
		rev, err := w.kv.Update(ctx, key, []byte(markClaimed+id), e.Revision())
		return rev, err == nil, err
	})
}

// receive handles one event from the stream: early, it goes back until
// due; a delayed one is claimed (or found cancelled); then it is handed to
// Local's sender and acked once the sender is done with it.
func (w *Webhooks) receive(msg jetstream.Msg) {
	var m hookMsg
	t := (*push.WebhookTarget)(nil)
	if err := json.Unmarshal(msg.Data(), &m); err == nil {
		t = w.cfg.Local.Target(m.App)
	}
	if t == nil {
		w.malformed.Add(1)
		w.log.warn("cluster: webhook message dropped: malformed, or of an app without webhooks here", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	if wait := time.Until(time.UnixMilli(m.DueMs)); wait > 0 {
		_ = msg.NakWithDelay(wait)
		return
	}
	var rev uint64
	if m.Marker != "" {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
		r, send, err := w.claim(ctx, m.Marker, m.ID)
		cancel()
		if err != nil {
			w.log.warn("cluster: webhook marker not claimed, retrying", "error", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		if !send {
			_ = msg.Ack() // cancelled: its counterpart counted it
			return
		}
		rev = r
	}
	w.mu.Lock()
	w.tracked[msg] = struct{}{}
	w.mu.Unlock()
	done := func(delivered bool) { w.done(msg, m.Marker, rev, delivered) }
	if !w.cfg.Local.Sender().Send(t, m.Event, time.UnixMilli(m.TimeMs), done) {
		w.done(msg, m.Marker, rev, true) // not wanted here, or dropped (counted by the sender)
	}
}

// done settles a message once the sender is done with it: acked, unless
// the sender gave up because it was closing, so that another node posts
// it. The marker the event claimed is then deleted (unless another event
// marked it since).
func (w *Webhooks) done(msg jetstream.Msg, marker string, rev uint64, delivered bool) {
	w.mu.Lock()
	delete(w.tracked, msg)
	closing := w.closing
	w.mu.Unlock()
	if !delivered && closing {
		_ = msg.Nak()
		return
	}
	_ = msg.Ack()
	if marker != "" {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
		defer cancel()
		_ = w.kv.Delete(ctx, marker, jetstream.LastRevision(rev))
	}
}

// tick tells the stream every AckWait/3 that the events being posted are
// in progress, so that a retry period longer than AckWait does not hand
// them to another node.
func (w *Webhooks) tick() {
	defer close(w.tickDone)
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-w.stopTick:
			return
		case <-t.C:
		}
		w.mu.RLock()
		for msg := range w.tracked {
			_ = msg.InProgress()
		}
		w.mu.RUnlock()
	}
}
