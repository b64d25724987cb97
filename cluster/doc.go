// Package cluster is a push.State over NATS, for push servers on several
// processes or machines: [State] delivers each event to the other nodes'
// subscribers, keeps a registry of the live nodes and answers the
// cluster-wide queries by asking them.
//
// # Subjects
//
// Every subject starts with Config.Prefix ("wssd"). App ids and channel
// names are one token each, base64url without padding: that alphabet has
// no '.', '*', '>' nor space, so no name escapes its token or matches
// another's, and the encoding is its own inverse with one spelling.
//
//	wssd.hb                 heartbeats, JSON {"node":7,"id":"7.<start id>"}
//	wssd.ch.{app}.{channel} a channel's events
//	wssd.all.{app}          PublishAll
//	wssd.cache.{app}        cache channels' events (Wssd-Channel names the channel)
//	wssd.q.{app}            queries, answered on the asker's inbox
//
// An event's body is its encoded frame, sent as it is to the sockets;
// headers carry the publishing instance (Wssd-Origin) and the socket ids it
// must not reach (Wssd-Except, one value each).
//
// # Delivery
//
// A node subscribes to a channel's subject while it has subscribers there:
// from its first local subscriber (LocalState's Change.Occupied, seen under
// the channel's lock) to its last (Change.Vacated). Publish delivers to the
// local subscribers directly and queues the frame once for NATS; a node
// receiving it delivers to its own subscribers, except the ids named. The
// node's own events come back only if the connection echoes them (use
// nats.NoEcho); they are recognised by their origin and dropped, so no
// socket gets an event twice. Every subscription feeds one of a few shared
// queues (nats.Conn.ChanSubscribe, no goroutine per channel), chosen by the
// subject, so one dispatcher delivers a channel's events in order. The
// outgoing queue and the dispatchers' are bounded: when one is full the
// event is dropped and counted ([Stats]), and no event loop ever waits for
// NATS.
//
// Cache channels are the exception: their events go to every node on the
// app's cache subject, and each node keeps the last (LocalState.PublishLast)
// whether or not it has subscribers. A node's first socket joining a cache
// channel is then answered from memory, inside Subscribe, which runs on an
// event loop: asking the other nodes there would hold the loop for a round
// trip, or for the query timeout when a node has just died. The price is
// that cache channels' events reach every node. A node that starts asks the
// others for their cache once it has heard them (a query of kind "cache",
// one NATS message per node and app) and keeps each event it has no newer
// one of; until then (HeartbeatInterval and a round trip) its sockets get
// pusher:cache_miss, and then the event as it arrives.
//
// # Registry
//
// Each node publishes a heartbeat every HeartbeatInterval, with its number
// and an instance id drawn at start; an instance not heard for DeadAfter is
// dead, and one that closes says goodbye. A new instance is greeted at once
// with a heartbeat back. Two live instances with one node number are
// logged as an error. [State.Nodes] lists the live node numbers and
// [State.NodesChanged] tells when they change.
//
// # Queries
//
// Connections, Channel, Channels, Members, SubscriberUsers, UserOnline and
// UserSockets send a JSON request to the app's query subject with a reply
// subject in the node's inbox; every other node answers from its
// LocalState, and the asker merges its own answer with theirs: counts are
// summed, a presence channel's users counted once across nodes (the
// answers carry member ids), members and users deduplicated, a channel
// occupied if it is anywhere. The asker waits for as many answers as there
// are other live instances, or QueryTimeout; a query that ran out of time
// is logged, counted (Stats.QueryTimeouts) and answered from what arrived.
//
// # Not yet
//
// The transitions (channel occupied and vacated, member added and removed,
// user online and offline) are still decided per node, by LocalState: see
// the method decide, where the owner-based decision is to go.
package cluster
