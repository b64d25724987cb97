package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/push"
)

// Query kinds.
const (
	qConnections = "connections"
	qChannel     = "channel"
	qChannels    = "channels"
	qMembers     = "members"
	qUsers       = "users"
	qOnline      = "online"
	qSockets     = "sockets"
	qCache       = "cache" // the cache channels' last events, for a node that starts
)

// request is a query's body, sent to the app's query subject with a reply
// subject in this node's inbox; the app is in the subject.
type request struct {
	Kind    string `json:"kind"`
	Channel string `json:"channel,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	User    string `json:"user,omitempty"`
}

// answer is one node's answer to a request, from its LocalState: the
// fields of the request's kind are set.
type answer struct {
	ID          string                   `json:"id"`
	Connections int                      `json:"connections,omitempty"`
	Channels    map[string]channelAnswer `json:"channels,omitempty"` // qChannel's under its name
	Members     []memberAnswer           `json:"members,omitempty"`
	Users       []string                 `json:"users,omitempty"` // qUsers, and qOnline's user when online
	Sockets     []string                 `json:"sockets,omitempty"`
	Cache       []cacheEntry             `json:"cache,omitempty"`
}

// cacheEntry is a cache channel's last event and how long it has left.
type cacheEntry struct {
	Channel string        `json:"channel"`
	Frame   []byte        `json:"frame"`
	TTL     time.Duration `json:"ttl"`
}

// channelAnswer is a channel on one node: its subscriptions, and the ids of
// a presence channel's members, so that users are counted once across
// nodes.
type channelAnswer struct {
	Subscriptions int      `json:"subscriptions"`
	Members       []string `json:"members,omitempty"`
}

type memberAnswer struct {
	ID   string          `json:"id"`
	Info json.RawMessage `json:"info,omitempty"`
}

// errQuery is returned by the decoders for a body that is not a request or
// an answer.
var errQuery = errors.New("cluster: malformed query")

func decodeRequest(b []byte) (request, error) {
	var r request
	if err := json.Unmarshal(b, &r); err != nil {
		return r, errors.Join(errQuery, err)
	}
	switch r.Kind {
	case qConnections, qChannel, qChannels, qMembers, qUsers, qOnline, qSockets, qCache:
		return r, nil
	}
	return r, errQuery
}

func decodeAnswer(b []byte) (answer, error) {
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return a, errors.Join(errQuery, err)
	}
	if a.ID == "" {
		return a, errQuery
	}
	return a, nil
}

// answerLocal answers r from this node's LocalState.
func (s *State) answerLocal(app string, r request) answer {
	l := s.LocalState
	a := answer{ID: s.id}
	switch r.Kind {
	case qConnections:
		a.Connections = l.Connections(app)
	case qChannel:
		if info := l.Channel(app, r.Channel); info.Occupied {
			a.Channels = map[string]channelAnswer{r.Channel: s.channelAnswer(app, r.Channel, info)}
		}
	case qChannels:
		for name, info := range l.Channels(app, r.Prefix) {
			if a.Channels == nil {
				a.Channels = make(map[string]channelAnswer)
			}
			a.Channels[name] = s.channelAnswer(app, name, info)
		}
	case qMembers:
		for _, m := range l.Members(app, r.Channel) {
			a.Members = append(a.Members, memberAnswer{ID: m.UserID, Info: m.Info})
		}
	case qUsers:
		a.Users = l.SubscriberUsers(app, r.Channel)
	case qOnline:
		if l.UserOnline(app, r.User) {
			a.Users = []string{r.User}
		}
	case qSockets:
		a.Sockets, _ = l.UserSockets(app, r.User)
	case qCache:
		a.Cache = s.cacheEntries(app)
	}
	return a
}

// cacheEntries lists the app's cache, as much of it as fits in half a
// NATS message (JSON spells a frame in base64): a node that starts gets
// that much.
func (s *State) cacheEntries(app string) []cacheEntry {
	var out []cacheEntry
	room := s.nc.MaxPayload() / 2
	now := time.Now()
	skipped := 0
	s.LocalState.LastEvents(app, func(channel string, m *push.Message, expires time.Time) {
		size := int64(len(channel) + len(m.Frame())*4/3 + 64)
		if size > room {
			skipped++
			return
		}
		room -= size
		out = append(out, cacheEntry{Channel: channel, Frame: m.Frame(), TTL: expires.Sub(now)})
	})
	if skipped > 0 {
		s.log.Warn("cluster: cache too large to hand over whole: a starting node misses some last events", "app", app, "skipped", skipped)
	}
	return out
}

func (s *State) channelAnswer(app, name string, info push.ChannelInfo) channelAnswer {
	c := channelAnswer{Subscriptions: info.SubscriptionCount}
	if info.UserCount > 0 {
		for _, m := range s.LocalState.Members(app, name) {
			c.Members = append(c.Members, m.UserID)
		}
	}
	return c
}

// onQuery answers another node's query.
func (s *State) onQuery(msg *nats.Msg) {
	if msg.Header.Get(hdrOrigin) == s.id || msg.Reply == "" {
		return // ours: answered locally
	}
	_, app, _, err := s.subj.parse(msg.Subject)
	if err != nil || s.apps[app] == nil {
		s.stats.malformed.Add(1)
		return
	}
	r, err := decodeRequest(msg.Data)
	if err != nil {
		s.stats.malformed.Add(1)
		return
	}
	b, _ := json.Marshal(s.answerLocal(app, r)) // cannot fail
	if err := msg.Respond(b); err != nil {
		s.logDrop("cluster: query answer not sent", "error", err)
	}
}

// waiting is the queries in flight, by the last token of their reply
// subject, and the number of bucket reads in flight for queries.
type waiting struct {
	mu    sync.Mutex
	m     map[string]chan answer
	seq   atomic.Uint64
	reads atomic.Int64
}

// maxQueryReads bounds the bucket reads in flight for queries (readQuery):
// past it, the nodes are asked instead.
const maxQueryReads = 64

// errReadsBusy is returned by readQuery when maxQueryReads are in flight.
var errReadsBusy = errors.New("cluster: too many state bucket reads in flight")

// readQuery reads key for a query, waiting at most KVTimeout. It fails at
// once without the bucket, while it is known not to answer, and when
// maxQueryReads are in flight. The read runs on its own goroutine: a NATS
// connection whose outgoing buffer is full blocks every call on it,
// whatever the context, until the server reads again (at most its
// FlusherTimeout), and the caller may be an event loop. A timeout makes
// the transitions and queries stop waiting for the bucket until a resync
// finds it answering.
func (s *State) readQuery(key string) (entry, error) {
	if s.kv.get() == nil {
		return entry{}, errNoBucket
	}
	if s.kvDown.Load() {
		return entry{}, errKVDown
	}
	if s.waiting.reads.Add(1) > maxQueryReads {
		s.waiting.reads.Add(-1)
		return entry{}, errReadsBusy
	}
	type result struct {
		e   entry
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := s.kvContext()
	go func() {
		defer s.waiting.reads.Add(-1)
		defer cancel()
		e, err := s.readNow(ctx, key)
		done <- result{e, err}
	}()
	t := time.NewTimer(s.cfg.KVTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		s.kvTimedOut(r.err)
		return r.e, r.err
	case <-t.C:
		s.kvTimedOut(context.DeadlineExceeded)
		return entry{}, context.DeadlineExceeded
	}
}

// onAnswer hands an answer to the query waiting for it.
func (s *State) onAnswer(msg *nats.Msg) {
	a, err := decodeAnswer(msg.Data)
	if err != nil {
		s.stats.malformed.Add(1)
		return
	}
	tok := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	s.waiting.mu.Lock()
	ch := s.waiting.m[tok]
	s.waiting.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default: // more answers than live nodes: a node joined meanwhile
		}
	}
}

// ask sends r to the other nodes and returns this node's answer and theirs:
// all of them, or those that came within QueryTimeout (then the query is
// counted and logged as timed out, and the result is built from what
// arrived). enough, if not nil, ends the wait early once it returns true.
func (s *State) ask(app string, r request, enough func(answer) bool) []answer {
	return s.askWithin(app, r, enough, s.cfg.QueryTimeout)
}

// askWithin is ask waiting up to timeout.
func (s *State) askWithin(app string, r request, enough func(answer) bool, timeout time.Duration) []answer {
	local := s.answerLocal(app, r)
	out := []answer{local}
	a := s.apps[app]
	peers := s.peerCount()
	if a == nil || peers == 0 || (enough != nil && enough(local)) {
		return out
	}
	tok := strconv.FormatUint(s.waiting.seq.Add(1), 36)
	ch := make(chan answer, peers)
	s.waiting.mu.Lock()
	s.waiting.m[tok] = ch
	s.waiting.mu.Unlock()
	defer func() {
		s.waiting.mu.Lock()
		delete(s.waiting.m, tok)
		s.waiting.mu.Unlock()
	}()
	body, _ := json.Marshal(r) // cannot fail
	msg := &nats.Msg{Subject: a.query, Reply: s.inbox + "." + tok, Data: body, Header: nats.Header{hdrOrigin: []string{s.id}}}
	if !s.enqueue(msg) { // not nc.PublishMsg: it may wait for a slow NATS, here on an event loop
		s.stats.queryTimeouts.Add(1)
		return out
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	seen := map[string]bool{s.id: true}
	for len(seen) <= peers {
		select {
		case ans := <-ch:
			if seen[ans.ID] {
				continue
			}
			seen[ans.ID] = true
			out = append(out, ans)
			if enough != nil && enough(ans) {
				return out
			}
		case <-t.C:
			s.stats.queryTimeouts.Add(1)
			s.log.Warn("cluster: query timed out: the answer is from the nodes that answered",
				"kind", r.Kind, "app", app, "answers", len(seen)-1, "live_nodes", peers, "timeout", timeout)
			return out
		}
	}
	return out
}

// Connections implements push.State: the sum over the nodes.
func (s *State) Connections(app string) int {
	n := 0
	for _, a := range s.ask(app, request{Kind: qConnections}, nil) {
		n += a.Connections
	}
	return n
}

// Channel implements push.State: subscriptions summed, users counted once
// across the nodes, occupied if occupied anywhere.
func (s *State) Channel(app, channel string) push.ChannelInfo {
	return mergeChannels(s.ask(app, request{Kind: qChannel, Channel: channel}, nil))[channel]
}

// Channels implements push.State, merged as Channel.
func (s *State) Channels(app, prefix string) map[string]push.ChannelInfo {
	return mergeChannels(s.ask(app, request{Kind: qChannels, Prefix: prefix}, nil))
}

// mergeChannels merges the nodes' channels.
func mergeChannels(answers []answer) map[string]push.ChannelInfo {
	out := make(map[string]push.ChannelInfo)
	users := make(map[string]map[string]struct{})
	for _, a := range answers {
		for name, c := range a.Channels {
			info := out[name]
			info.SubscriptionCount += c.Subscriptions
			info.Occupied = info.SubscriptionCount > 0
			out[name] = info
			if len(c.Members) == 0 {
				continue
			}
			if users[name] == nil {
				users[name] = make(map[string]struct{})
			}
			for _, id := range c.Members {
				users[name][id] = struct{}{}
			}
		}
	}
	for name, u := range users {
		info := out[name]
		info.UserCount = len(u)
		out[name] = info
	}
	return out
}

// Members implements push.State: the channel's entry in the state bucket
// (one read, up to KVTimeout), or without the bucket the nodes' answers,
// each user once (with the info of the first node listed that has it),
// sorted by user id.
func (s *State) Members(app, channel string) []push.Member {
	if e, err := s.readQuery(channelKey(app, channel)); err == nil {
		return e.members()
	}
	var out []push.Member
	seen := make(map[string]bool)
	for _, a := range s.ask(app, request{Kind: qMembers, Channel: channel}, nil) {
		for _, m := range a.Members {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, push.Member{UserID: m.ID, Info: m.Info})
			}
		}
	}
	slices.SortFunc(out, func(a, b push.Member) int { return strings.Compare(a.UserID, b.UserID) })
	return out
}

// SubscriberUsers implements push.State: the union, sorted.
func (s *State) SubscriberUsers(app, channel string) []string {
	var out []string
	for _, a := range s.ask(app, request{Kind: qUsers, Channel: channel}, nil) {
		out = append(out, a.Users...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UserOnline implements push.State: true without any I/O when the user
// has a socket here; otherwise whether the user's entry in the state
// bucket lists another live node (one read, up to KVTimeout), or, without
// the bucket, whether another node says so (asked as above, true as soon
// as one does).
func (s *State) UserOnline(app, user string) bool {
	if s.LocalState.UserOnline(app, user) {
		return true
	}
	if others, ok := s.userNodes(app, user); ok {
		return len(others) > 0
	}
	online := func(a answer) bool { return len(a.Users) > 0 }
	return slices.ContainsFunc(s.ask(app, request{Kind: qOnline, User: user}, online), online)
}

// UserSockets implements push.State: this node's sockets, and the ids
// from every node; the other nodes are not asked when the user's entry in
// the state bucket lists none of them.
func (s *State) UserSockets(app, user string) ([]string, []*push.Socket) {
	ids, local := s.LocalState.UserSockets(app, user)
	if others, ok := s.userNodes(app, user); ok && len(others) == 0 {
		return ids, local
	}
	ids = nil
	for _, a := range s.ask(app, request{Kind: qSockets, User: user}, nil) {
		ids = append(ids, a.Sockets...)
	}
	return ids, local
}

// userNodes returns the live nodes other than this one that the state
// bucket lists for a signed-in user (this node's part is its LocalState's:
// the entry may lag a sign-in or sign-out here, and a dead node's part
// stays until it is removed). ok is false without the bucket: not bound,
// not answering, or the read failed (one read, up to KVTimeout).
func (s *State) userNodes(app, user string) (others []uint16, ok bool) {
	e, err := s.readQuery(userKey(app, user))
	if err != nil {
		return nil, false
	}
	live := s.Nodes()
	return slices.DeleteFunc(e.Nodes, func(n uint16) bool { return n == s.cfg.Node || !slices.Contains(live, n) }), true
}
