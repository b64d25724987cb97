package cluster

import (
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
	// DeadAfter) and hears again: the other nodes may have removed its
	// part of the state bucket, so it rewrites it.
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
	peers   map[string]peer
	dead    map[string]time.Time // instances taken for dead, and when, for deadMemory
	changed chan struct{}        // closed at the next change of Nodes
}

// deadMemory is how long an instance taken for dead is remembered: one
// heard again within it is told it was (heartbeatMsg.Revived).
const deadMemory = time.Hour

type peer struct {
	node uint16
	seen time.Time
}

func (r *registry) init(node uint16) {
	r.node = node
	r.peers = make(map[string]peer)
	r.dead = make(map[string]time.Time)
	r.changed = make(chan struct{})
}

// notify wakes the watchers of NodesChanged. Called with mu.
func (r *registry) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Nodes returns the numbers of the live nodes, this one included, sorted
// and each once. A node is live from its first heartbeat until it has been
// silent for DeadAfter or said goodbye. Safe for concurrent use.
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

// onHeartbeat records a heartbeat. A new instance is answered at once with
// this node's own, so that it knows of this one before the next interval.
func (s *State) onHeartbeat(msg *nats.Msg) {
	h, err := decodeHeartbeat(msg.Data)
	if err != nil {
		s.stats.malformed.Add(1)
		return
	}
	if h.ID == s.id {
		return
	}
	if h.Revived == s.id && s.dirty.CompareAndSwap(false, true) { // kvLoop resyncs
		s.log.Warn("cluster: this node was taken for dead: its part of the state is written again", "by", h.ID)
	}
	r := &s.reg
	r.mu.Lock()
	_, known := r.peers[h.ID]
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
	r.peers[h.ID] = peer{node: h.Node, seen: time.Now()}
	var twins []string
	_, revived := r.dead[h.ID]
	delete(r.dead, h.ID)
	if !known {
		r.notify()
		if h.Node == r.node {
			twins = append(twins, s.id)
		}
		for id, p := range r.peers {
			if id != h.ID && p.node == h.Node {
				twins = append(twins, id)
			}
		}
	}
	r.mu.Unlock()
	if known {
		return
	}
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
	s.publishHeartbeat(greet)
}

// heartbeatLoop announces this node every HeartbeatInterval and forgets
// the instances silent for DeadAfter.
func (s *State) heartbeatLoop() {
	defer s.wg.Done()
	s.sendHeartbeat(false)
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.sendHeartbeat(false)
			s.expire(now)
		}
	}
}

// expire forgets the instances not heard since DeadAfter before now.
func (s *State) expire(now time.Time) {
	r := &s.reg
	var dead []string
	r.mu.Lock()
	for id, p := range r.peers {
		if now.Sub(p.seen) > s.cfg.DeadAfter {
			delete(r.peers, id)
			r.dead[id] = now
			dead = append(dead, id)
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
	for _, id := range dead {
		s.log.Warn("cluster: node dead: no heartbeat", "instance", id, "silent_for", s.cfg.DeadAfter)
	}
}

func (s *State) sendHeartbeat(bye bool) {
	s.publishHeartbeat(heartbeatMsg{Node: s.cfg.Node, ID: s.id, Bye: bye})
}

func (s *State) publishHeartbeat(h heartbeatMsg) {
	b, _ := json.Marshal(h) // cannot fail
	if err := s.nc.Publish(s.subj.heartbeat(), b); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.logDrop("cluster: heartbeat not sent", "error", err)
	}
}
