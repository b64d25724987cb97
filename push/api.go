package push

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of the Go API.
var (
	// ErrUnknownApp is returned for an app id no app has.
	ErrUnknownApp = errors.New("push: unknown app")
	// ErrUnknownSocket is returned for a socket id no connection of this
	// node has.
	ErrUnknownSocket = errors.New("push: unknown socket")
	// ErrLimit is wrapped by the errors of a request over one of the app's
	// Limits: data too large, too many channels or events.
	ErrLimit = errors.New("push: over limit")
	// ErrEncryptedMulti is returned by Trigger for an encrypted channel
	// among several: its data is encrypted for that channel alone.
	ErrEncryptedMulti = errors.New("push: an encrypted channel must be triggered alone")
	// ErrNotPresence is returned by Users for a channel that is not a
	// presence channel.
	ErrNotPresence = errors.New("push: not a presence channel")
)

func (s *Server) app(id string) (*App, error) {
	app, ok := s.apps.ByID(id)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownApp, id)
	}
	return app, nil
}

// BatchEvent is one event of TriggerBatch.
type BatchEvent struct {
	Channel string
	Name    string
	// Data is sent as the event's data string, unchanged.
	Data string
	// SocketID, if not empty, is not sent the event.
	SocketID string
}

// Trigger sends the event with data (a string, usually JSON text: it is
// sent as the event's data string) to the subscribers of each channel,
// except the connection exceptSocketID ("" for none). Each channel's frame
// is encoded once. On cache channels it becomes the last event. The app's
// limits are checked before anything is sent.
func (s *Server) Trigger(appID string, channels []string, event, data, exceptSocketID string) error {
	app, err := s.app(appID)
	if err != nil {
		return err
	}
	if err := checkTrigger(app, channels, event, data); err != nil {
		return err
	}
	for _, ch := range channels {
		s.publish(app, ch, event, data, exceptSocketID)
	}
	return nil
}

func checkTrigger(app *App, channels []string, event, data string) error {
	lim := app.Limits
	switch {
	case len(channels) == 0:
		return fmt.Errorf("%w: no channel", ErrInvalidChannel)
	case len(channels) > lim.MaxTriggerChannels:
		return fmt.Errorf("%w: more than %d channels", ErrLimit, lim.MaxTriggerChannels)
	case len(data) > lim.MaxEventData:
		return fmt.Errorf("%w: data larger than %d bytes", ErrLimit, lim.MaxEventData)
	}
	if err := validEvent(event, lim.MaxEventName); err != nil {
		return err
	}
	for _, ch := range channels {
		if err := validChannel(ch, lim.MaxChannelName); err != nil {
			return err
		}
		if k, _ := channelKind(ch); k == kindEncrypted && len(channels) > 1 {
			return ErrEncryptedMulti
		}
	}
	return nil
}

// publish frames one event for one channel and hands it to the State.
func (s *Server) publish(app *App, channel, event, data, except string) {
	m := s.message(app, wireFrame{Event: event, Channel: channel, Data: Data(data)})
	var ex []string
	if except != "" {
		ex = []string{except}
	}
	if _, cache := channelKind(channel); cache {
		s.state.PublishLast(app.ID, channel, m, ex)
		return
	}
	s.state.Publish(app.ID, channel, m, ex)
}

// TriggerBatch sends several events, each to one channel, after checking
// them all against the app's limits (at most MaxBatchEvents events).
func (s *Server) TriggerBatch(appID string, events []BatchEvent) error {
	app, err := s.app(appID)
	if err != nil {
		return err
	}
	if len(events) > app.Limits.MaxBatchEvents {
		return fmt.Errorf("%w: more than %d events", ErrLimit, app.Limits.MaxBatchEvents)
	}
	for _, e := range events {
		if err := checkTrigger(app, []string{e.Channel}, e.Name, e.Data); err != nil {
			return err
		}
	}
	for _, e := range events {
		s.publish(app, e.Channel, e.Name, e.Data, e.SocketID)
	}
	return nil
}

// Channel describes one channel.
func (s *Server) Channel(appID, channel string) (ChannelInfo, error) {
	if _, err := s.app(appID); err != nil {
		return ChannelInfo{}, err
	}
	return s.state.Channel(appID, channel), nil
}

// Channels describes the app's occupied channels whose names start with
// prefix ("" for all).
func (s *Server) Channels(appID, prefix string) (map[string]ChannelInfo, error) {
	if _, err := s.app(appID); err != nil {
		return nil, err
	}
	return s.state.Channels(appID, prefix), nil
}

// Users returns the members of a presence channel, sorted by user id.
func (s *Server) Users(appID, channel string) ([]Member, error) {
	if _, err := s.app(appID); err != nil {
		return nil, err
	}
	if k, _ := channelKind(channel); k != kindPresence {
		return nil, ErrNotPresence
	}
	return s.state.Members(appID, channel), nil
}

// SendToUser sends the event to every connection signed in as the user,
// on its #server-to-user-{id} channel, as Pusher's sendToUser does.
func (s *Server) SendToUser(appID, userID, event, data string) error {
	app, err := s.app(appID)
	if err != nil {
		return err
	}
	if err := checkUserEvent(app, userID, event, data); err != nil {
		return err
	}
	s.publish(app, prefixUser+userID, event, data, "")
	return nil
}

func checkUserEvent(app *App, userID, event, data string) error {
	switch {
	case userID == "" || len(userID) > app.Limits.MaxUserID:
		return fmt.Errorf("%w: bad user id", ErrLimit)
	case len(data) > app.Limits.MaxEventData:
		return fmt.Errorf("%w: data larger than %d bytes", ErrLimit, app.Limits.MaxEventData)
	}
	return validEvent(event, app.Limits.MaxEventName)
}

// TerminateUserConnections closes every connection signed in as the user
// with 4009, as Pusher's terminate_connections does, on every node of a
// State that spans nodes (RemoteSockets). It returns the number of
// connections closed.
func (s *Server) TerminateUserConnections(appID, userID string) (int, error) {
	n, err := s.terminateLocal(appID, userID)
	if err != nil {
		return 0, err
	}
	if r, ok := s.state.(RemoteSockets); ok {
		m, err := r.BroadcastSocketOp(SocketOp{App: appID, Kind: OpTerminateUser, Arg: userID})
		return n + m, err
	}
	return n, nil
}

// terminateLocal closes this node's connections of the user with 4009.
func (s *Server) terminateLocal(appID, userID string) (int, error) {
	if _, err := s.app(appID); err != nil {
		return 0, err
	}
	_, local := s.state.UserSockets(appID, userID)
	for _, sock := range local {
		refuse(sock.conn, CodeUnauthorized, "connection terminated by the server")
	}
	return len(local), nil
}

// CloseAll closes this node's connections with code, batch of them at a
// time with pause between batches, so that clients do not all reconnect
// in the same instant (pusher-js reconnects at once after 4200, with no
// jitter): CodeReconnect for a restart, CodeOverCapacity to make clients
// back off. It returns when every connection has been told to close, or
// with ctx's error when ctx ends first. A batch below 1 closes all at once.
func (s *Server) CloseAll(ctx context.Context, code Code, batch int, pause time.Duration) error {
	socks := s.state.Sockets()
	if batch < 1 {
		batch = len(socks)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for i, sock := range socks {
		if i > 0 && i%batch == 0 {
			t.Reset(pause)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		refuse(sock.conn, code, code.String())
	}
	return nil
}
