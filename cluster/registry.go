package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// heartbeatMsg is the body of a heartbeat: who sends it. Bye is set by a
// node that is closing, so that the others drop it at once.
type heartbeatMsg struct {
	Node uint16 `json:"node"`
	// ID is the instance, the node number and a start id: a restarted
	// node is a new instance.
	ID  string `json:"id"`
	Bye bool   `json:"bye,omitempty"`
	// Revived names an instance the sender had taken for dead (silent for
	// HungAfter, or a probe found no listener) and hears again: the other
	// nodes may have removed its part of the state bucket, so it rewrites
	// it.
	Revived string `json:"revived,omitempty"`
}

// errHeartbeat is returned by decodeHeartbeat for a body that is not a
// heartbeat.
var errHeartbeat = errors.New("cluster: malformed heartbeat")

func decodeHeartbeat(b []byte) (heartbeatMsg, error) {
	var h heartbeatMsg
	if err := json.Unmarshal(b, &h); err != nil {
		return h, errors.Join(errHeartbeat, err)
	}
	if node, _, ok := strings.Cut(h.ID, "."); !ok || node != strconv.FormatUint(uint64(h.Node), 10) {
		return h, errHeartbeat
	}
	return h, nil
}

// registry is the other live instances, by id, and when each was last
// heard.
type registry struct {
	mu      sync.Mutex
	node    uint16
	peers   map[string]*peer
	dead    map[string]time.Time // instances taken for dead, and when, for deadMemory
	changed chan struct{}        // closed at the next change of Nodes
}

// deadMemory is how long an instance taken for dead is remembered: one
// heard again within it is told it was (heartbeatMsg.Revived).
const deadMemory = time.Hour

// heartbeatQueue is the capacity of the queue of heartbeats received, and
// the most probes out at once.
const heartbeatQueue = 1024

type peer struct {
	node    uint16
	seen    time.Time
	suspect bool // found silent for DeadAfter, not heard since
	probing bool // a probe is out
}

func (r *registry) init(node uint16) {
	r.node = node
	r.peers = make(map[string]*peer)
	r.dead = make(map[string]time.Time)
	r.changed = make(chan struct{})
}

// notify wakes the watchers of NodesChanged. Called with mu.
func (r *registry) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Nodes returns the numbers of the live nodes, this one included, sorted
// and each once. A node is live from its first heartbeat until it says
// goodbye or is dead: silent for DeadAfter with no listener on its probe
// subject, or silent for HungAfter. Safe for concurrent use.
func (s *State) Nodes() []uint16 {
	r := &s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	nodes := []uint16{r.node}
	for _, p := range r.peers {
		nodes = append(nodes, p.node)
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// NodesChanged returns a channel closed when the live instances next
// change (one joins, dies or leaves); call it again for the change after.
// Part 2's owner election re-hashes channels on it. Safe for concurrent
// use.
func (s *State) NodesChanged() <-chan struct{} {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.reg.changed
}

// peerCount is the number of other live instances: the answers a query
// waits for.
func (s *State) peerCount() int {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return len(s.reg.peers)
}

// onHeartbeat records a heartbeat. A new instance is greeted at once with
// this node's own, sent to it alone, so that it knows of this one before
// the next interval.
func (s *State) onHeartbeat(msg *nats.Msg) {
	h, err := decodeHeartbeat(msg.Data)
	if err != nil {
		s.stats.malformed.Add(1)
		return
	}
	if h.ID == s.id {
		return
	}
	if h.Revived == s.id && !s.revived.Swap(true) { // kvLoop resyncs
		s.log.Warn("cluster: this node was taken for dead: its part of the state is written again", "by", h.ID)
	}
	r := &s.reg
	now := time.Now()
	r.mu.Lock()
	p, known := r.peers[h.ID]
	if h.Bye {
		if known {
			delete(r.peers, h.ID)
			r.notify()
		}
		r.mu.Unlock()
		if known {
			s.log.Info("cluster: node left", "node", h.Node, "instance", h.ID)
		}
		return
	}
	if known {
		silent, suspected := p.heard(now)
		r.mu.Unlock()
		if suspected {
			s.log.Warn("cluster: suspected node heard again", "instance", h.ID, "silent_for", silent)
		}
		return
	}
	r.peers[h.ID] = &peer{node: h.Node, seen: now}
	_, revived := r.dead[h.ID]
	delete(r.dead, h.ID)
	r.notify()
	var twins []string
	if h.Node == r.node {
		twins = append(twins, s.id)
	}
	for id, p := range r.peers {
		if id != h.ID && p.node == h.Node {
			twins = append(twins, id)
		}
	}
	r.mu.Unlock()
	s.log.Info("cluster: node joined", "node", h.Node, "instance", h.ID)
	if len(twins) > 0 {
		// Socket ids and part 2's owners tell nodes apart by number.
		s.log.Error("cluster: TWO NODES WITH THE SAME NUMBER: give each process its own node number; "+
			"socket ids may collide and events may go to the wrong node",
			"node", h.Node, "instance", h.ID, "others", twins)
	}
	greet := heartbeatMsg{Node: s.cfg.Node, ID: s.id}
	if revived {
		s.log.Warn("cluster: node taken for dead heard again", "node", h.Node, "instance", h.ID)
		greet.Revived = h.ID
	}
	s.publishHeartbeat(s.subj.greeting(h.ID), greet)
}

// heard records that the peer was heard at now; it returns for how long
// it had been silent, and whether it was suspected. Called with the
// registry's lock.
func (p *peer) heard(now time.Time) (silent time.Duration, suspected bool) {
	silent, suspected = now.Sub(p.seen), p.suspect
	p.seen, p.suspect = now, false
	return silent, suspected
}

// onProbe answers a liveness probe, on NATS's goroutine for the
// subscription.
func (s *State) onProbe(msg *nats.Msg) {
	if s.hung.Load() {
		return
	}
	_ = msg.Respond(nil) // the prober gave up: nothing to do
}

// heartbeatLoop announces this node every HeartbeatInterval and judges
// the silent instances, except in a round that comes DeadAfter late: this
// node stalled, and the heartbeats it has not read yet are queued. Its
// probes end with it.
func (s *State) heartbeatLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.sendHeartbeat(false)
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.sendHeartbeat(false)
			now := time.Now() // not the tick's time, which a stall leaves behind
			if now.Sub(last) <= s.cfg.DeadAfter {
				s.expire(ctx, now)
			}
			last = now
		}
	}
}

// expire judges the instances not heard since DeadAfter before now: each
// is probed (one probe out at a time, until ctx ends), and dead once
// silent for HungAfter. While the liveness connection is down this node
// is the one cut off, and judges nobody.
func (s *State) expire(ctx context.Context, now time.Time) {
	if !s.lc.IsConnected() {
		return
	}
	r := &s.reg
	var dead, suspects, probes []string
	r.mu.Lock()
	for id, p := range r.peers {
		silent := now.Sub(p.seen)
		switch {
		case silent > s.cfg.HungAfter:
			r.bury(id, now)
			dead = append(dead, id)
		case silent > s.cfg.DeadAfter:
			if !p.suspect {
				p.suspect = true
				suspects = append(suspects, id)
			}
			if !p.probing && len(probes) < heartbeatQueue {
				p.probing = true
				probes = append(probes, id)
			}
		}
	}
	for id, at := range r.dead {
		if now.Sub(at) > deadMemory {
			delete(r.dead, id)
		}
	}
	if len(dead) > 0 {
		r.notify()
	}
	r.mu.Unlock()
	for _, id := range suspects {
		s.stats.suspected.Add(1)
		s.log.Warn("cluster: node suspected: no heartbeat; probing it", "instance", id, "silent_for", s.cfg.DeadAfter)
	}
	for _, id := range dead {
		s.log.Warn("cluster: node dead: no heartbeat, no answer to probes", "instance", id, "silent_for", s.cfg.HungAfter)
	}
	for _, id := range probes {
		s.wg.Add(1)
		go s.probe(ctx, id)
	}
}

// bury takes the instance for dead at now. Called with mu.
func (r *registry) bury(id string, now time.Time) {
	delete(r.peers, id)
	r.dead[id] = now
}

// probe asks a suspected instance whether it lives, at most one heartbeat
// interval: an answer clears it, NATS's "no responders" (nobody listens on
// its subject: its connection is gone) makes it dead, and no answer in
// time (a stall, or a partition NATS has not noticed) leaves it suspected,
// probed again at the next interval.
func (s *State) probe(ctx context.Context, id string) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatInterval)
	defer cancel()
	_, err := s.lc.RequestWithContext(ctx, s.subj.alive(id), nil)
	now := time.Now()
	r := &s.reg
	r.mu.Lock()
	p, ok := r.peers[id]
	if !ok {
		r.mu.Unlock()
		return
	}
	p.probing = false
	var silent time.Duration
	gone := errors.Is(err, nats.ErrNoResponders) && s.lc.IsConnected()
	switch {
	case err == nil:
		silent, _ = p.heard(now)
	case gone:
		r.bury(id, now)
		r.notify()
	}
	r.mu.Unlock()
	switch {
	case err == nil:
		s.stats.probesAnswered.Add(1)
		s.log.Warn("cluster: suspected node answered a probe: alive, only slow", "instance", id, "silent_for", silent)
	case gone:
		s.log.Warn("cluster: node dead: no heartbeat, and its connection to NATS is gone", "instance", id)
	}
}

func (s *State) sendHeartbeat(bye bool) {
	if !bye && (s.silent.Load() || s.hung.Load()) {
		return
	}
	s.publishHeartbeat(s.subj.heartbeat(), heartbeatMsg{Node: s.cfg.Node, ID: s.id, Bye: bye})
}

func (s *State) publishHeartbeat(subject string, h heartbeatMsg) {
	b, _ := json.Marshal(h) // cannot fail
	if err := s.lc.Publish(subject, b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.logDrop("cluster: heartbeat not sent", "error", err)
	}
}
