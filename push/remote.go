package push

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SocketOp is an operation of the Gateway facade or the HTTP API on one
// socket, or on a user's sockets, that a cluster State carries to the node
// holding them: the facade's binds and closes name a socket id, which the
// back end got from its client and may send to any node.
type SocketOp struct {
	App  string       `json:"app"`
	Kind SocketOpKind `json:"kind"`
	// Socket is the socket's id; empty for OpTerminateUser.
	Socket string `json:"socket,omitempty"`
	// Arg is the uid of OpBindUID and OpTerminateUser, the group of
	// OpJoinGroup and OpLeaveGroup.
	Arg string `json:"arg,omitempty"`
}

// SocketOpKind names what a SocketOp does.
type SocketOpKind string

// The operations a node may apply for another.
const (
	OpBindUID       SocketOpKind = "bind_uid"    // Gateway.BindUID
	OpJoinGroup     SocketOpKind = "join_group"  // Gateway.JoinGroup
	OpLeaveGroup    SocketOpKind = "leave_group" // Gateway.LeaveGroup
	OpCloseSocket   SocketOpKind = "close"       // Gateway.CloseSocket
	OpTerminateUser SocketOpKind = "terminate"   // TerminateUserConnections, on every node
)

// RemoteSockets is implemented by a State whose sockets live on several
// nodes. New hands it the function that applies, on this node, the
// operations other nodes forward to it.
type RemoteSockets interface {
	// ForwardSocketOp applies op on the node that holds op.Socket (its
	// id's node, see SocketNode) and returns that node's error; an
	// ErrUnknownSocket when no live node has that number.
	ForwardSocketOp(op SocketOp) error
	// BroadcastSocketOp applies op on every other live node and returns
	// the sum of their counts (connections closed, for OpTerminateUser).
	BroadcastSocketOp(op SocketOp) (int, error)
	// HandleSocketOps sets the function that applies an operation another
	// node forwarded; it returns a count (OpTerminateUser) and an error
	// that SocketOpError and ParseSocketOpError carry back.
	HandleSocketOps(apply func(SocketOp) (int, error))
}

// SocketNode returns the node number in a socket id ("17.0483920571":
// node 0; "3.7123456789" node 7, see Config.Node), and false for an id
// not of that form.
func SocketNode(id string) (uint16, bool) {
	_, tail, ok := strings.Cut(id, ".")
	if !ok || len(tail) < 10 || strings.ContainsFunc(tail, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.ParseUint(tail[:len(tail)-9], 10, 16)
	if err != nil {
		return 0, false
	}
	return uint16(n), true
}

// applySocketOp applies an operation another node forwarded to this one,
// to this node's sockets only.
func (s *Server) applySocketOp(op SocketOp) (int, error) {
	if op.Kind == OpTerminateUser {
		return s.terminateLocal(op.App, op.Arg)
	}
	g, err := s.Gateway(op.App)
	if err != nil {
		return 0, err
	}
	sock, err := g.localSocket(op.Socket)
	if err != nil {
		return 0, err
	}
	switch op.Kind {
	case OpBindUID:
		err = g.bindUID(sock, op.Arg)
	case OpJoinGroup:
		err = g.joinGroup(sock, op.Arg)
	case OpLeaveGroup:
		s.unsubscribe(sock, op.Arg)
	case OpCloseSocket:
		g.closeSocket(sock)
	default:
		err = fmt.Errorf("push: unknown socket operation %q", op.Kind)
	}
	return 0, err
}

// Kinds of errors a forwarded operation carries back, for the HTTP API's
// status (statusOf).
var socketOpErrors = []struct {
	code string
	err  error
}{
	{"unknown_app", ErrUnknownApp},
	{"unknown_socket", ErrUnknownSocket},
	{"presence_full", ErrPresenceFull},
	{"limit", ErrLimit},
	{"not_presence", ErrNotPresence},
	{"invalid_channel", ErrInvalidChannel},
}

// SocketOpError returns the code and text that carry err to the node that
// forwarded the operation ("" for nil).
func SocketOpError(err error) (code, msg string) {
	if err == nil {
		return "", ""
	}
	for _, e := range socketOpErrors {
		if errors.Is(err, e.err) {
			return e.code, err.Error()
		}
	}
	return "other", err.Error()
}

// ParseSocketOpError turns what SocketOpError made back into an error that
// matches the same sentinel with errors.Is (nil for an empty code).
func ParseSocketOpError(code, msg string) error {
	if code == "" {
		return nil
	}
	for _, e := range socketOpErrors {
		if e.code == code {
			if strings.HasPrefix(msg, e.err.Error()) {
				return fmt.Errorf("%w%s", e.err, strings.TrimPrefix(msg, e.err.Error()))
			}
			return fmt.Errorf("%w: %s", e.err, msg)
		}
	}
	return errors.New(msg)
}
