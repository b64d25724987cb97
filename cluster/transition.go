package cluster

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/push"
)

// lockStripes is the number of locks that order the changes of channels
// and users on this node: a channel or user always takes the same one, and
// two of them share one only when their hashes collide.
const lockStripes = 1024

// stripes are the per-channel (and per-user) locks of the State. One is
// held across a KV round trip, so that this node's changes of a channel
// happen one at a time in the order of the cluster's; LocalState's own
// locks are never held while waiting on the network.
type stripes struct {
	seed maphash.Seed
	mu   [lockStripes]sync.Mutex
}

// lock locks the stripe of (kind, app, name) and returns its unlock.
func (st *stripes) lock(kind, app, name string) func() {
	var h maphash.Hash
	h.SetSeed(st.seed)
	h.WriteString(kind)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(name)
	mu := &st.mu[h.Sum64()%lockStripes]
	mu.Lock()
	return mu.Unlock
}

// SetTransitions implements push.TransitionSetter: the Server hands over
// what it does on a transition decided with no socket of this node (a dead
// node's members removed, this node's put back after a partition).
func (s *State) SetTransitions(t push.Transitions) {
	s.transitionsOnce.Do(func() {
		s.transitions = t
		close(s.transitionsSet)
	})
}

// internal reports whether a channel is one of the server's own
// (server-to-user, watchlists): it has no transitions to report, so it
// stays out of the bucket.
func internal(channel string) bool { return strings.HasPrefix(channel, "#") }

// kvContext bounds one transition's KV work.
func (s *State) kvContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.KVTimeout)
}

// errKVDown is returned by updateNow and readNow while NATS is
// disconnected, and after a timeout until the bucket answers again.
var errKVDown = errors.New("cluster: state bucket not answering")

// errUnwritten is returned by updateNow for a key whose part of this node
// a degraded decision left unwritten: until the resync writes it, the
// node decides the key's transitions alone, as it did that one.
var errUnwritten = errors.New("cluster: this node's part of the key awaits a resync")

// updateNow is update for a transition on a caller's goroutine (an event
// loop): it fails at once with errKVDown while the bucket is known not to
// answer, so that an outage costs the event loops one KVTimeout, not one
// per transition, and with errUnwritten for a key with an unwritten part
// (see bucket.decided).
func (s *State) updateNow(ctx context.Context, key string, edit func(*entry) error) (before, after entry, err error) {
	if s.kv.pending(key) {
		return entry{}, entry{}, errUnwritten
	}
	if !s.nc.IsConnected() || s.kvDown.Load() {
		return entry{}, entry{}, errKVDown
	}
	return s.update(ctx, key, edit)
}

// readNow is read, failing at once while the bucket is known not to
// answer, with this node's unwritten part of the key in place of the
// bucket's.
func (s *State) readNow(ctx context.Context, key string) (entry, error) {
	if !s.nc.IsConnected() || s.kvDown.Load() {
		return entry{}, errKVDown
	}
	e, err := s.read(ctx, key)
	if err == nil {
		s.kv.overlay(key, s.cfg.Node, &e)
	}
	return e, err
}

// degrade records that a transition was decided by this node alone
// because the bucket could not be used, and asks for a resync; after a
// timeout, the next transitions do not wait for the bucket until the
// resync has found it answering again.
func (s *State) degrade(what string, err error) {
	s.stats.degraded.Add(1)
	s.dirty.Store(true)
	s.kvTimedOut(err)
	s.logDrop("cluster: state bucket unavailable: "+what+" decided by this node alone", "error", err)
}

// kvTimedOut says whether err is the bucket timing out; if it is, the
// timeout is counted and the transitions and queries do not wait for the
// bucket until a resync has found it answering again.
func (s *State) kvTimedOut(err error) bool {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return false
	}
	s.stats.kvTimeouts.Add(1)
	s.kvDown.Store(true)
	s.dirty.Store(true)
	return true
}

// Subscribe implements push.State. When sock is this node's first
// subscriber of the channel, or its user's first socket in a presence
// channel, the channel's entry in the state bucket is changed first (one
// read and one write, more on a conflict, under the channel's stripe lock
// and within KVTimeout), and the flags and members f is given are the
// cluster's: Occupied when the channel had no node, MemberAdded when the
// user had none, Members the entry's after the write. The presence limit
// is checked against that entry. On a first subscriber the node is also
// subscribed to the channel's subject, and NATS has that subscription,
// before f runs. Other subscriptions write nothing; on a presence channel
// they read the entry for the members. Without the bucket the node decides
// alone (Stats.Degraded). Internal channels (server-to-user, watchlists)
// are not in the bucket, but a first subscriber's NATS subscription is
// also in place before f runs.
func (s *State) Subscribe(sock *push.Socket, channel string, m *push.Member, f func(*push.Transition)) (push.Change, error) {
	app := sock.App()
	defer s.locks.lock(keyChannel, app.ID, channel)()
	if internal(channel) {
		return s.subscribeInternal(sock, channel, m, f)
	}
	here := s.LocalState.Channel(app.ID, channel)
	first := !here.Occupied
	userFirst := m != nil && !slices.ContainsFunc(s.LocalState.Members(app.ID, channel), func(x push.Member) bool { return x.UserID == m.UserID })
	if first {
		s.followNow(app.ID, channel)
	}
	var (
		cluster  *entry // the entry after the write or read; nil: decided locally
		occupied bool   // the write gave the channel its first node
		added    bool   // the write gave the member its first node
		degraded bool   // a local transition decided locally
	)
	if first || m != nil { // userFirst implies m
		ctx, cancel := s.kvContext()
		var before, after entry
		var err error
		if first || userFirst {
			before, after, err = s.updateNow(ctx, channelKey(app.ID, channel), func(e *entry) error {
				if m != nil && e.Members[m.UserID] == nil && len(e.Members) >= app.Limits.MaxPresenceMembers {
					return push.ErrPresenceFull
				}
				e.Nodes = addNode(e.Nodes, s.cfg.Node)
				if m != nil {
					e.setMember(m.UserID, m.Info, s.cfg.Node, true)
				}
				return nil
			})
			occupied = len(before.Nodes) == 0 && len(after.Nodes) > 0
			added = m != nil && before.Members[m.UserID] == nil && after.Members[m.UserID] != nil
		} else {
			after, err = s.readNow(ctx, channelKey(app.ID, channel))
		}
		switch {
		case errors.Is(err, push.ErrPresenceFull):
			if first {
				s.follow(app.ID, channel, false)
			}
			cancel()
			return push.Change{}, err
		case err != nil && (first || userFirst):
			s.degrade("a subscription", err)
			degraded = true
			if first {
				s.flushFollow(ctx)
			}
		case err != nil: // only the members: this node's
			s.logDrop("cluster: state bucket unavailable: a presence subscription lists this node's members", "error", err)
		default:
			cluster = &after
		}
		cancel()
	}
	var decided push.Change
	_, err := s.LocalState.Subscribe(sock, channel, m, func(tr *push.Transition) {
		if cluster != nil {
			tr.Occupied, tr.MemberAdded = occupied, added
			if m != nil {
				tr.Members = cluster.members()
				if mm := cluster.Members[m.UserID]; mm != nil {
					tr.Member.Info = mm.Info
				}
			}
		}
		decided = tr.Change
		if f != nil {
			tr.Publish = s.publisher(app.ID, channel, tr.Publish)
			f(tr)
		}
	})
	if err != nil { // the local limit, only when decided locally
		return push.Change{}, err
	}
	if degraded {
		key := channelKey(app.ID, channel)
		if first {
			s.kv.decided(key, nil, true)
		}
		if userFirst {
			s.kv.decided(key, m, true)
		}
	}
	return decided, nil
}

// subscribeInternal is Subscribe of an internal channel, under its stripe
// lock: no bucket, but a node's first subscriber gets the channel's NATS
// subscription sent and flushed before f runs, so that an event another
// node publishes to it once the caller has answered (a sendToUser right
// after signin_success) reaches it.
func (s *State) subscribeInternal(sock *push.Socket, channel string, m *push.Member, f func(*push.Transition)) (push.Change, error) {
	app := sock.App().ID
	first := !s.LocalState.Channel(app, channel).Occupied
	if first {
		s.followNow(app, channel)
		// A watchlist channel is not waited for: a sign-in may join a
		// hundred, one round trip each on the event loop. The sign-in's
		// report of who is online asks afterwards, on the same connection
		// (a bucket read or a query), so NATS has the subscription by
		// then: a user coming online before that is in the answer, after
		// it its event arrives.
		if !push.WatchlistChannel(channel) {
			ctx, cancel := s.kvContext()
			s.flushFollow(ctx)
			cancel()
		}
	}
	var decided push.Change
	if _, err := s.LocalState.Subscribe(sock, channel, m, s.around(app, channel, f, &decided)); err != nil {
		if first {
			s.follow(app, channel, false)
		}
		return push.Change{}, err
	}
	return decided, nil
}

// Unsubscribe implements push.State. When sock was this node's last
// subscriber of the channel, or its user's last socket in a presence
// channel, LocalState's change is made first and then the channel's entry
// in the state bucket, under the channel's stripe lock; f runs after both,
// still under that lock, with the cluster's flags (Vacated when no node is
// left, MemberRemoved when the user has no node left). Without the bucket
// the node decides alone (Stats.Degraded).
func (s *State) Unsubscribe(sock *push.Socket, channel string, f func(*push.Transition)) (push.Change, bool) {
	app := sock.App()
	defer s.locks.lock(keyChannel, app.ID, channel)()
	if internal(channel) {
		var decided push.Change
		_, ok := s.LocalState.Unsubscribe(sock, channel, s.around(app.ID, channel, f, &decided))
		return decided, ok
	}
	c, ok := s.LocalState.Unsubscribe(sock, channel, func(tr *push.Transition) {
		if tr.Vacated {
			s.follow(app.ID, channel, false)
		}
	})
	if !ok {
		return c, false
	}
	if c.Vacated || c.MemberRemoved {
		ctx, cancel := s.kvContext()
		before, after, err := s.updateNow(ctx, channelKey(app.ID, channel), func(e *entry) error {
			if c.Vacated {
				e.Nodes = removeNode(e.Nodes, s.cfg.Node)
			}
			if c.MemberRemoved {
				e.setMember(c.Member.UserID, nil, s.cfg.Node, false)
			}
			return nil
		})
		cancel()
		if err != nil {
			s.degrade("an unsubscription", err)
			if c.Vacated {
				s.kv.decided(channelKey(app.ID, channel), nil, false)
			}
			if c.MemberRemoved {
				s.kv.decided(channelKey(app.ID, channel), &c.Member, false)
			}
		} else {
			c.Vacated = len(before.Nodes) > 0 && len(after.Nodes) == 0
			c.MemberRemoved = c.MemberRemoved && before.Members[c.Member.UserID] != nil && after.Members[c.Member.UserID] == nil
		}
	}
	if f != nil {
		f(&push.Transition{Change: c, Publish: func(m *push.Message, except []string) { s.Publish(app.ID, channel, m, except) }})
	}
	return c, true
}

// SignIn implements push.State. On the user's first socket on this node
// the user's entry in the state bucket gets this node, under the user's
// stripe lock, and online is true (and f called) only when no node had it.
func (s *State) SignIn(sock *push.Socket, user string, f func()) bool {
	app := sock.App()
	defer s.locks.lock(keyUser, app.ID, user)()
	online := true
	if _, here := s.LocalState.UserSockets(app.ID, user); len(here) == 0 {
		ctx, cancel := s.kvContext()
		before, after, err := s.updateNow(ctx, userKey(app.ID, user), func(e *entry) error {
			e.Nodes = addNode(e.Nodes, s.cfg.Node)
			return nil
		})
		cancel()
		if err != nil {
			s.degrade("a sign-in", err)
			s.kv.decided(userKey(app.ID, user), nil, true)
		} else {
			online = len(before.Nodes) == 0 && len(after.Nodes) > 0
		}
	}
	return s.LocalState.SignIn(sock, user, func() {
		if online && f != nil {
			f()
		}
	}) && online
}

// SignOut implements push.State: LocalState's, then, on the user's last
// socket on this node, the user's entry loses this node; offline is true
// (and f called, under the user's stripe lock) only when no node is left.
func (s *State) SignOut(sock *push.Socket, user string, f func()) bool {
	app := sock.App()
	defer s.locks.lock(keyUser, app.ID, user)()
	if !s.LocalState.SignOut(sock, user, nil) {
		return false
	}
	ctx, cancel := s.kvContext()
	before, after, err := s.updateNow(ctx, userKey(app.ID, user), func(e *entry) error {
		e.Nodes = removeNode(e.Nodes, s.cfg.Node)
		return nil
	})
	cancel()
	offline := true
	if err != nil {
		s.degrade("a sign-out", err)
		s.kv.decided(userKey(app.ID, user), nil, false)
	} else {
		offline = len(before.Nodes) > 0 && len(after.Nodes) == 0
	}
	if offline && f != nil {
		f()
	}
	return offline
}

// followNow subscribes this node to the channel's subject now, not in the
// interest loop: the SUB is sent before the bucket write that follows on
// the same connection, so NATS has it by the time the write is answered
// (flushFollow waits for it when there is no write).
func (s *State) followNow(app, channel string) {
	if push.CacheChannel(channel) {
		return
	}
	if _, ok := s.apps[app]; !ok {
		return
	}
	subj := s.subj.channel(app, channel)
	s.interest.set(subj, true)
	s.reconcile(subj)
}

// flushFollow waits until NATS has the subscriptions sent so far, until
// ctx ends and at most KVTimeout; nothing when disconnected or while the
// bucket is not answering (NATS is then likely stalled too).
func (s *State) flushFollow(ctx context.Context) {
	if s.nc.IsConnected() && !s.kvDown.Load() {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.KVTimeout)
		defer cancel()
		_ = s.nc.FlushWithContext(ctx)
	}
}

// apply acts on the transitions from before to after of a key, decided
// here with no socket taking part (scrub, resync). Called under the key's
// stripe lock.
func (s *State) apply(kind, app, name string, before, after *entry) {
	a := s.apps[app]
	if a == nil {
		return
	}
	t := s.transitions
	for _, c := range diff(before, after) {
		switch {
		case kind == keyUser && c.Occupied:
			t.User(a.app, name, true)
		case kind == keyUser && c.Vacated:
			t.User(a.app, name, false)
		case kind == keyChannel:
			t.Channel(a.app, name, &push.Transition{Change: c,
				Publish: func(m *push.Message, except []string) { s.Publish(app, name, m, except) }})
		}
	}
}

// kvLoop binds the state bucket, keeps this node's part of it right (a
// resync at start, after a NATS reconnect, after a degraded decision and
// when another node says it took this one for dead) and, on the lowest
// live node, removes the nodes that died or left from it. A resync that
// fails is tried again after a second, then twice as long each time up to
// resyncMaxBackoff: one that times out does so because the bucket is
// overloaded, and trying at once adds to that.
func (s *State) kvLoop() {
	defer s.wg.Done()
	select {
	case <-s.done:
		return
	case <-s.transitionsSet:
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.done
		cancel()
	}()
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	live := s.Nodes()
	changed := s.NodesChanged()
	gone := make(map[uint16]bool)
	reconnects := s.nc.Stats().Reconnects
	need := resyncAll // at start: a previous instance's part goes
	var retry time.Time
	backoff := time.Second
	for {
		if s.kv.get() == nil {
			if err := s.bind(ctx); err != nil {
				s.logDrop("cluster: state bucket unavailable: transitions decided per node", "error", err)
			} else {
				need = resyncAll
			}
		}
		if r := s.nc.Stats().Reconnects; r != reconnects {
			// The others seemed dead only because this node was cut off,
			// and they may have taken it for dead meanwhile.
			reconnects, need = r, max(need, resyncOwn)
			clear(gone)
		}
		if s.revived.Swap(false) {
			need = max(need, resyncOwn)
		}
		if s.dirty.Swap(false) {
			need = max(need, resyncDecided)
		}
		if s.kv.overflow.Swap(false) { // decisions it could not record
			need = resyncAll
		}
		if need > resyncNone && s.kv.get() != nil && !time.Now().Before(retry) {
			timeouts := s.stats.kvTimeouts.Load()
			if err := s.resync(ctx, need); err != nil {
				retry = time.Now().Add(backoff)
				s.logDrop("cluster: resync failed, tried again later", "error", err, "in", backoff)
				backoff = min(2*backoff, resyncMaxBackoff)
			} else {
				need, retry, backoff = resyncNone, time.Time{}, time.Second
				s.stats.resyncs.Add(1)
				if s.stats.kvTimeouts.Load() == timeouts { // no timeout since it began: the bucket answers
					s.kvDown.Store(false)
				}
			}
		}
		if len(gone) > 0 && live[0] == s.cfg.Node && s.kv.get() != nil {
			if err := s.scrub(ctx, gone); err != nil {
				s.logDrop("cluster: removing dead nodes from the state failed, tried again", "error", err)
			} else {
				clear(gone)
			}
		}
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-changed:
			changed = s.NodesChanged()
			now := s.Nodes()
			for _, n := range live {
				if !slices.Contains(now, n) && s.nc.IsConnected() { // not when this node is the one cut off
					gone[n] = true
				}
			}
			for _, n := range now {
				delete(gone, n) // back before it was removed: nothing to remove
			}
			live = now
		}
	}
}

// listTimeout bounds the listing of the bucket's keys (a resync, a scrub):
// it takes a round trip per key batch, so long for many channels.
const listTimeout = time.Minute

// keys lists the bucket's keys.
func (s *State) keys(ctx context.Context) ([]string, error) {
	kv := s.kv.get()
	if kv == nil {
		return nil, errNoBucket
	}
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	l, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = l.Stop() }()
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, ctx.Err()
}

// scrub takes the nodes gone out of every key that lists them, unless one
// is live again by then, and acts on the transitions that causes. A key
// another node changed meanwhile is read again (CAS), so a transition
// happens once whichever nodes scrub.
func (s *State) scrub(ctx context.Context, gone map[uint16]bool) error {
	keys, err := s.keys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		kind, app, name, err := parseKey(k)
		if err != nil {
			continue
		}
		if err := s.rewrite(ctx, kind, app, name, k, func(e *entry) error {
			live := s.Nodes()
			for n := range gone {
				if !slices.Contains(live, n) {
					e.dropNode(n)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// rewrite changes one key under its stripe lock and acts on what changed
// as the cluster was told: with this node's unwritten part (see
// bucket.decided) in place of the bucket's. With edit nil it writes this
// node's part from its LocalState (own), which ends the unwritten part:
// what the degraded decisions reported is not reported again.
func (s *State) rewrite(ctx context.Context, kind, app, name, key string, edit func(*entry) error) error {
	defer s.locks.lock(kind, app, name)()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.KVTimeout)
	defer cancel()
	own := edit == nil
	if own {
		edit = s.own(kind, app, name)
	}
	before, after, err := s.update(ctx, key, edit)
	if err != nil {
		return err
	}
	if own {
		s.stats.resyncKeys.Add(1)
		s.kv.overlay(key, s.cfg.Node, &before)
		s.kv.written(key)
	} else {
		s.kv.overlay(key, s.cfg.Node, &before, &after)
	}
	s.apply(kind, app, name, &before, &after)
	return nil
}

// What a resync rewrites, each level including the ones below it.
const (
	resyncNone = iota
	// resyncDecided: the keys this node decided alone (a degraded
	// decision: the bucket did not answer, or NATS was cut off).
	resyncDecided
	// resyncOwn: also every channel and user this node has, whose part
	// another node may have removed (it took this one for dead).
	resyncOwn
	// resyncAll: also every key of the bucket (a walk over them all): at
	// start, when a previous instance of this node may have left its part
	// anywhere.
	resyncAll
)

// resyncMaxBackoff bounds the wait before a failed resync is tried again.
const resyncMaxBackoff = 30 * time.Second

// resync makes this node's part of keys what its LocalState holds, as
// far as level says (resyncDecided, resyncOwn, resyncAll).
func (s *State) resync(ctx context.Context, level int) error {
	seen := make(map[string]bool)
	visit := func(kind, app, name, k string) error {
		if seen[k] {
			return nil
		}
		seen[k] = true
		return s.rewrite(ctx, kind, app, name, k, nil)
	}
	visitKeys := func(keys []string) error { // those of this node's apps
		for _, k := range keys {
			kind, app, name, err := parseKey(k)
			if err != nil || s.apps[app] == nil {
				continue
			}
			if err := visit(kind, app, name, k); err != nil {
				return err
			}
		}
		return nil
	}
	if level >= resyncAll {
		keys, err := s.keys(ctx)
		if err != nil {
			return err
		}
		if err := visitKeys(keys); err != nil {
			return err
		}
	}
	if level >= resyncOwn {
		for id := range s.apps {
			for name := range s.LocalState.Channels(id, "") {
				if err := visit(keyChannel, id, name, channelKey(id, name)); err != nil {
					return err
				}
			}
		}
		for _, sock := range s.LocalState.Sockets() {
			id, user := sock.App().ID, sock.UserID()
			if user == "" || s.apps[id] == nil {
				continue
			}
			if err := visit(keyUser, id, user, userKey(id, user)); err != nil {
				return err
			}
		}
	}
	return visitKeys(s.kv.unwrittenKeys()) // decided alone: maybe in neither the bucket nor LocalState now
}

// own returns the edit that sets this node's part of a key to what its
// LocalState holds; it runs under the key's stripe lock, so LocalState
// cannot change there meanwhile.
func (s *State) own(kind, app, name string) func(*entry) error {
	me := s.cfg.Node
	return func(e *entry) error {
		if kind == keyUser {
			e.Nodes = removeNode(e.Nodes, me)
			if on, _ := s.LocalState.UserSockets(app, name); len(on) > 0 {
				e.Nodes = addNode(e.Nodes, me)
			}
			return nil
		}
		e.dropNode(me)
		if s.LocalState.Channel(app, name).Occupied {
			e.Nodes = addNode(e.Nodes, me)
		}
		for _, m := range s.LocalState.Members(app, name) {
			e.setMember(m.UserID, m.Info, me, true)
		}
		return nil
	}
}
