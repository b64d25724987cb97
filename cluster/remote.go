package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/push"
)

// Operations on sockets of other nodes (push.RemoteSockets): the Gateway
// facade's binds and closes name a socket id that a back end may send to
// any node, and terminate_connections closes a user's sockets wherever
// they are. A node answers the operations on its subject,
// {prefix}.node.{n}, as NATS requests: the request is a push.SocketOp in
// JSON, the reply an opReply.

// opReply is a node's answer to a socket operation.
type opReply struct {
	N    int    `json:"n,omitempty"`    // connections closed (push.OpTerminateUser)
	Code string `json:"code,omitempty"` // push.SocketOpError's code; empty: done
	Err  string `json:"err,omitempty"`
}

var _ push.RemoteSockets = (*State)(nil)

// HandleSocketOps implements push.RemoteSockets.
func (s *State) HandleSocketOps(apply func(push.SocketOp) (int, error)) {
	s.applyOp.Store(&apply)
}

// errNoApplier answers operations that arrive before push.New set the
// function that applies them.
var errNoApplier = errors.New("cluster: this node does not apply socket operations yet")

// onSocketOp applies an operation another node forwarded, on NATS's
// goroutine for this subscription (one at a time), and answers it.
func (s *State) onSocketOp(m *nats.Msg) {
	var r opReply
	op, err := decodeSocketOp(m.Data)
	switch apply := s.applyOp.Load(); {
	case err != nil:
		s.stats.malformed.Add(1)
		r.Code, r.Err = push.SocketOpError(errors.New("cluster: malformed socket operation"))
	case apply == nil:
		r.Code, r.Err = push.SocketOpError(errNoApplier)
	default:
		n, err := (*apply)(op)
		r.N = n
		r.Code, r.Err = push.SocketOpError(err)
	}
	b, _ := json.Marshal(r)
	_ = m.Respond(b) // the asker has timed out, or is gone: nothing to do
}

// ForwardSocketOp implements push.RemoteSockets: it asks the node of the
// socket's id, and waits for its answer at most QueryTimeout.
func (s *State) ForwardSocketOp(op push.SocketOp) error {
	node, ok := push.SocketNode(op.Socket)
	if !ok || !slices.Contains(s.Nodes(), node) {
		return fmt.Errorf("%w %q", push.ErrUnknownSocket, op.Socket)
	}
	_, err := s.askNode(node, op)
	return err
}

// BroadcastSocketOp implements push.RemoteSockets: it asks every other
// live node at once and sums their counts; the error is the first node's
// that failed.
func (s *State) BroadcastSocketOp(op push.SocketOp) (int, error) {
	var (
		mu    sync.Mutex
		total int
		first error
		wg    sync.WaitGroup
	)
	for _, node := range s.Nodes() {
		if node == s.cfg.Node {
			continue
		}
		wg.Go(func() {
			n, err := s.askNode(node, op)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return total, first
}

// askNode sends op to node and returns its answer.
func (s *State) askNode(node uint16, op push.SocketOp) (int, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return 0, err
	}
	m, err := s.nc.Request(s.subj.node(node), b, s.cfg.QueryTimeout)
	if err != nil {
		s.stats.queryTimeouts.Add(1)
		return 0, fmt.Errorf("cluster: node %d did not answer %s: %w", node, op.Kind, err)
	}
	r, err := decodeOpReply(m.Data)
	if err != nil {
		s.stats.malformed.Add(1)
		return 0, fmt.Errorf("cluster: node %d answered %s with %q", node, op.Kind, m.Data)
	}
	return r.N, push.ParseSocketOpError(r.Code, r.Err)
}

// decodeSocketOp decodes a forwarded operation.
func decodeSocketOp(b []byte) (push.SocketOp, error) {
	var op push.SocketOp
	err := json.Unmarshal(b, &op)
	return op, err
}

// decodeOpReply decodes a node's answer to an operation.
func decodeOpReply(b []byte) (opReply, error) {
	var r opReply
	err := json.Unmarshal(b, &r)
	return r, err
}
