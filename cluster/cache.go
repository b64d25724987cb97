package cluster

import (
	"time"

	"github.com/nats-io/nats.go"
)

// syncCache asks the other nodes, once the first heartbeats have been
// exchanged, for the last events of the cache channels, and keeps those it
// has no newer event of. Each goes through the app's cache dispatcher, in
// line with the live events, as an event whose Wssd-Keep says to keep it
// only if the channel has no last event yet. Of several nodes' events for
// one channel, the one with the most time left wins. A synced event's TTL
// starts again here. No event loop waits for the answers, so they are
// waited for up to DeadAfter, not QueryTimeout: nodes starting together
// (a -procs fleet) or a loaded machine answer late, and a node that does
// not answer within DeadAfter is suspected anyway.
func (s *State) syncCache() {
	defer s.wg.Done()
	defer close(s.synced)
	t := time.NewTimer(s.cfg.HeartbeatInterval) // the others greet a new node at once
	defer t.Stop()
	select {
	case <-s.done:
		return
	case <-t.C:
	}
	for id, a := range s.apps {
		newest := make(map[string]cacheEntry)
		for _, ans := range s.askWithin(id, request{Kind: qCache}, nil, max(s.cfg.QueryTimeout, s.cfg.DeadAfter))[1:] {
			for _, e := range ans.Cache {
				if e.Channel != "" && e.TTL > newest[e.Channel].TTL {
					newest[e.Channel] = e
				}
			}
		}
		for channel, e := range newest {
			msg := &nats.Msg{Subject: a.cache, Data: e.Frame, Header: nats.Header{
				hdrChannel: {token(channel)}, hdrKeep: {keepIfNone}}}
			select {
			case s.shard(a.cache) <- msg:
			case <-s.done:
				return
			}
		}
	}
}
