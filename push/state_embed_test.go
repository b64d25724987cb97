package push

// A cluster State embeds *LocalState in a struct of its own package:
// Server.Bind still finds setSender through the embedding (a promoted
// unexported method satisfies this package's interface).
var _ senderSetter = struct{ *LocalState }{}
