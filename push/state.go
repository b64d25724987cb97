package push

import (
	"encoding/json"
	"errors"
)

// State holds everything that spans connections: channel subscriptions and
// their counts, presence members, signed-in users and their sockets,
// watchlists, the last event of cache channels, and so the transitions a
// webhook reports (channel occupied and vacated, member added and removed).
// The protocol code reads and changes that state through State alone, so
// that a cluster implementation (NATS) can replace the single-process one,
// [NewLocalState], without touching it.
//
// # Contract
//
// Methods are called concurrently, from event loops and from Go API
// callers: they must be safe for that and must not block on the network
// while holding a lock a caller of another method needs. Sockets passed in
// are this node's own.
//
// Exactly once cluster-wide: Change.Occupied and Change.Vacated are true for
// exactly one of the Subscribe and Unsubscribe calls that make a channel's
// subscriber count leave and reach zero, across all nodes;
// Change.MemberAdded and Change.MemberRemoved likewise for a presence
// user's first and last socket in the channel (so a second tab adds no
// member); SignIn's online and SignOut's offline likewise for a user's
// first and last signed-in socket. The protocol code sends the
// member_added/member_removed and watchlist events and reports the webhook
// events only for those true results, which is what makes them happen once.
//
// Delivery: Publish and PublishAll deliver a Message to the subscribers of
// a channel (every socket of an app) on every node, except the sockets
// named, each at most once, and framed only once. A cluster implementation
// embeds a LocalState for this node's own sockets, which the Server binds
// to its engine (Server.Bind), sends Message.Frame to the other nodes, and
// turns the frames they send into Messages with NewMessage. Messages
// published from one goroutine to one channel arrive in the order
// published.
//
// Order of a channel's changes: Subscribe and Unsubscribe call their
// callback with the Transition while no other change of the channel can
// happen, so callbacks see a channel's changes one at a time, in order
// (cluster-wide in a cluster). What the callback sends with
// Transition.Publish reaches each subscriber in that order too: a watcher
// never sees a member_removed overtake the member_added before it, and
// webhooks are reported in the order the transitions happened. The
// callback of a Subscribe also runs before any message published after
// the Subscribe returns can reach the socket, so the members it is given
// and the member events the socket receives afterwards agree. Callbacks
// must not block, nor call State methods on the same channel.
type State interface {
	// Connect registers a socket opened on this node; Disconnect forgets it.
	// The protocol code unsubscribes and signs out a socket before
	// Disconnect.
	Connect(s *Socket)
	Disconnect(s *Socket)
	// Socket returns this node's socket with that id, or nil.
	Socket(id string) *Socket
	// Sockets returns this node's sockets.
	Sockets() []*Socket
	// Connections returns the number of an app's sockets, cluster-wide.
	Connections(app string) int

	// Subscribe adds s to the channel, as member m on a presence channel
	// (nil otherwise). It fails with ErrPresenceFull when m would be one
	// member too many (limits are s's app's). f, if not nil, is called with
	// the transition as described above.
	Subscribe(s *Socket, channel string, m *Member, f func(*Transition)) (Change, error)
	// Unsubscribe removes s from the channel; ok is false when s was not in
	// it, and then f is not called.
	Unsubscribe(s *Socket, channel string, f func(*Transition)) (c Change, ok bool)

	// Publish delivers m to the channel's subscribers except those whose
	// socket id is in except.
	Publish(app, channel string, m *Message, except []string)
	// PublishAll delivers m to every socket of the app except those in except.
	PublishAll(app string, m *Message, except []string)

	// Channel describes one channel, cluster-wide.
	Channel(app, channel string) ChannelInfo
	// Channels describes the occupied channels whose names start with
	// prefix (all with ""), internal ones excepted, cluster-wide.
	Channels(app, prefix string) map[string]ChannelInfo
	// Members returns a presence channel's members, cluster-wide.
	Members(app, channel string) []Member
	// SubscriberUsers returns the distinct user ids signed in on the
	// channel's subscribers, cluster-wide.
	SubscriberUsers(app, channel string) []string

	// SignIn records that s is signed in as user; online is true when it
	// is the user's first socket, and then f, if not nil, is called while
	// the user's sockets cannot change, so that what it publishes is
	// ordered with the user's other comings and goings. SignOut undoes it;
	// offline is true, and f called likewise, when it was the user's last
	// socket.
	SignIn(s *Socket, user string, f func()) (online bool)
	SignOut(s *Socket, user string, f func()) (offline bool)
	// UserOnline says whether the user has a signed-in socket, cluster-wide.
	UserOnline(app, user string) bool
	// UserSockets returns the ids of the user's sockets, cluster-wide, and
	// this node's sockets among them.
	UserSockets(app, user string) (ids []string, local []*Socket)

	// PublishLast is Publish on a cache channel: it also keeps m as the
	// channel's last event (for the app's CacheTTL), atomically with the
	// delivery, so that a socket subscribing meanwhile gets m either
	// replayed by Last or delivered, never both, never neither.
	PublishLast(app, channel string, m *Message, except []string)
	// Last returns the cache channel's last event, if it has one that has
	// not expired.
	Last(app, channel string) (*Message, bool)
}

// ErrPresenceFull is returned by Subscribe when a presence channel has its
// app's MaxPresenceMembers users and another one would join.
var ErrPresenceFull = errors.New("push: presence channel is full")

// Member is a user in a presence channel: the user_id and user_info of its
// channel_data.
type Member struct {
	UserID string
	// Info is the user_info JSON as the client sent it; nil when absent.
	Info json.RawMessage
}

// ChannelInfo describes a channel.
type ChannelInfo struct {
	Occupied bool
	// SubscriptionCount counts the connections subscribed.
	SubscriptionCount int
	// UserCount counts the distinct users of a presence channel (0 for
	// other channels).
	UserCount int
}

// Change is what a Subscribe or Unsubscribe did to a channel.
type Change struct {
	// Occupied: the channel had no subscriber before (Subscribe).
	Occupied bool
	// Vacated: the channel has no subscriber left (Unsubscribe).
	Vacated bool
	// MemberAdded: the presence member had no other socket in the channel.
	MemberAdded bool
	// MemberRemoved: that was the presence member's last socket in it.
	MemberRemoved bool
	// Member is the presence member added, removed or refreshed.
	Member Member
	// Count is the channel's subscription count after the change.
	Count int
}

// Transition is a change of a channel as the callbacks of Subscribe and
// Unsubscribe see it, while the channel cannot change further.
type Transition struct {
	Change
	// Members are a presence channel's members after a Subscribe.
	Members []Member
	// Publish delivers m to the channel's subscribers as they are after
	// the change, except those in except, ordered with the channel's
	// changes (see State). Valid only during the callback.
	Publish func(m *Message, except []string)
}

// Transitions are what the protocol code does on a transition that a State
// decided with no socket of this node taking part: a cluster State that
// removes a dead node's members, or puts this node's back after a
// partition. New hands them to a State that implements TransitionSetter.
type Transitions struct {
	// Channel acts on a change of the app's channel as Subscribe's and
	// Unsubscribe's callbacks do: member_added and member_removed are
	// published with tr.Publish (to every subscriber: no socket joined
	// here), and the webhook events reported. It must be called while the
	// channel cannot change on this node, and is safe for concurrent use
	// on different channels.
	Channel func(app *App, channel string, tr *Transition)
	// User tells the user's watchers, on every node, that it went online
	// or offline, as SignIn's and SignOut's callbacks do.
	User func(app *App, user string, online bool)
}

// TransitionSetter is implemented by a State that decides transitions
// without a socket of this node (cluster.State): New calls
// SetTransitions once, before the Server takes connections.
type TransitionSetter interface {
	SetTransitions(Transitions)
}
