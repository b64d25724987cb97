package push

import (
	"fmt"
	"slices"
)

// Gateway is Workerman GatewayWorker's API over one app, for code that
// thinks in client_id (socket id), uid (user id) and group (channel):
//
//	GatewayWorker                      push
//	Gateway::bindUid($client, $uid)    g.BindUID(socketID, uid)
//	Gateway::joinGroup($client, $g)    g.JoinGroup(socketID, group)
//	Gateway::leaveGroup($client, $g)   g.LeaveGroup(socketID, group)
//	Gateway::sendToUid($uid, $msg)     g.SendToUID(uid, event, data)
//	Gateway::sendToGroup($g, $msg, $x) g.SendToGroup(group, event, data, except...)
//	Gateway::sendToAll($msg, null, $x) g.SendToAll(event, data, except...)
//	Gateway::isUidOnline($uid)         g.IsUIDOnline(uid)
//	Gateway::getClientIdByUid($uid)    g.UIDSocketIDs(uid)
//	Gateway::getClientCountByGroup($g) g.GroupCount(group)
//	Gateway::getAllClientCount()       g.TotalCount()
//	Gateway::getUidListByGroup($g)     g.GroupUIDs(group)
//	Gateway::closeClient($client)      g.CloseSocket(socketID)
//
// A uid is a Pusher user id: BindUID signs the connection in as that user
// (without a signature: the server trusts its back end), so SendToUID is
// SendToUser. A group is a channel the server joins the connection to; its
// events arrive as any channel's. Methods may be called from any goroutine.
type Gateway struct {
	s   *Server
	app *App
}

// Gateway returns the facade of one app.
func (s *Server) Gateway(appID string) (*Gateway, error) {
	app, err := s.app(appID)
	if err != nil {
		return nil, err
	}
	return &Gateway{s: s, app: app}, nil
}

// onSocket applies op to its socket: with local when this node holds it,
// else on the node that does, through a State that spans nodes
// (RemoteSockets): a back end may send a socket id to any node.
func (g *Gateway) onSocket(op SocketOp, local func(*Socket) error) error {
	sock, err := g.localSocket(op.Socket)
	if err == nil {
		return local(sock)
	}
	if r, ok := g.s.state.(RemoteSockets); ok && g.s.state.Socket(op.Socket) == nil {
		if node, ok := SocketNode(op.Socket); ok && node != g.s.node {
			op.App = g.app.ID
			return r.ForwardSocketOp(op)
		}
	}
	return err
}

// localSocket returns the app's socket with that id on this node.
func (g *Gateway) localSocket(id string) (*Socket, error) {
	sock := g.s.state.Socket(id)
	if sock == nil || sock.app != g.app {
		return nil, fmt.Errorf("%w %q", ErrUnknownSocket, id)
	}
	return sock, nil
}

// BindUID signs the connection in as uid, as a pusher:signin would.
func (g *Gateway) BindUID(socketID, uid string) error {
	return g.onSocket(SocketOp{Kind: OpBindUID, Socket: socketID, Arg: uid}, func(sock *Socket) error {
		return g.bindUID(sock, uid)
	})
}

func (g *Gateway) bindUID(sock *Socket, uid string) error {
	if uid == "" || len(uid) > g.app.Limits.MaxUserID {
		return fmt.Errorf("%w: bad uid", ErrLimit)
	}
	return g.s.signIn(sock, &user{id: uid}, nil, false)
}

// JoinGroup subscribes the connection to the channel group, without
// authorization: the caller is the app's back end.
func (g *Gateway) JoinGroup(socketID, group string) error {
	return g.onSocket(SocketOp{Kind: OpJoinGroup, Socket: socketID, Arg: group}, func(sock *Socket) error {
		return g.joinGroup(sock, group)
	})
}

func (g *Gateway) joinGroup(sock *Socket, group string) error {
	if err := validChannel(group, g.app.Limits.MaxChannelName); err != nil {
		return err
	}
	var m *Member
	if k, _ := channelKind(group); k == kindPresence {
		uid := sock.UserID()
		if uid == "" {
			return fmt.Errorf("%w: a presence group needs BindUID first", ErrNotPresence)
		}
		m = &Member{UserID: uid}
	}
	return g.s.join(sock, group, m, false)
}

// LeaveGroup unsubscribes the connection from the channel group.
func (g *Gateway) LeaveGroup(socketID, group string) error {
	return g.onSocket(SocketOp{Kind: OpLeaveGroup, Socket: socketID, Arg: group}, func(sock *Socket) error {
		g.s.unsubscribe(sock, group)
		return nil
	})
}

// SendToUID sends the event to every connection of uid.
func (g *Gateway) SendToUID(uid, event, data string) error {
	return g.SendToUIDs([]string{uid}, event, data)
}

// SendToUIDs sends the event to every connection of each uid.
func (g *Gateway) SendToUIDs(uids []string, event, data string) error {
	for _, uid := range uids {
		if err := checkUserEvent(g.app, uid, event, data); err != nil {
			return err
		}
	}
	for _, uid := range uids {
		g.s.publish(g.app, prefixUser+uid, event, data, "")
	}
	return nil
}

// SendToGroup sends the event to the group's connections except those
// named.
func (g *Gateway) SendToGroup(group, event, data string, except ...string) error {
	return g.SendToGroups([]string{group}, event, data, except...)
}

// SendToGroups sends the event to each group's connections except those
// named; a connection in several groups gets it once per group, as with
// GatewayWorker.
func (g *Gateway) SendToGroups(groups []string, event, data string, except ...string) error {
	if err := checkTrigger(g.app, groups, event, data); err != nil {
		return err
	}
	for _, group := range groups {
		m := g.s.message(g.app, wireFrame{Event: event, Channel: group, Data: Data(data)})
		g.s.state.Publish(g.app.ID, group, m, except)
	}
	return nil
}

// SendToAll sends the event, on no channel, to every connection of the app
// except those named.
func (g *Gateway) SendToAll(event, data string, except ...string) error {
	if err := checkTrigger(g.app, []string{"all"}, event, data); err != nil {
		return err
	}
	g.s.state.PublishAll(g.app.ID, g.s.message(g.app, wireFrame{Event: event, Data: Data(data)}), except)
	return nil
}

// IsUIDOnline says whether uid has a connection.
func (g *Gateway) IsUIDOnline(uid string) bool { return g.s.state.UserOnline(g.app.ID, uid) }

// UIDSocketIDs returns the socket ids of uid's connections.
func (g *Gateway) UIDSocketIDs(uid string) []string {
	ids, _ := g.s.state.UserSockets(g.app.ID, uid)
	slices.Sort(ids)
	return ids
}

// GroupCount returns the number of connections in the group.
func (g *Gateway) GroupCount(group string) int {
	return g.s.state.Channel(g.app.ID, group).SubscriptionCount
}

// TotalCount returns the number of the app's connections.
func (g *Gateway) TotalCount() int { return g.s.state.Connections(g.app.ID) }

// GroupUIDs returns the distinct uids of the group's connections, sorted.
func (g *Gateway) GroupUIDs(group string) []string { return g.s.state.SubscriberUsers(g.app.ID, group) }

// CloseSocket closes the connection with 4009, which tells Pusher clients
// not to reconnect.
func (g *Gateway) CloseSocket(socketID string) error {
	return g.onSocket(SocketOp{Kind: OpCloseSocket, Socket: socketID}, func(sock *Socket) error {
		g.closeSocket(sock)
		return nil
	})
}

func (g *Gateway) closeSocket(sock *Socket) {
	refuse(sock.conn, CodeUnauthorized, "connection closed by the server")
}
