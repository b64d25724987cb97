package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/push"
)

// Config configures a State. It must not be modified after New.
type Config struct {
	// Node is this process's push.Config.Node.
	Node uint16
	// Apps are the push.Server's apps: they name the per-app subjects and
	// turn the frames other nodes send into push.Messages. Required.
	Apps *push.Apps
	// Prefix starts every subject: dot-separated tokens without wildcards.
	// Default "wssd". Nodes of one cluster share it.
	Prefix string
	// Logger receives dead and duplicate nodes, timed-out queries and
	// drops; nil discards them.
	Logger *slog.Logger
	// HeartbeatInterval is how often the node announces itself. Default 1 s.
	HeartbeatInterval time.Duration
	// DeadAfter is how long a node may stay silent before it is suspected
	// and probed, each HeartbeatInterval, on its own subject: it is dead
	// when NATS answers that nobody listens there (its connection is gone:
	// the process died or was cut off and NATS noticed), alive again when
	// it answers or is heard. Default 3 s.
	DeadAfter time.Duration
	// HungAfter is how long a suspected node whose connection NATS still
	// holds (a process hung, or a partition NATS has not noticed yet) may
	// stay silent before it counts as dead all the same. A process that
	// only stalls, as under an overload, is not taken for dead before it.
	// Default 30 s; more than DeadAfter.
	HungAfter time.Duration
	// Liveness is a second connection to the same NATS, for the heartbeats
	// and probes alone, so that they never wait behind events, queries or
	// the state bucket's traffic in either direction. nil: the heartbeats
	// share the connection given to New. The caller keeps and closes it.
	Liveness *nats.Conn
	// QueryTimeout bounds a cluster-wide query's wait for the other nodes'
	// answers. Default 200 ms.
	QueryTimeout time.Duration
	// Buffer is the capacity of the outgoing queue and of each dispatcher's
	// incoming queue, in messages. Default 8192.
	Buffer int
	// KVTimeout bounds the state bucket's work for one transition (its
	// reads, writes and retries): past it the node decides alone. It also
	// bounds binding the bucket. Default 500 ms.
	KVTimeout time.Duration
	// KVReplicas is the state bucket's number of replicas in a JetStream
	// cluster. Default 1.
	KVReplicas int
}

// Defaults of Config.
const (
	DefaultPrefix            = "wssd"
	DefaultHeartbeatInterval = time.Second
	DefaultDeadAfter         = 3 * time.Second
	DefaultHungAfter         = 30 * time.Second
	DefaultQueryTimeout      = 200 * time.Millisecond
	DefaultBuffer            = 8192
	DefaultKVTimeout         = 500 * time.Millisecond
)

// dispatchers is the number of goroutines that deliver received messages.
// A channel's subject always feeds the same one, so its order is kept.
const dispatchers = 4

// ErrConfig is returned by New for a Config without Apps, with a Prefix
// that cannot start a subject, with DeadAfter not above HeartbeatInterval
// or with HungAfter not above DeadAfter.
var ErrConfig = errors.New("cluster: bad config")

// Headers of a published event.
const (
	hdrOrigin  = "Wssd-Origin"  // the publishing instance: echoes are skipped
	hdrExcept  = "Wssd-Except"  // one value per socket id not to deliver to
	hdrChannel = "Wssd-Channel" // a cache channel's token (on the per-app cache subject)
	hdrKeep    = "Wssd-Keep"    // keepLast or keepIfNone: PublishLast
)

// Values of hdrKeep.
const (
	keepLast   = "1"    // the channel's last event now
	keepIfNone = "sync" // an older one, handed over to a starting node
)

// State is a push.State over NATS. It embeds a push.LocalState for this
// node's sockets (push.Server.Bind hands that its sender through the
// embedding) and adds, on the connection given to New:
//
//   - delivery to the other nodes: each event is delivered locally and sent
//     once on NATS, to the subject of its channel, which only nodes with
//     subscribers there subscribe to;
//   - a node registry from heartbeats ([State.Nodes]);
//   - cluster-wide answers to the queries (Connections, Channel, Channels,
//     SubscriberUsers, UserSockets) by scatter-gather, Members and
//     UserOnline from the state bucket;
//   - transitions exactly once cluster-wide, from a JetStream KV bucket
//     written with compare-and-set on each of this node's local
//     transitions (see the package doc, "Transitions").
//
// Its methods are safe for concurrent use. Publishing never waits on NATS.
// A Subscribe, Unsubscribe, SignIn or SignOut that is a local transition
// (this node's first or last subscriber of a channel, a user's first or
// last socket here in a presence channel or signed in) waits for the
// bucket, one read and one write, up to KVTimeout, on the caller's
// goroutine, which is an event loop for a client's: the loop serves no
// other connection meanwhile. A subscription to a presence channel that is
// not one reads the bucket once for the members. A node's first
// subscriber of a #server-to-user channel waits for NATS to have the
// channel's subscription (a round trip; not for watchlist channels). The
// queries wait for the other nodes, up to QueryTimeout; the protocol code
// calls one of them on an event loop, Members (a bucket read), when a
// socket subscribes again to a presence channel it is in. UserOnline, for
// each id of a watchlist at sign-in, runs off the loop.
type State struct {
	*push.LocalState

	nc      *nats.Conn
	lc      *nats.Conn // cfg.Liveness: heartbeats and probes
	cfg     Config
	log     *slog.Logger
	subj    subjects
	id      string                  // this instance: node number and start id
	apps    map[string]*appSubjects // by app id
	byToken map[string]*appSubjects // by the app id's subject token
	seed    maphash.Seed
	inbox   string

	out    chan *nats.Msg
	shards [dispatchers]chan *nats.Msg
	hb     chan *nats.Msg
	qs     chan *nats.Msg

	interest interest
	reg      registry
	// silent and hung are set by tests (export_test.go): no heartbeats, as
	// when they are lost or late, and, if hung, no answers to probes.
	silent, hung atomic.Bool
	waiting      waiting

	fixed   []*nats.Subscription // per-app, heartbeat and inbox subscriptions
	prevErr nats.ErrHandler
	// prevLivenessErr is lc's error handler before New, when lc is not nc.
	prevLivenessErr nats.ErrHandler

	kv              bucket
	locks           stripes
	dirty           atomic.Bool // a decision was degraded: resync the keys so decided
	revived         atomic.Bool // another node took this one for dead: resync all it has
	kvDown          atomic.Bool // the bucket timed out: transitions do not wait for it until a resync works
	transitions     push.Transitions
	transitionsOnce sync.Once
	transitionsSet  chan struct{} // closed by SetTransitions

	stats counters
	drops limitedLog // drops, at most one line a second

	applyOp atomic.Pointer[func(push.SocketOp) (int, error)] // set by push.New (remote.go)

	synced    chan struct{} // closed when syncCache is over
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// appSubjects are an app's subjects, encoded once.
type appSubjects struct {
	app   *push.App
	all   string
	cache string
	query string
}

var _ push.State = (*State)(nil)

// New returns the State of node cfg.Node on nc, subscribed to its
// heartbeat, per-app and inbox subjects, and announces the node. The
// caller keeps nc (and closes it after Close); New chains a handler in
// front of nc's error handler to count slow-consumer events. nc should be
// made with nats.NoEcho(): an event this node published then does not
// come back to it (without it, it comes back and is dropped).
func New(nc *nats.Conn, cfg Config) (*State, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.HungAfter <= 0 {
		cfg.HungAfter = max(DefaultHungAfter, 2*cfg.DeadAfter)
	}
	if cfg.Liveness == nil {
		cfg.Liveness = nc
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.KVTimeout <= 0 {
		cfg.KVTimeout = DefaultKVTimeout
	}
	if cfg.KVReplicas <= 0 {
		cfg.KVReplicas = 1
	}
	switch {
	case cfg.Apps == nil:
		return nil, errors.Join(ErrConfig, errors.New("no Apps"))
	case !validPrefix(cfg.Prefix):
		return nil, errors.Join(ErrConfig, errors.New("Prefix "+strconv.Quote(cfg.Prefix)+" cannot start a subject"))
	case cfg.DeadAfter <= cfg.HeartbeatInterval:
		return nil, errors.Join(ErrConfig, errors.New("DeadAfter must exceed HeartbeatInterval"))
	case cfg.HungAfter <= cfg.DeadAfter:
		return nil, errors.Join(ErrConfig, errors.New("HungAfter must exceed DeadAfter"))
	}
	var start [8]byte
	_, _ = rand.Read(start[:])
	s := &State{
		LocalState: push.NewLocalState(),
		nc:         nc,
		lc:         cfg.Liveness,
		cfg:        cfg,
		log:        cfg.Logger,
		subj:       subjects{prefix: cfg.Prefix},
		id:         strconv.FormatUint(uint64(cfg.Node), 10) + "." + hex.EncodeToString(start[:]),
		apps:       make(map[string]*appSubjects),
		byToken:    make(map[string]*appSubjects),
		seed:       maphash.MakeSeed(),
		inbox:      nc.NewRespInbox(),
		out:        make(chan *nats.Msg, cfg.Buffer),
		hb:         make(chan *nats.Msg, heartbeatQueue),
		qs:         make(chan *nats.Msg, 256),
		synced:     make(chan struct{}),
		done:       make(chan struct{}),

		transitionsSet: make(chan struct{}),
	}
	s.locks.seed = maphash.MakeSeed()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.drops.log = s.log
	for i := range s.shards {
		s.shards[i] = make(chan *nats.Msg, cfg.Buffer)
	}
	s.interest.init()
	s.reg.init(cfg.Node)
	s.waiting.m = make(map[string]chan answer)
	for _, app := range cfg.Apps.All() {
		s.apps[app.ID] = &appSubjects{app: app,
			all:   s.subj.perApp(kindAll, app.ID),
			cache: s.subj.perApp(kindCache, app.ID),
			query: s.subj.perApp(kindQuery, app.ID)}
		s.byToken[token(app.ID)] = s.apps[app.ID]
	}
	s.prevErr = nc.ErrorHandler()
	nc.SetErrorHandler(s.countSlow(s.prevErr))
	if s.lc != nc {
		s.prevLivenessErr = s.lc.ErrorHandler()
		s.lc.SetErrorHandler(s.countSlow(s.prevLivenessErr))
	}
	if err := s.subscribeFixed(); err != nil {
		s.unsubscribeAll()
		s.restoreErrorHandlers()
		return nil, err
	}
	for i := range s.shards {
		s.goLoop(s.shards[i], s.receive)
	}
	s.goLoop(s.hb, s.onHeartbeat)
	s.goLoop(s.qs, s.onQuery)
	if err := s.bind(context.Background()); err != nil {
		s.log.Warn("cluster: state bucket unavailable (is JetStream enabled?): transitions decided per node until it is", "error", err)
	}
	s.wg.Add(5)
	go s.kvLoop()
	go s.publishLoop()
	go s.interestLoop()
	go s.heartbeatLoop()
	go s.syncCache()
	return s, nil
}

// subscribeFixed subscribes to the subjects every node listens on: the
// heartbeats and probes on the liveness connection, the rest on nc.
func (s *State) subscribeFixed() error {
	keep := func(sub *nats.Subscription, err error) error {
		if err == nil {
			s.fixed = append(s.fixed, sub)
		}
		return err
	}
	errs := []error{
		keep(s.lc.ChanSubscribe(s.subj.heartbeat(), s.hb)),
		keep(s.lc.ChanSubscribe(s.subj.greeting(s.id), s.hb)),
		keep(s.lc.Subscribe(s.subj.alive(s.id), s.onProbe)),
	}
	for _, a := range s.apps {
		errs = append(errs,
			keep(s.nc.ChanSubscribe(a.all, s.shard(a.all))),
			keep(s.nc.ChanSubscribe(a.cache, s.shard(a.cache))),
			keep(s.nc.ChanSubscribe(a.query, s.qs)))
	}
	errs = append(errs,
		keep(s.nc.Subscribe(s.inbox+".*", s.onAnswer)),
		keep(s.nc.Subscribe(s.subj.node(s.cfg.Node), s.onSocketOp)))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The subscriptions are in place before the first heartbeat.
	if s.lc != s.nc {
		if err := s.lc.Flush(); err != nil {
			return err
		}
	}
	return s.nc.Flush()
}

// shard returns the dispatcher queue of a subject.
func (s *State) shard(subj string) chan *nats.Msg {
	return s.shards[maphash.String(s.seed, subj)%dispatchers]
}

// goLoop runs f on each message of ch until Close.
func (s *State) goLoop(ch chan *nats.Msg, f func(*nats.Msg)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.done:
				return
			case m := <-ch:
				f(m)
			}
		}
	}()
}

// Close says goodbye to the other nodes, unsubscribes and stops the
// State's goroutines; events still queued are dropped. It does not close
// the connection. Close may be called more than once; the State must not
// be used afterwards.
func (s *State) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.sendHeartbeat(true) // after the heartbeat loop's last one, which would bring the node back
		s.unsubscribeAll()
		s.restoreErrorHandlers()
	})
}

func (s *State) unsubscribeAll() {
	for _, sub := range s.fixed {
		_ = sub.Unsubscribe() // fails only once nc is closed, when nothing is left to undo
	}
	s.interest.unsubscribeAll()
}

// ID returns this instance's id: the node number, a dot and a random
// number drawn by New, so that a restarted node is a new instance.
func (s *State) ID() string { return s.id }

// around is the callback handed to LocalState for f on an internal
// channel. Under the channel's lock, it follows the channel from this
// node's first subscriber to its last, stores the Change in decided, and
// lets what f publishes reach the other nodes too.
func (s *State) around(app, channel string, f func(*push.Transition), decided *push.Change) func(*push.Transition) {
	return func(tr *push.Transition) {
		switch {
		case tr.Occupied:
			s.follow(app, channel, true)
		case tr.Vacated:
			s.follow(app, channel, false)
		}
		*decided = tr.Change
		if f != nil {
			tr.Publish = s.publisher(app, channel, tr.Publish)
			f(tr)
		}
	}
}

// publisher is a Transition.Publish that also sends to the other nodes;
// called under the channel's lock, it queues in the channel's order.
func (s *State) publisher(app, channel string, local func(*push.Message, []string)) func(*push.Message, []string) {
	return func(m *push.Message, except []string) {
		local(m, except)
		s.send(app, channel, m, except, false)
	}
}

// follow records whether this node wants the channel's events from the
// other nodes. Cache channels travel on the app's cache subject, which
// every node takes.
func (s *State) follow(app, channel string, on bool) {
	if push.CacheChannel(channel) || channel == "" {
		return
	}
	if _, ok := s.apps[app]; !ok {
		return
	}
	s.interest.set(s.subj.channel(app, channel), on)
}

// Publish implements push.State: delivered to this node's subscribers,
// then queued once for the other nodes.
func (s *State) Publish(app, channel string, m *push.Message, except []string) {
	s.LocalState.Publish(app, channel, m, except)
	s.send(app, channel, m, except, false)
}

// PublishLast implements push.State. Every node keeps a cache channel's
// last event: cache channels' events go to all nodes on the app's cache
// subject, so that a node whose first socket joins one answers from what
// it holds, with no request on an event loop (see doc.go).
func (s *State) PublishLast(app, channel string, m *push.Message, except []string) {
	s.LocalState.PublishLast(app, channel, m, except)
	s.send(app, channel, m, except, true)
}

// PublishAll implements push.State.
func (s *State) PublishAll(app string, m *push.Message, except []string) {
	s.LocalState.PublishAll(app, m, except)
	a, ok := s.apps[app]
	if !ok {
		return
	}
	s.enqueue(s.event(a.all, m, except))
}

// send queues m for the other nodes' subscribers of the channel.
func (s *State) send(app, channel string, m *push.Message, except []string, keep bool) {
	a, ok := s.apps[app]
	if !ok || channel == "" {
		return
	}
	var msg *nats.Msg
	if push.CacheChannel(channel) {
		msg = s.event(a.cache, m, except)
		msg.Header.Set(hdrChannel, token(channel))
		if keep {
			msg.Header.Set(hdrKeep, keepLast)
		}
	} else {
		msg = s.event(s.subj.channel(app, channel), m, except)
	}
	s.enqueue(msg)
}

// event is the NATS message of an event for subj.
func (s *State) event(subj string, m *push.Message, except []string) *nats.Msg {
	h := nats.Header{hdrOrigin: []string{s.id}}
	for _, id := range except {
		if socketID(id) { // any other id names no socket, and a header could not carry it
			h[hdrExcept] = append(h[hdrExcept], id)
		}
	}
	return &nats.Msg{Subject: subj, Data: m.Frame(), Header: h}
}

// socketID says whether id has a socket id's form, digits and dots.
func socketID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// enqueue hands msg, an event or a query, to the publishing goroutine, or
// drops it when the queue is full: an event loop never waits for NATS. It
// reports whether msg was queued.
func (s *State) enqueue(msg *nats.Msg) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.out <- msg:
		return true
	default:
		if msg.Reply == "" {
			s.stats.publishDropped.Add(1)
		}
		s.logDrop("cluster: outgoing queue full, message dropped", "subject", msg.Subject)
		return false
	}
}

// publishLoop sends the queued events, in order.
func (s *State) publishLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case msg := <-s.out:
			err := s.nc.PublishMsg(msg)
			switch {
			case err != nil:
				s.logDrop("cluster: not published", "subject", msg.Subject, "error", err)
				if msg.Reply == "" {
					s.stats.publishDropped.Add(1)
				}
			case msg.Reply == "": // an event; a query (with a reply subject) is counted if it times out
				s.stats.published.Add(1)
			}
		}
	}
}

// receive delivers an event from another node to this node's sockets.
func (s *State) receive(msg *nats.Msg) {
	if msg.Header.Get(hdrOrigin) == s.id {
		return // our own, echoed: delivered locally already
	}
	kind, appTok, chTok, err := s.subj.split(msg.Subject)
	a := s.byToken[appTok]
	if err != nil || a == nil {
		s.stats.malformed.Add(1)
		return
	}
	appID := a.app.ID
	var channel string
	if kind == kindChannel {
		if channel, err = untoken(chTok); err != nil {
			s.stats.malformed.Add(1)
			return
		}
	}
	s.stats.received.Add(1)
	m := push.NewMessage(a.app, msg.Data)
	except := msg.Header.Values(hdrExcept)
	switch kind {
	case kindChannel:
		s.LocalState.Publish(appID, channel, m, except)
	case kindAll:
		s.LocalState.PublishAll(appID, m, except)
	case kindCache:
		channel, err := untoken(msg.Header.Get(hdrChannel))
		if err != nil {
			s.stats.malformed.Add(1)
			return
		}
		switch msg.Header.Get(hdrKeep) {
		case keepLast:
			s.LocalState.PublishLast(appID, channel, m, except)
		case keepIfNone:
			if _, ok := s.LocalState.Last(appID, channel); !ok {
				s.LocalState.PublishLast(appID, channel, m, except)
			}
		default:
			s.LocalState.Publish(appID, channel, m, except)
		}
	}
}

// countSlow returns an error handler that counts and logs slow-consumer
// events (a queue of received messages full: events, or heartbeats on the
// liveness connection, dropped) and passes every error on to prev.
func (s *State) countSlow(prev nats.ErrHandler) nats.ErrHandler {
	return func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			s.stats.slowConsumers.Add(1)
			s.logDrop("cluster: slow consumer: a queue of received messages is full, messages dropped", "subject", sub.Subject)
		}
		if prev != nil {
			prev(nc, sub, err)
		}
	}
}

// restoreErrorHandlers puts back the handlers New found.
func (s *State) restoreErrorHandlers() {
	s.nc.SetErrorHandler(s.prevErr)
	if s.lc != s.nc {
		s.lc.SetErrorHandler(s.prevLivenessErr)
	}
}

// logDrop logs at most one drop a second.
func (s *State) logDrop(msg string, args ...any) { s.drops.warn(msg, args...) }

// limitedLog logs at Warn at most one line a second.
type limitedLog struct {
	log  *slog.Logger
	last atomic.Int64 // unix nanoseconds of the last line
}

func (l *limitedLog) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn(msg, args...)
}
