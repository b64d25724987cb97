package load

import (
	"errors"
	"fmt"
	"time"
)

// The client's side of the Pusher Channels protocol (version 7), as little
// of it as the push scenarios need: the server's
// pusher:connection_established after the upgrade, pusher:subscribe to a
// public channel and its pusher_internal:subscription_succeeded, the
// events triggered on it, and pusher:ping answered with pusher:pong.

// Events of the protocol the client knows.
const (
	pusherEstablished = "pusher:connection_established"
	pusherSubscribed  = "pusher_internal:subscription_succeeded"
	pusherError       = "pusher:error"
	pusherPing        = "pusher:ping"
	// PusherEvent is the event the push scenarios trigger; its data starts
	// with a stamp ("round,unixnano,").
	PusherEvent = "bench"
)

// pusherPong is the answer to pusher:ping, masked once.
var pusherPong = appendFrame(nil, opText, []byte(`{"event":"pusher:pong","data":{}}`))

// errPusher is returned when a server answers the upgrade with something
// other than pusher:connection_established.
var errPusher = errors.New("load: no pusher:connection_established")

// parsePusher reads the top-level string fields event, channel and data of
// a Pusher message, a JSON object. A string value is returned as it is
// between its quotes, escapes left in; data that is not a string (as in
// pusher:error) is returned as its JSON text. ok is false when p is not an
// object or ends early (a message longer than the prefix the frame reader
// keeps). The slices point into p.
func parsePusher(p []byte) (event, channel, data []byte, ok bool) {
	ok = jsonFields(p, func(key, val []byte) {
		switch string(key) {
		case "event":
			event = val
		case "channel":
			channel = val
		case "data":
			data = val
		}
	})
	if !ok {
		return nil, nil, nil, false
	}
	return event, channel, data, true
}

// jsonField returns the value of the top-level field key of the JSON
// object p, as jsonFields gives it; ok is false when p is not a whole
// object or has no such field.
func jsonField(p []byte, key string) (val []byte, ok bool) {
	found := false
	whole := jsonFields(p, func(k, v []byte) {
		if string(k) == key {
			val, found = v, true
		}
	})
	return val, whole && found
}

// jsonFields calls f with the key and value of each top-level field of the
// JSON object p, in order: a key as it is between its quotes, escapes left
// in, a string value likewise, any other value as its JSON text. It
// reports whether p is a whole object (f may have been called before a
// false). The slices point into p.
func jsonFields(p []byte, f func(key, val []byte)) bool {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	for i < len(p) {
		if p[i] != '"' {
			return false
		}
		key, next, ok := scanString(p, i)
		if !ok {
			return false
		}
		i = skipSpace(p, next)
		if i >= len(p) || p[i] != ':' {
			return false
		}
		i = skipSpace(p, i+1)
		var val []byte
		if i < len(p) && p[i] == '"' {
			if val, next, ok = scanString(p, i); !ok {
				return false
			}
		} else {
			if next, ok = scanValue(p, i); !ok {
				return false
			}
			val = p[i:next]
		}
		f(key, val)
		i = skipSpace(p, next)
		if i >= len(p) {
			return false
		}
		switch p[i] {
		case '}':
			return skipSpace(p, i+1) == len(p)
		case ',':
			i = skipSpace(p, i+1)
		default:
			return false
		}
	}
	return false
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the contents of the JSON string starting at p[i] (a
// quote), escapes left in, and the index after its closing quote.
func scanString(p []byte, i int) (s []byte, next int, ok bool) {
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '"':
			return p[i+1 : j], j + 1, true
		default:
			if p[j] < 0x20 {
				return nil, 0, false
			}
		}
	}
	return nil, 0, false
}

// scanValue returns the index after the JSON value that is not a string
// starting at p[i]: an object, an array or a literal, not checked beyond
// its nesting and strings.
func scanValue(p []byte, i int) (next int, ok bool) {
	depth := 0
	for j := i; j < len(p); j++ {
		switch c := p[j]; c {
		case '"':
			_, n, ok := scanString(p, j)
			if !ok {
				return 0, false
			}
			j = n - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j, j > i
			}
			if depth--; depth == 0 {
				return j + 1, true
			}
		case ',':
			if depth == 0 {
				return j, j > i
			}
		}
	}
	return 0, false
}

// pusherSubscribe appends a pusher:subscribe to a public channel, a masked
// frame.
func pusherSubscribe(dst []byte, channel string) []byte {
	return appendFrame(dst, opText, fmt.Appendf(nil, `{"event":"pusher:subscribe","data":{"channel":%q}}`, channel))
}

// PusherChannel names the i-th channel of the push scenarios.
func PusherChannel(i int) string { return fmt.Sprintf("c-%d", i) }

// awaitEstablished reads frames until the server's first message, which
// must be pusher:connection_established.
func awaitEstablished(fr *frameReader) error {
	for {
		op, n, prefix, err := fr.next()
		if err != nil {
			return err
		}
		switch op {
		case opPing, opPong:
			continue // the engine's ping is answered once the connection runs
		case opText:
			if ev, _, data, ok := parsePusher(prefix); ok && n <= len(prefix) && string(ev) == pusherEstablished {
				return nil
			} else if ok && string(ev) == pusherError {
				return fmt.Errorf("%w: pusher:error %s", errPusher, data)
			}
		}
		return fmt.Errorf("%w: %q", errPusher, prefix)
	}
}

// pusherData acts on one data message of a Pusher connection: pusher:ping
// is answered, the subscription's success and PusherEvent events go to the
// session's task, with an event's data as its payload.
func (c *conn) pusherData(n int, prefix []byte) {
	ev, _, data, ok := parsePusher(prefix)
	if !ok || n > len(prefix) {
		c.s.errs.Add(1) // longer than the client keeps, or not a Pusher message
		return
	}
	switch string(ev) {
	case PusherEvent:
		c.data(len(data), data)
	case pusherSubscribed:
		if c.s.task.Load().kind == taskSubscribe {
			c.data(n, prefix)
		}
	case pusherPing:
		_ = c.write(pusherPong)
	case pusherError:
		c.s.errs.Add(1)
	}
}

// PusherSubscribe has each connection subscribe to one of channels public
// channels, the one its index (first plus its place in the session) names
// modulo channels, and waits up to timeout for every subscription to
// succeed. Result.Msgs counts the subscriptions that did. Centrifugo
// connections subscribe with their protocol's command.
func (s *Session) PusherSubscribe(channels, first int, timeout time.Duration) Result {
	return s.subscribeEach("psubscribe", timeout, func(frame []byte, c *conn) []byte {
		ch := PusherChannel((first + c.id) % max(channels, 1))
		if s.t.Proto == Centrifugo {
			return centrifugoSubscribe(frame, ch)
		}
		return pusherSubscribe(frame, ch)
	})
}
