package cluster

// Following says whether s is subscribed to the channel's subject.
func Following(s *State, app, channel string) bool {
	return s.interest.has(s.subj.channel(app, channel))
}

// Synced is closed once s has asked the other nodes for their cache.
func Synced(s *State) <-chan struct{} { return s.synced }

// ChannelEntry returns what the state bucket holds for the channel: the
// nodes with subscribers, and each member's nodes.
func ChannelEntry(s *State, app, channel string) (nodes []uint16, members map[string][]uint16, err error) {
	ctx, cancel := s.kvContext()
	defer cancel()
	e, err := s.read(ctx, channelKey(app, channel))
	if err != nil {
		return nil, nil, err
	}
	members = make(map[string][]uint16)
	for id, m := range e.Members {
		members[id] = m.Nodes
	}
	return e.Nodes, members, nil
}

// UserNodes returns the nodes the state bucket lists for a signed-in user.
func UserNodes(s *State, app, user string) ([]uint16, error) {
	ctx, cancel := s.kvContext()
	defer cancel()
	e, err := s.read(ctx, userKey(app, user))
	return e.Nodes, err
}

// BucketAnswering says whether s uses the state bucket for transitions
// (not after a timeout until a resync has worked).
func BucketAnswering(s *State) bool { return !s.kvDown.Load() }

// Stall stops s's heartbeats (silent), and its answers to liveness probes
// too (hung), as lost heartbeats or a hung process would; both false
// resumes them.
func Stall(s *State, silent, hung bool) {
	s.silent.Store(silent)
	s.hung.Store(hung)
}

// WebhooksBound says whether w has its stream, consumer and marker bucket.
func WebhooksBound(w *Webhooks) bool { return w.bound.Load() }

// StopAnswering unsubscribes s from its apps' query subjects: it stays
// live, with its part of the state bucket, but answers no query.
func StopAnswering(s *State) error {
	for _, sub := range s.fixed {
		for _, a := range s.apps {
			if sub.Subject == a.query {
				if err := sub.Unsubscribe(); err != nil {
					return err
				}
			}
		}
	}
	return s.nc.Flush()
}
