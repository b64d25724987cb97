package cluster

// Following says whether s is subscribed to the channel's subject.
func Following(s *State, app, channel string) bool {
	return s.interest.has(s.subj.channel(app, channel))
}

// Synced is closed once s has asked the other nodes for their cache.
func Synced(s *State) <-chan struct{} { return s.synced }
