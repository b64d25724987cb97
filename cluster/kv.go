package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wssd/wssd/push"
)

// Keys of the state bucket: the app id and the channel name or user id are
// one token each, encoded as the subjects' (base64url, which the KV's key
// alphabet admits):
//
//	c.{app}.{channel} a channel: the nodes with subscribers there, and a presence channel's members
//	u.{app}.{user}    a signed-in user: the nodes where it is signed in
const (
	keyChannel = "c"
	keyUser    = "u"
)

func channelKey(app, channel string) string {
	return keyChannel + "." + token(app) + "." + token(channel)
}
func userKey(app, user string) string {
	return keyUser + "." + token(app) + "." + token(user)
}

// errKey is returned by parseKey for a key that is not of this layout.
var errKey = errors.New("cluster: malformed state key")

// parseKey splits a key into its kind (keyChannel or keyUser), app and
// channel or user.
func parseKey(k string) (kind, app, name string, err error) {
	kind, rest, _ := strings.Cut(k, ".")
	appTok, nameTok, _ := strings.Cut(rest, ".")
	if kind != keyChannel && kind != keyUser {
		return "", "", "", errKey
	}
	if app, err = untoken(appTok); err != nil {
		return "", "", "", errKey
	}
	if name, err = untoken(nameTok); err != nil {
		return "", "", "", errKey
	}
	return kind, app, name, nil
}

// entry is a value of the state bucket: a channel's (Nodes are those with
// subscribers there, Members a presence channel's) or a signed-in user's
// (Nodes are where it is signed in). Node lists are sorted, each node
// once; a member has at least one node. An empty entry is not stored: its
// key is deleted.
type entry struct {
	Nodes   []uint16                `json:"nodes,omitempty"`
	Members map[string]*memberEntry `json:"members,omitempty"`
}

// memberEntry is a presence member: its user_info (the first node's to
// add it) and the nodes where it has sockets in the channel.
type memberEntry struct {
	Info  json.RawMessage `json:"info,omitempty"`
	Nodes []uint16        `json:"nodes"`
}

// errEntry is returned by decodeEntry for a value that is not an entry.
var errEntry = errors.New("cluster: malformed state value")

// decodeEntry decodes and checks a value of the state bucket.
func decodeEntry(b []byte) (entry, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return entry{}, errors.Join(errEntry, err)
	}
	if !sortedNodes(e.Nodes) {
		return entry{}, errEntry
	}
	for id, m := range e.Members {
		if id == "" || m == nil || len(m.Nodes) == 0 || !sortedNodes(m.Nodes) {
			return entry{}, errEntry
		}
	}
	return e, nil
}

func sortedNodes(ns []uint16) bool {
	for i := 1; i < len(ns); i++ {
		if ns[i] <= ns[i-1] {
			return false
		}
	}
	return true
}

func (e *entry) encode() []byte {
	b, _ := json.Marshal(e) // cannot fail: Info was valid JSON when decoded or given
	return b
}

func (e *entry) empty() bool { return len(e.Nodes) == 0 && len(e.Members) == 0 }

func (e *entry) clone() entry {
	c := entry{Nodes: slices.Clone(e.Nodes)}
	if e.Members != nil {
		c.Members = make(map[string]*memberEntry, len(e.Members))
		for id, m := range e.Members {
			c.Members[id] = &memberEntry{Info: m.Info, Nodes: slices.Clone(m.Nodes)}
		}
	}
	return c
}

// addNode adds n to a sorted node list.
func addNode(ns []uint16, n uint16) []uint16 {
	i, ok := slices.BinarySearch(ns, n)
	if ok {
		return ns
	}
	return slices.Insert(ns, i, n)
}

// removeNode removes n from a sorted node list.
func removeNode(ns []uint16, n uint16) []uint16 {
	if i, ok := slices.BinarySearch(ns, n); ok {
		return slices.Delete(ns, i, i+1)
	}
	return ns
}

func hasNode(ns []uint16, n uint16) bool {
	_, ok := slices.BinarySearch(ns, n)
	return ok
}

// setMember adds node n to member id (with info, if the member is new), or
// takes it away (removing the member once no node has it).
func (e *entry) setMember(id string, info json.RawMessage, n uint16, on bool) {
	m := e.Members[id]
	switch {
	case on && m == nil:
		if e.Members == nil {
			e.Members = make(map[string]*memberEntry)
		}
		e.Members[id] = &memberEntry{Info: info, Nodes: []uint16{n}}
	case on:
		m.Nodes = addNode(m.Nodes, n)
	case m != nil:
		if m.Nodes = removeNode(m.Nodes, n); len(m.Nodes) == 0 {
			delete(e.Members, id)
		}
	}
}

// dropNode takes node n out of the entry entirely.
func (e *entry) dropNode(n uint16) {
	e.Nodes = removeNode(e.Nodes, n)
	for id := range e.Members {
		e.setMember(id, nil, n, false)
	}
}

// lists says whether node n has any part in the entry.
func (e *entry) lists(n uint16) bool {
	if hasNode(e.Nodes, n) {
		return true
	}
	for _, m := range e.Members {
		if hasNode(m.Nodes, n) {
			return true
		}
	}
	return false
}

// members returns the members sorted by user id.
func (e *entry) members() []push.Member {
	out := make([]push.Member, 0, len(e.Members))
	for id, m := range e.Members {
		out = append(out, push.Member{UserID: id, Info: m.Info})
	}
	slices.SortFunc(out, func(a, b push.Member) int { return strings.Compare(a.UserID, b.UserID) })
	return out
}

// diff returns the cluster-wide transitions from before to after, one
// Change each, in the order the protocol reports them: occupied (or
// online), members added, members removed, vacated (or offline).
func diff(before, after *entry) []push.Change {
	var out []push.Change
	if len(before.Nodes) == 0 && len(after.Nodes) > 0 {
		out = append(out, push.Change{Occupied: true})
	}
	for _, m := range after.members() {
		if before.Members[m.UserID] == nil {
			out = append(out, push.Change{MemberAdded: true, Member: m})
		}
	}
	for _, m := range before.members() {
		if after.Members[m.UserID] == nil {
			out = append(out, push.Change{MemberRemoved: true, Member: m})
		}
	}
	if len(before.Nodes) > 0 && len(after.Nodes) == 0 {
		out = append(out, push.Change{Vacated: true})
	}
	return out
}

// bucket holds the state bucket once it is bound, and this node's parts
// of keys that its degraded decisions reported without writing them.
type bucket struct {
	p atomic.Pointer[kvHandle]

	mu        sync.Mutex
	unwritten map[string]*ownPart // by key, until a resync writes the node's part
	count     atomic.Int64        // len(unwritten), read without mu
	// overflow is set when a decision was not recorded (maxUnwritten): the
	// resync then walks every key.
	overflow atomic.Bool
}

// maxUnwritten bounds the keys a bucket holds unwritten parts of (a node
// that never reaches JetStream decides everything alone); past it a
// degraded decision is not recorded, the resync walks every key, and may
// report it again.
const maxUnwritten = 1 << 16

// ownPart is this node's part of a key as its degraded decisions reported
// it (to its sockets, the other nodes and its hook) without writing it to
// the bucket: for each item decided, whether the node is there. Seen
// through it, the bucket is what the cluster was told.
type ownPart struct {
	nodeSet, node bool // node is meaningful when nodeSet
	members       map[string]ownMember
}

type ownMember struct {
	on   bool
	info json.RawMessage
}

// overlay sets node n's part of e where p decided it.
func (p *ownPart) overlay(e *entry, n uint16) {
	switch {
	case p.nodeSet && p.node:
		e.Nodes = addNode(e.Nodes, n)
	case p.nodeSet:
		e.Nodes = removeNode(e.Nodes, n)
	}
	for id, m := range p.members {
		e.setMember(id, m.info, n, m.on)
	}
}

// decided records a degraded decision on key: on says whether the node is
// now there (with member, if not nil, the member's part instead). Called
// under the key's stripe lock.
func (b *bucket) decided(key string, member *push.Member, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.unwritten[key]
	if p == nil {
		if len(b.unwritten) >= maxUnwritten {
			b.overflow.Store(true)
			return
		}
		if b.unwritten == nil {
			b.unwritten = make(map[string]*ownPart)
		}
		p = &ownPart{}
		b.unwritten[key] = p
		b.count.Add(1)
	}
	if member == nil {
		p.nodeSet, p.node = true, on
		return
	}
	if p.members == nil {
		p.members = make(map[string]ownMember)
	}
	p.members[member.UserID] = ownMember{on: on, info: member.Info}
}

// pending says whether key has a part not written yet.
func (b *bucket) pending(key string) bool {
	if b.count.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unwritten[key] != nil
}

// overlay sets node n's part of each of es, values of key, to the
// unwritten one where there is one.
func (b *bucket) overlay(key string, n uint16, es ...*entry) {
	if b.count.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.unwritten[key]; p != nil {
		for _, e := range es {
			p.overlay(e, n)
		}
	}
}

// written forgets key's unwritten part: a resync wrote the node's part.
// Called under the key's stripe lock.
func (b *bucket) written(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unwritten[key] != nil {
		delete(b.unwritten, key)
		b.count.Add(-1)
	}
}

// unwrittenKeys lists the keys with an unwritten part.
func (b *bucket) unwrittenKeys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Collect(maps.Keys(b.unwritten))
}

type kvHandle struct{ kv jetstream.KeyValue }

func (b *bucket) get() jetstream.KeyValue {
	if h := b.p.Load(); h != nil {
		return h.kv
	}
	return nil
}

// errNoBucket is returned by update while the state bucket is not bound
// (JetStream was unreachable).
var errNoBucket = errors.New("cluster: state bucket not available")

// bucketName is the state bucket's name for a subject prefix.
func bucketName(prefix string) string { return jsName(prefix, "_state") }

// jsName is a JetStream stream's or bucket's name for a subject prefix and
// a suffix: each byte that such a name cannot have ('.' among them)
// becomes '_', so that prefixes differing only there share it.
func jsName(prefix, suffix string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, prefix) + suffix
}

// bind creates the state bucket, or binds to it, within KVTimeout.
func (s *State) bind(ctx context.Context) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.KVTimeout)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucketName(s.cfg.Prefix),
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: s.cfg.KVReplicas,
	})
	if err != nil {
		return err
	}
	s.kv.p.Store(&kvHandle{kv: kv})
	return nil
}

// casRetry reads key's entry (nil when there is none) and hands it to
// write, which writes expecting its revision; while write's error says
// another node wrote first (conflict), it reads and hands it again,
// counting each such round in conflicts, at most tries times (0: until
// ctx ends). It returns write's last error. Both the state bucket and the
// webhook markers change this way.
func casRetry(ctx context.Context, kv jetstream.KeyValue, key string, tries int, conflicts *atomic.Uint64, write func(jetstream.KeyValueEntry) error) error {
	for try := 1; ; try++ {
		got, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			got = nil
		case err != nil:
			return err
		}
		if err = write(got); err == nil || !conflict(err) || try == tries {
			return err
		}
		if conflicts != nil {
			conflicts.Add(1)
		}
	}
}

// update reads key, lets edit change it, and writes it back expecting the
// revision read, again from the read while another node's write came
// first, until ctx ends. It returns the value before and after the
// winning write (after is before when edit changed nothing, or failed:
// edit's error is returned).
func (s *State) update(ctx context.Context, key string, edit func(*entry) error) (before, after entry, err error) {
	kv := s.kv.get()
	if kv == nil {
		return entry{}, entry{}, errNoBucket
	}
	var edited error
	err = casRetry(ctx, kv, key, 0, &s.stats.kvConflicts, func(got jetstream.KeyValueEntry) error {
		var rev uint64
		before = entry{}
		if got != nil {
			rev = got.Revision()
			var err error
			if before, err = decodeEntry(got.Value()); err != nil {
				s.stats.malformed.Add(1) // overwritten below
				s.logDrop("cluster: malformed state value replaced", "key", key, "error", err)
			}
		}
		after = before.clone()
		if edited = edit(&after); edited != nil {
			after = before
			return edited
		}
		enc := after.encode()
		if bytes.Equal(enc, before.encode()) {
			return nil
		}
		var err error
		switch {
		case after.empty() && rev == 0:
			return nil
		case after.empty():
			err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		case rev == 0:
			_, err = kv.Create(ctx, key, enc)
		default:
			_, err = kv.Update(ctx, key, enc, rev)
		}
		if err == nil {
			s.stats.kvWrites.Add(1)
		}
		return err
	})
	switch {
	case edited != nil:
		return before, before, edited
	case err != nil:
		return entry{}, entry{}, err
	}
	return before, after, nil
}

// conflict says whether a write failed because the key changed since it
// was read.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// read returns key's entry.
func (s *State) read(ctx context.Context, key string) (entry, error) {
	kv := s.kv.get()
	if kv == nil {
		return entry{}, errNoBucket
	}
	got, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return entry{}, nil
	case err != nil:
		return entry{}, err
	}
	return decodeEntry(got.Value())
}
