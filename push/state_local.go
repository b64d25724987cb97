package push

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/engine"
)

// shards is the number of independently locked parts of each index, so
// that no lock is shared by every connection on the hot path.
const shards = 64

var seed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(seed, key) % shards) }

// LocalState is the State of a single process: sharded maps in memory.
// Publishing to a channel takes that channel's read lock only.
type LocalState struct {
	out     sender // set before connections arrive (Server.Bind)
	sockets [shards]struct {
		mu sync.RWMutex
		m  map[string]*Socket
	}
	apps sync.Map // app id → *appState
}

// NewLocalState returns an empty single-process State.
func NewLocalState() *LocalState {
	l := &LocalState{out: sendEach{}}
	for i := range l.sockets {
		l.sockets[i].m = make(map[string]*Socket)
	}
	return l
}

var _ State = (*LocalState)(nil)

func (l *LocalState) setSender(out sender) { l.out = out }

// deliver writes m to conns, which the sender owns from then on.
func (l *LocalState) deliver(m *Message, conns []*engine.Conn) {
	if len(conns) > 0 {
		l.out.send(m, conns)
	}
}

type appState struct {
	channels [shards]struct {
		mu sync.RWMutex
		m  map[string]*channel
	}
	conns [shards]struct {
		mu sync.RWMutex
		m  map[*Socket]struct{}
	}
	users [shards]struct {
		mu sync.RWMutex
		m  map[string][]*Socket
	}
	cacheMu sync.Mutex
	cache   map[string]cached
	writes  int // setLast calls since the last sweep

	// Channels with subscribers and their subscriptions, internal ones
	// excepted, for LocalCounts.
	nChannels, nSubs atomic.Int64
}

type cached struct {
	m       *Message
	expires time.Time
}

type channel struct {
	mu      sync.RWMutex
	dead    bool                   // removed from its shard: subscribe again
	subs    map[*Socket]*memberRef // the socket's presence member, nil elsewhere
	members map[string]*memberRef  // presence
}

type memberRef struct {
	id      string
	info    []byte
	sockets int
}

func (l *LocalState) app(id string) *appState {
	if a, ok := l.apps.Load(id); ok {
		return a.(*appState)
	}
	a := &appState{cache: make(map[string]cached)}
	for i := range a.channels {
		a.channels[i].m = make(map[string]*channel)
		a.conns[i].m = make(map[*Socket]struct{})
		a.users[i].m = make(map[string][]*Socket)
	}
	got, _ := l.apps.LoadOrStore(id, a)
	return got.(*appState)
}

// Connect implements State.
func (l *LocalState) Connect(s *Socket) {
	sh := &l.sockets[shardOf(s.id)]
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
	c := &l.app(s.app.ID).conns[shardOf(s.id)]
	c.mu.Lock()
	c.m[s] = struct{}{}
	c.mu.Unlock()
}

// Disconnect implements State.
func (l *LocalState) Disconnect(s *Socket) {
	sh := &l.sockets[shardOf(s.id)]
	sh.mu.Lock()
	delete(sh.m, s.id)
	sh.mu.Unlock()
	c := &l.app(s.app.ID).conns[shardOf(s.id)]
	c.mu.Lock()
	delete(c.m, s)
	c.mu.Unlock()
}

// Socket implements State.
func (l *LocalState) Socket(id string) *Socket {
	sh := &l.sockets[shardOf(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// Sockets implements State.
func (l *LocalState) Sockets() []*Socket {
	var all []*Socket
	for i := range l.sockets {
		sh := &l.sockets[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			all = append(all, s)
		}
		sh.mu.RUnlock()
	}
	return all
}

// Connections implements State.
func (l *LocalState) Connections(app string) int {
	a := l.app(app)
	n := 0
	for i := range a.conns {
		a.conns[i].mu.RLock()
		n += len(a.conns[i].m)
		a.conns[i].mu.RUnlock()
	}
	return n
}

// LocalCounts are an app's figures on this node alone.
type LocalCounts struct {
	Connections int
	// Channels counts the channels with subscribers, and Subscriptions
	// their subscriptions, internal channels (server-to-user, watchlists)
	// excepted.
	Channels, Subscriptions int
}

// LocalCounts returns the app's figures on this node, without looking at
// each channel: for metrics, scraped while many channels come and go.
func (l *LocalState) LocalCounts(app string) LocalCounts {
	a := l.app(app)
	return LocalCounts{Connections: l.Connections(app), Channels: int(a.nChannels.Load()), Subscriptions: int(a.nSubs.Load())}
}

// internal reports whether a channel is one of the server's own.
func internal(name string) bool { return strings.HasPrefix(name, "#") }

// Subscribe implements State.
func (l *LocalState) Subscribe(s *Socket, name string, m *Member, f func(*Transition)) (Change, error) {
	a := l.app(s.app.ID)
	sh := &a.channels[shardOf(name)]
	for {
		sh.mu.Lock()
		ch := sh.m[name]
		if ch == nil {
			ch = &channel{subs: make(map[*Socket]*memberRef)}
			sh.m[name] = ch
		}
		sh.mu.Unlock()

		ch.mu.Lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		before := len(ch.subs)
		c, err := ch.add(s, m)
		if len(ch.subs) > before && !internal(name) {
			a.nSubs.Add(1)
			if c.Occupied {
				a.nChannels.Add(1)
			}
		}
		if err == nil && f != nil {
			tr := &Transition{Change: c, Publish: l.publisher(ch)}
			if m != nil {
				tr.Members = ch.memberList()
			}
			f(tr)
		}
		empty := len(ch.subs) == 0
		ch.mu.Unlock()
		if empty { // a refused first member leaves no channel behind
			l.dropIfEmpty(sh, name, ch)
		}
		return c, err
	}
}

func (ch *channel) add(s *Socket, m *Member) (Change, error) {
	var c Change
	if _, ok := ch.subs[s]; ok {
		c.Count = len(ch.subs)
		return c, nil
	}
	var ref *memberRef
	if m != nil {
		if ch.members == nil {
			ch.members = make(map[string]*memberRef)
		}
		ref = ch.members[m.UserID]
		if ref == nil {
			if len(ch.members) >= s.app.Limits.MaxPresenceMembers {
				return c, ErrPresenceFull
			}
			ref = &memberRef{id: m.UserID, info: m.Info}
			ch.members[m.UserID] = ref
			c.MemberAdded = true
		}
		ref.sockets++
		c.Member = Member{UserID: m.UserID, Info: ref.info}
	}
	c.Occupied = len(ch.subs) == 0
	ch.subs[s] = ref
	c.Count = len(ch.subs)
	return c, nil
}

func (ch *channel) memberList() []Member {
	ms := make([]Member, 0, len(ch.members))
	for id, ref := range ch.members {
		ms = append(ms, Member{UserID: id, Info: ref.info})
	}
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) })
	return ms
}

// dropIfEmpty removes a channel that has no subscriber left.
func (l *LocalState) dropIfEmpty(sh *struct {
	mu sync.RWMutex
	m  map[string]*channel
}, name string, ch *channel) {
	sh.mu.Lock()
	ch.mu.Lock()
	if len(ch.subs) == 0 && sh.m[name] == ch {
		ch.dead = true
		delete(sh.m, name)
	}
	ch.mu.Unlock()
	sh.mu.Unlock()
}

// Unsubscribe implements State.
func (l *LocalState) Unsubscribe(s *Socket, name string, f func(*Transition)) (Change, bool) {
	a := l.app(s.app.ID)
	sh := &a.channels[shardOf(name)]
	sh.mu.RLock()
	ch := sh.m[name]
	sh.mu.RUnlock()
	var c Change
	if ch == nil {
		return c, false
	}
	ch.mu.Lock()
	ref, ok := ch.subs[s]
	if !ok {
		ch.mu.Unlock()
		return c, false
	}
	delete(ch.subs, s)
	if ref != nil {
		ref.sockets--
		c.Member = Member{UserID: ref.id, Info: ref.info}
		if ref.sockets == 0 {
			delete(ch.members, ref.id)
			c.MemberRemoved = true
		}
	}
	c.Count = len(ch.subs)
	c.Vacated = c.Count == 0
	if !internal(name) {
		a.nSubs.Add(-1)
		if c.Vacated {
			a.nChannels.Add(-1)
		}
	}
	if f != nil {
		f(&Transition{Change: c, Publish: l.publisher(ch)})
	}
	ch.mu.Unlock()
	if c.Vacated {
		l.dropIfEmpty(sh, name, ch)
	}
	return c, true
}

func (l *LocalState) channel(app, name string) *channel {
	sh := &l.app(app).channels[shardOf(name)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[name]
}

// Publish implements State.
func (l *LocalState) Publish(app, name string, m *Message, except []string) {
	ch := l.channel(app, name)
	if ch == nil {
		return
	}
	ch.mu.RLock()
	l.publishLocked(ch, m, except)
	ch.mu.RUnlock()
}

// publishLocked delivers m to the channel's subscribers. Called with
// ch.mu held.
func (l *LocalState) publishLocked(ch *channel, m *Message, except []string) {
	conns := make([]*engine.Conn, 0, len(ch.subs))
	for s := range ch.subs {
		if !slices.Contains(except, s.id) {
			conns = append(conns, s.conn)
		}
	}
	l.deliver(m, conns)
}

// publisher is Transition.Publish for a channel locked by its caller.
func (l *LocalState) publisher(ch *channel) func(*Message, []string) {
	return func(m *Message, except []string) { l.publishLocked(ch, m, except) }
}

// PublishAll implements State.
func (l *LocalState) PublishAll(app string, m *Message, except []string) {
	a := l.app(app)
	var conns []*engine.Conn
	for i := range a.conns {
		a.conns[i].mu.RLock()
		for s := range a.conns[i].m {
			if !slices.Contains(except, s.id) {
				conns = append(conns, s.conn)
			}
		}
		a.conns[i].mu.RUnlock()
	}
	l.deliver(m, conns)
}

// Channel implements State.
func (l *LocalState) Channel(app, name string) ChannelInfo {
	ch := l.channel(app, name)
	if ch == nil {
		return ChannelInfo{}
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.info()
}

func (ch *channel) info() ChannelInfo {
	return ChannelInfo{Occupied: len(ch.subs) > 0, SubscriptionCount: len(ch.subs), UserCount: len(ch.members)}
}

// Channels implements State.
func (l *LocalState) Channels(app, prefix string) map[string]ChannelInfo {
	a := l.app(app)
	out := make(map[string]ChannelInfo)
	for i := range a.channels {
		sh := &a.channels[i]
		sh.mu.RLock()
		for name, ch := range sh.m {
			if strings.HasPrefix(name, prefix) && !internal(name) {
				ch.mu.RLock()
				if info := ch.info(); info.Occupied {
					out[name] = info
				}
				ch.mu.RUnlock()
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// Members implements State.
func (l *LocalState) Members(app, name string) []Member {
	ch := l.channel(app, name)
	if ch == nil {
		return nil
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.memberList()
}

// SubscriberUsers implements State.
func (l *LocalState) SubscriberUsers(app, name string) []string {
	ch := l.channel(app, name)
	if ch == nil {
		return nil
	}
	ch.mu.RLock()
	subs := make([]*Socket, 0, len(ch.subs))
	for s := range ch.subs {
		subs = append(subs, s)
	}
	ch.mu.RUnlock()
	var ids []string
	for _, s := range subs {
		if id := s.UserID(); id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// SignIn implements State.
func (l *LocalState) SignIn(s *Socket, user string, f func()) bool {
	sh := &l.app(s.app.ID).users[shardOf(user)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	socks := sh.m[user]
	if slices.Contains(socks, s) {
		return false
	}
	sh.m[user] = append(socks, s)
	if len(socks) > 0 {
		return false
	}
	if f != nil {
		f()
	}
	return true
}

// SignOut implements State.
func (l *LocalState) SignOut(s *Socket, user string, f func()) bool {
	sh := &l.app(s.app.ID).users[shardOf(user)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	socks := sh.m[user]
	i := slices.Index(socks, s)
	if i < 0 {
		return false
	}
	socks = slices.Delete(socks, i, i+1)
	if len(socks) == 0 {
		delete(sh.m, user)
		if f != nil {
			f()
		}
		return true
	}
	sh.m[user] = socks
	return false
}

// UserOnline implements State.
func (l *LocalState) UserOnline(app, user string) bool {
	sh := &l.app(app).users[shardOf(user)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.m[user]) > 0
}

// UserSockets implements State.
func (l *LocalState) UserSockets(app, user string) ([]string, []*Socket) {
	sh := &l.app(app).users[shardOf(user)]
	sh.mu.RLock()
	local := slices.Clone(sh.m[user])
	sh.mu.RUnlock()
	ids := make([]string, len(local))
	for i, s := range local {
		ids[i] = s.id
	}
	return ids, local
}

// sweepEvery is how many setLast calls pass between sweeps of expired
// cache entries.
const sweepEvery = 1024

// PublishLast implements State. The channel's shard stays read-locked
// until the channel is, so that the channel cannot be created, joined or
// dropped between the two: a subscriber's join (which replays Last) comes
// wholly before or after.
func (l *LocalState) PublishLast(app, name string, m *Message, except []string) {
	sh := &l.app(app).channels[shardOf(name)]
	sh.mu.RLock()
	ch := sh.m[name]
	if ch == nil {
		l.setLast(app, name, m)
		sh.mu.RUnlock()
		return
	}
	ch.mu.RLock()
	sh.mu.RUnlock()
	l.setLast(app, name, m)
	l.publishLocked(ch, m, except)
	ch.mu.RUnlock()
}

func (l *LocalState) setLast(app, name string, m *Message) {
	a := l.app(app)
	ttl := DefaultCacheTTL
	if m.app != nil {
		ttl = m.app.Limits.CacheTTL
	}
	now := time.Now()
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	a.cache[name] = cached{m: m, expires: now.Add(ttl)}
	if a.writes++; a.writes >= sweepEvery {
		a.writes = 0
		for k, c := range a.cache {
			if now.After(c.expires) {
				delete(a.cache, k)
			}
		}
	}
}

// LastEvents calls f with each of the app's cache channels' last events
// that has not expired, and when it expires: a cluster State hands them to
// a node that starts later. f runs with the app's cache locked and must
// not call l.
func (l *LocalState) LastEvents(app string, f func(channel string, m *Message, expires time.Time)) {
	a := l.app(app)
	now := time.Now()
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	for name, c := range a.cache {
		if now.Before(c.expires) {
			f(name, c.m, c.expires)
		}
	}
}

// Last implements State.
func (l *LocalState) Last(app, name string) (*Message, bool) {
	a := l.app(app)
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	c, ok := a.cache[name]
	if !ok {
		return nil, false
	}
	if time.Now().After(c.expires) {
		delete(a.cache, name)
		return nil, false
	}
	return c.m, true
}
