package cluster

import "sync/atomic"

// Stats are a State's counters since New, for metrics.
type Stats struct {
	// Published counts events sent to NATS.
	Published uint64
	// PublishDropped counts events not sent: the outgoing queue was full
	// or NATS refused them (disconnected past its reconnect buffer).
	PublishDropped uint64
	// Received counts events from other nodes delivered here.
	Received uint64
	// ReceiveDropped counts events NATS dropped because a dispatcher's
	// queue was full.
	ReceiveDropped uint64
	// SlowConsumers counts the connection's slow-consumer events (a
	// subscription starting to drop).
	SlowConsumers uint64
	// Malformed counts received messages that were not of this layout.
	Malformed uint64
	// QueryTimeouts counts queries that ended before every live node
	// answered.
	QueryTimeouts uint64
	// Degraded counts transitions this node decided alone because the
	// state bucket could not be used (JetStream unreachable, or slower
	// than KVTimeout): they may be reported once per node.
	Degraded uint64
	// KVWrites counts the state bucket's writes, and KVConflicts the
	// writes retried because another node wrote the key first.
	KVWrites, KVConflicts uint64
	// KVTimeouts counts transitions whose bucket work ran out of
	// KVTimeout; the transitions after one do not wait for the bucket
	// until it answers again.
	KVTimeouts uint64
	// Resyncs counts the rewrites of this node's part of the state bucket
	// that completed (at start, after a reconnect, a degraded decision or
	// being taken for dead), and ResyncKeys the keys they read.
	Resyncs, ResyncKeys uint64
	// Suspected counts the times another node went silent for DeadAfter
	// and was probed; ProbesAnswered the probes that found it alive (a
	// stall, not a death).
	Suspected, ProbesAnswered uint64
	// Subscriptions is the number of channel subjects subscribed to now.
	Subscriptions int
}

type counters struct {
	published, publishDropped, received, slowConsumers, malformed, queryTimeouts atomic.Uint64
	degraded, kvWrites, kvConflicts, kvTimeouts                                  atomic.Uint64
	suspected, probesAnswered, resyncs, resyncKeys                               atomic.Uint64
}

// Stats returns the counters. It walks the channel subscriptions to sum
// their drops, so call it at a metrics scrape, not per event.
func (s *State) Stats() Stats {
	active, dropped := s.interest.counts()
	for _, sub := range s.fixed {
		if n, err := sub.Dropped(); err == nil {
			dropped += uint64(n)
		}
	}
	return Stats{
		Published:      s.stats.published.Load(),
		PublishDropped: s.stats.publishDropped.Load(),
		Received:       s.stats.received.Load(),
		ReceiveDropped: dropped,
		SlowConsumers:  s.stats.slowConsumers.Load(),
		Malformed:      s.stats.malformed.Load(),
		QueryTimeouts:  s.stats.queryTimeouts.Load(),
		Degraded:       s.stats.degraded.Load(),
		KVWrites:       s.stats.kvWrites.Load(),
		KVConflicts:    s.stats.kvConflicts.Load(),
		KVTimeouts:     s.stats.kvTimeouts.Load(),
		Resyncs:        s.stats.resyncs.Load(),
		ResyncKeys:     s.stats.resyncKeys.Load(),
		Suspected:      s.stats.suspected.Load(),
		ProbesAnswered: s.stats.probesAnswered.Load(),
		Subscriptions:  active,
	}
}
