package push

import "time"

// HookKind is the kind of a HookEvent: the webhook events of Pusher.
type HookKind uint8

// The kinds of HookEvent.
const (
	HookChannelOccupied HookKind = iota + 1
	HookChannelVacated
	HookMemberAdded
	HookMemberRemoved
	HookClientEvent
	HookCacheMiss
)

var hookNames = [...]string{
	HookChannelOccupied: "channel_occupied",
	HookChannelVacated:  "channel_vacated",
	HookMemberAdded:     "member_added",
	HookMemberRemoved:   "member_removed",
	HookClientEvent:     "client_event",
	HookCacheMiss:       "cache_miss",
}

// String returns the webhook's name of the kind ("channel_occupied").
func (k HookKind) String() string {
	if int(k) < len(hookNames) && hookNames[k] != "" {
		return hookNames[k]
	}
	return "unknown"
}

// HookEvent is something an app's webhooks report. Occupied, vacated,
// member added and removed happen once per transition (see State), not per
// connection.
type HookEvent struct {
	Kind    HookKind
	App     *App
	Channel string
	// UserID is the member's (member_added, member_removed) or the
	// sender's on a presence channel (client_event).
	UserID string
	// Event, Data and SocketID are a client event's name, data and sender.
	Event    string
	Data     Data
	SocketID string
	Time     time.Time
}

// Hook receives HookEvents, for example a webhook sender. HandleEvent is
// called concurrently, on event loops and on Go API callers' goroutines,
// and while the channel concerned cannot change, so that a channel's
// events arrive in the order they happened: it must not block and must not
// call the Server (queue the event and return).
type Hook interface {
	HandleEvent(e HookEvent)
}

func (s *Server) emit(e HookEvent) {
	if s.hook != nil {
		e.Time = time.Now()
		s.hook.HandleEvent(e)
	}
}
