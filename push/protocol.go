package push

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ProtocolVersion is the Pusher Channels protocol spoken, and the newest
// a client may ask for in its protocol query parameter.
const ProtocolVersion = 7

// MinProtocolVersion is the oldest protocol version accepted: Pusher no
// longer supports 1 to 3.
const MinProtocolVersion = 4

// Event names of the protocol.
const (
	evConnectionEstablished = "pusher:connection_established"
	evError                 = "pusher:error"
	evPing                  = "pusher:ping"
	evPong                  = "pusher:pong"
	evSubscribe             = "pusher:subscribe"
	evUnsubscribe           = "pusher:unsubscribe"
	evSignin                = "pusher:signin"
	evSigninSuccess         = "pusher:signin_success"
	evSubscriptionError     = "pusher:subscription_error"
	evCacheMiss             = "pusher:cache_miss"
	evSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	evSubscriptionCount     = "pusher_internal:subscription_count"
	evMemberAdded           = "pusher_internal:member_added"
	evMemberRemoved         = "pusher_internal:member_removed"
	evWatchlistEvents       = "pusher_internal:watchlist_events"
)

// Data is an event's data as Pusher puts it on the wire: a JSON string
// whose contents are, by convention, JSON text themselves (Pusher
// double-encodes). A Data value holds the contents; it marshals as a JSON
// string, and unmarshals from a JSON string (its contents) or from any
// other JSON value (its text, as clients send the data of their own
// events).
type Data string

// MarshalJSON encodes d as a JSON string.
func (d Data) MarshalJSON() ([]byte, error) { return json.Marshal(string(d)) }

// UnmarshalJSON accepts a JSON string (d becomes its contents) or any other
// JSON value (d becomes its text).
func (d *Data) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = Data(s)
		return nil
	}
	*d = Data(b)
	return nil
}

// dataOf encodes v as JSON text to be sent as Data.
func dataOf(v any) Data {
	b, err := json.Marshal(v)
	if err != nil {
		panic("push: " + err.Error()) // only this package's own types are encoded
	}
	return Data(b)
}

// wireFrame is one message the server sends: an event, on a channel or not,
// with its data double-encoded and, for client events on presence
// channels, the sender's user id.
type wireFrame struct {
	Event   string `json:"event"`
	Channel string `json:"channel,omitempty"`
	Data    Data   `json:"data"`
	UserID  string `json:"user_id,omitempty"`
}

// encode returns the frame's JSON text.
func (f wireFrame) encode() []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic("push: " + err.Error())
	}
	return b
}

// errorFrame is pusher:error, whose data the protocol sends as an object,
// not a string. Code is null for errors the protocol assigns no code.
type errorFrame struct {
	Event string    `json:"event"`
	Data  errorData `json:"data"`
}

type errorData struct {
	Message string `json:"message"`
	Code    *Code  `json:"code"`
}

func encodeError(code Code, msg string) []byte {
	f := errorFrame{Event: evError, Data: errorData{Message: msg}}
	if code != 0 {
		f.Data.Code = &code
	}
	b, _ := json.Marshal(f)
	return b
}

// The data of the server's events.
type (
	connectionData struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	subscriptionErrorData struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	presenceData struct {
		Presence presenceSet `json:"presence"`
	}
	presenceSet struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	}
	memberData struct {
		UserID   string          `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info,omitempty"`
	}
	countData struct {
		SubscriptionCount int `json:"subscription_count"`
	}
	signinSuccessData struct {
		UserData string `json:"user_data"`
	}
	watchlistData struct {
		Events []watchlistEvent `json:"events"`
	}
	watchlistEvent struct {
		Name    string   `json:"name"`
		UserIDs []string `json:"user_ids"`
	}
)

// clientFrame is a message a client sends.
type clientFrame struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    Data   `json:"data"`
}

// The data of the clients' events. Each also decodes from a JSON string
// holding the object, as some clients double-encode.
type (
	subscribeData struct {
		Channel string `json:"channel"`
		Auth    string `json:"auth"`
		// ChannelData is signed as received: never re-encoded.
		ChannelData *string `json:"channel_data"`
	}
	signinData struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
)

// Errors of the client-frame decoder.
var (
	// errNotObject is returned for a message that is not a JSON object.
	errNotObject = errors.New("push: message is not a JSON object")
	// errNoEvent is returned for a message without an event name.
	errNoEvent = errors.New("push: message has no event")
)

// decodeClientFrame decodes one client message. It never panics, whatever
// the bytes.
func decodeClientFrame(b []byte) (clientFrame, error) {
	var f clientFrame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, errNotObject
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, err
	}
	if f.Event == "" {
		return f, errNoEvent
	}
	return f, nil
}

// decodeObject decodes the data of a pusher: event into v.
func decodeObject(d Data, v any) error {
	b := bytes.TrimSpace([]byte(d))
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	return json.Unmarshal(b, v)
}
