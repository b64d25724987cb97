package cluster

// Following says whether s is subscribed to the channel's subject.
func Following(s *State, app, channel string) bool {
	return s.interest.has(s.subj.channel(app, channel))
}
