// Package cluster is a push.State over NATS, for push servers on several
// processes or machines: [State] delivers each event to the other nodes'
// subscribers, keeps a registry of the live nodes, answers the
// cluster-wide queries by asking them, and decides the transitions
// (occupied, vacated, member added and removed, online, offline) once
// cluster-wide through a JetStream key-value bucket.
//
// # Subjects
//
// Every subject starts with Config.Prefix ("wssd"). App ids and channel
// names are one token each, base64url without padding: that alphabet has
// no '.', '*', '>' nor space, so no name escapes its token or matches
// another's, and the encoding is its own inverse with one spelling.
//
//	wssd.hb                 heartbeats, JSON {"node":7,"id":"7.<start id>"}
//	wssd.hb.{instance}      a greeting: a heartbeat to one new instance
//	wssd.alive.{instance}   liveness probes, answered empty
//	wssd.ch.{app}.{channel} a channel's events
//	wssd.all.{app}          PublishAll
//	wssd.cache.{app}        cache channels' events (Wssd-Channel names the channel)
//	wssd.q.{app}            queries, answered on the asker's inbox
//	wssd.wh.{app}           webhook events, in a JetStream stream (see Webhooks)
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
// one NATS message per node and app, whose answers it waits for up to
// DeadAfter: no event loop waits for them) and keeps each event it has no
// newer one of; until then (HeartbeatInterval and a round trip) its sockets get
// pusher:cache_miss, and then the event as it arrives.
//
// # Registry
//
// Each node publishes a heartbeat every HeartbeatInterval, with its number
// and an instance id drawn at start, and one that closes says goodbye. A
// new instance is greeted at once with a heartbeat back, on its own
// subject: when many nodes come back at once (a NATS restart) the greetings
// do not fill every node's heartbeat queue. The heartbeats and probes
// travel on Config.Liveness, a connection of their own, so that they never
// queue behind events in NATS's buffers or this process's.
//
// An instance not heard for DeadAfter is suspected, not dead: a process
// starved of CPU for seconds (an overloaded machine) or whose heartbeats
// were dropped is still serving its sockets, and taking it for dead would
// remove its members and vacate its channels under clients that are still
// there. Each HeartbeatInterval it is probed by a request on its alive
// subject: an answer clears it; "no responders" from NATS means no
// connection listens there any more (the process died, or was cut off and
// the server noticed) and it is dead at once; no answer in time leaves it
// suspected. Silent for HungAfter it is dead all the same (hung, or cut
// off in a way NATS has not noticed: its ghost members last that long at
// most). A node judges nobody while its liveness connection is down, nor
// in a round that comes DeadAfter late (it was the one stalled). Two live
// instances with one node number are logged as an error. [State.Nodes]
// lists the live node numbers, suspected ones included, and
// [State.NodesChanged] tells when they change; Stats counts the suspicions
// and the probes answered.
//
// # Queries
//
// Members reads the channel's key in the state bucket (see Transitions),
// and UserOnline the user's key (true at once, with no I/O, when the user
// has a socket on this node; otherwise whether the key lists another live
// node); UserSockets asks the other nodes only when the user's key lists
// one. Each asks as below only without the bucket (not bound, not
// answering, or the read failed or ran out of KVTimeout). The reads run
// on a goroutine of their own, at most 64 at a time: a NATS connection
// that cannot write blocks every call on it. Connections, Channel,
// Channels, SubscriberUsers, and those without the bucket, send a JSON
// request to the app's query subject with a reply subject in the node's
// inbox; every other node answers from its LocalState, and the asker merges its own answer with theirs: counts are
// summed, a presence channel's users counted once across nodes (the
// answers carry member ids), members and users deduplicated, a channel
// occupied if it is anywhere. The asker waits for as many answers as there
// are other live instances, or QueryTimeout; a query that ran out of time
// is logged, counted (Stats.QueryTimeouts) and answered from what arrived.
//
// # Transitions
//
// Channel occupied and vacated, member added and removed, and user online
// and offline happen once cluster-wide, decided by a JetStream key-value
// bucket (named from Config.Prefix: "wssd_state"; history 1, file storage,
// Config.KVReplicas) that every node writes with compare-and-set:
//
//	c.{app}.{channel} {"nodes":[1,3],"members":{"u1":{"info":{...},"nodes":[1,3]}}}
//	u.{app}.{user}    {"nodes":[2]}
//
// (tokens as in the subjects; the nodes with subscribers in the channel,
// a presence channel's members with their user_info and the nodes where
// they have sockets there, the nodes where a user is signed in; a key with
// nothing left is deleted). A node touches its keys only on a local
// transition, one its LocalState sees: its first or last subscriber of a
// channel, a user's first or last socket in a presence channel here, a
// user's first or last signed-in socket here. It then reads the key,
// changes its own part and writes it back expecting the revision it read,
// again on a conflict; the cluster's transition is what the winning write
// changed (Occupied: the channel's nodes went from none to some;
// MemberAdded: the user's nodes went from none to some; and so on), and
// only that write's node reports it. The presence member limit is checked
// against the key in the same write, and a subscription_succeeded lists
// the members the key holds after it.
//
// That happens under a lock of the channel (or user) on this node (one of
// 1,024 striped locks), never under LocalState's locks: for a Subscribe,
// the bucket is written first and LocalState's callback then runs with the
// cluster's flags and members; for an Unsubscribe or SignOut, LocalState
// changes first and the callback runs after the write. The caller, an
// event loop for a client's subscription, waits for one read and one write
// (0.11 to 0.17 ms on loopback with the embedded server, against 3 µs
// without the bucket: BenchmarkTransition); other subscriptions do not
// touch the bucket, except that a presence subscription reads the key for
// its members (about 0.04 ms), as Members does. At most KVTimeout (500 ms): past it,
// or without JetStream, the node decides alone as LocalState did (the
// transition may be reported once per node), logs it at most once a
// second and counts it in [Stats] Degraded. While NATS is disconnected,
// and after a timeout until the bucket answers again, it decides at once,
// so an outage costs an event loop one KVTimeout, not one per transition.
// The node remembers its part of each key as such a decision reported it
// (at most 65,536 keys): until a resync writes that part, the key's
// transitions on this node are decided alone too (and counted so), reads
// of the key see that part, and the resync reports only what differs from
// it, so a degraded sign-out is not reported offline a second time by the
// resync (nor a member_removed, channel_vacated, or their counterparts).
//
// A node's first subscriber of a channel also gets the channel's NATS
// subscription sent before the bucket write on the same connection, so
// NATS has it when the write is answered and subscription_succeeded goes
// out: an event published right after reaches the new subscriber (with a
// NATS cluster, the interest still takes the route to the other servers).
// Internal channels (server-to-user, watchlists) are not in the bucket.
// A #server-to-user channel's first subscriber's NATS subscription is sent
// and flushed (one round trip, at most KVTimeout) before LocalState's
// callback, so that a sendToUser right after pusher:signin_success reaches
// the new socket. A watchlist channel's is sent but not waited for (a
// watchlist may name a hundred users): the sign-in's report of who is
// online asks after it, on the same connection, so a watched user going
// online meanwhile is either in that answer or its event arrives.
//
// When a node dies (see Registry) or says goodbye, the
// lowest-numbered live node removes it from every key that lists it (a
// walk over all keys) and has the push.Server act on what that changes
// through push.Transitions: member_removed to the subscribers left on
// every node, webhooks, watchlist offline; the compare-and-set makes each
// happen once even if two nodes both scrub. A node does not judge others
// dead while it is itself cut off from NATS. To leave no ghost members
// after a partition, a node rewrites its own part of keys from its
// LocalState (removing itself where it has nothing left, putting back what
// another node removed, and reporting what that changes), as much as the
// cause needs: after a degraded decision, the keys so decided; when it
// reconnects to NATS, or a node that had taken it for dead (a stall longer
// than HungAfter, or a probe that found its connection gone) hears it
// again and says so in its next heartbeat, also every channel and user it
// has; when it starts, also every key of the bucket, where a previous
// instance may have left its part. A resync that fails (the bucket
// overloaded) is tried again after 1 s, then twice as long each time up to
// 30 s ([Stats] Resyncs and ResyncKeys count them and what they read).
// The transitions' webhooks are reported by the node whose
// write decided them, to its push.Hook: [Webhooks] makes them survive it.
//
// # Webhooks
//
// [Webhooks] is the push.Hook of a node in a cluster. It publishes each
// webhook event, from one goroutine in the order reported, to a JetStream
// work-queue stream ("wssd_webhooks", file storage, Replicas, events kept
// 24 h at most, a 2-minute duplicate window), on the subject
// {prefix}.wh.{app}, with an id in Nats-Msg-Id, and waits for the stream's
// acknowledgement (at most Timeout, 2 s). Every node pulls from one durable
// consumer of it ("deliver": explicit acks, AckWait 30 s, at most 10,000
// events pending cluster-wide, unlimited redeliveries) and hands each event
// to its local push.WebhookSender (push.WebhookSender.Send), which batches,
// signs and retries it as in a single process; the event is acked when the
// target answered 2xx, or when the sender gave up after its retry period or
// dropped it, never before. While the sender holds it, the node tells the
// stream every AckWait/3 that it is in progress. A node that dies holding
// events (in its consumer's buffer, or posting them) makes them come back
// to another node after AckWait.
//
// This is at-least-once over HTTP: a node that dies between a 2xx and its
// ack makes another node post the event again. A stream message a node
// cannot read, or of an app without a webhook URL on that node, is dropped
// and counted (WebhookStats.Malformed).
//
// A channel_vacated or member_removed is published at once with a due time
// (its time plus Delay, 3 s, by the publishing node's clock: nodes' clocks
// must agree to well under the delay) after writing a marker in a second
// bucket ("wssd_hooks", history 1, TTL 24 h):
//
//	c.{app}.{channel}        "pending:{id}" then "claimed:{id}"
//	m.{app}.{channel}.{user}
//
// A node that takes it before it is due NAKs it with the time left. Then
// exactly one of two writes wins, by the revision each expects: the
// counterpart (a channel_occupied, or member_added of the same user, on any
// node) that finds the marker pending deletes it, and neither event is sent
// (WebhookStats.Cancelled counts both, on the counterpart's node); or the
// node that takes the due event turns "pending:{id}" into "claimed:{id}"
// and posts it, and a counterpart that then finds it claimed is sent as any
// event. A due event whose marker is gone, or holds another event's id, was
// cancelled and is acked unsent; one whose marker it has claimed already
// (its node died before acking) is posted. A second delayed event while
// one is pending is not sent (the first stands, as in one process). The
// marker is deleted once the event is acked, unless another event marked
// the key since.
//
// An event the stream does not take (NATS or JetStream down, Timeout
// passed, Buffer full, or Webhooks closed) is handed to the local hook
// instead, which sends it from this node with its in-memory delay; it is
// counted in WebhookStats.PublishFailed and logged at most once a second.
// A node whose stream could not be bound at start (JetStream not there
// yet) does the same, and tries to bind it every 5 s until it can.
package cluster
