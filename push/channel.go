package push

import (
	"errors"
	"fmt"
	"strings"
)

// Channel name prefixes.
const (
	prefixPrivate   = "private-"
	prefixEncrypted = "private-encrypted-"
	prefixPresence  = "presence-"
	prefixCache     = "cache-"
	// prefixUser is the channel pusher-js joins after signing in; only the
	// server may subscribe a connection to it, for the user signed in.
	prefixUser = "#server-to-user-"
	// prefixWatch is the internal channel of a user's watchers.
	prefixWatch = "#watchlist-"
)

// kind is what a channel's name makes of it.
type kind uint8

const (
	kindPublic kind = iota
	kindPrivate
	kindEncrypted
	kindPresence
	kindInternal // starts with '#': server-to-user and watchlists
)

// channelKind returns the channel's kind and whether it is a cache channel
// (cache-, private-cache-, private-encrypted-cache-, presence-cache-).
func channelKind(name string) (k kind, cache bool) {
	rest := name
	switch {
	case internal(name):
		return kindInternal, false
	case strings.HasPrefix(name, prefixEncrypted):
		k, rest = kindEncrypted, name[len(prefixEncrypted):]
	case strings.HasPrefix(name, prefixPrivate):
		k, rest = kindPrivate, name[len(prefixPrivate):]
	case strings.HasPrefix(name, prefixPresence):
		k, rest = kindPresence, name[len(prefixPresence):]
	}
	return k, strings.HasPrefix(rest, prefixCache)
}

// CacheChannel says whether name is a cache channel's (cache-,
// private-cache-, private-encrypted-cache-, presence-cache-): those whose
// last event a State keeps (PublishLast). A cluster State routes them by it.
func CacheChannel(name string) bool {
	_, cache := channelKind(name)
	return cache
}

// WatchlistChannel reports whether name is the internal channel of a
// user's watchers, "#watchlist-{id}", which a signed-in socket joins for
// each user its watchlist names.
func WatchlistChannel(name string) bool { return strings.HasPrefix(name, prefixWatch) }

// needsAuth says whether subscribing takes a signature.
func (k kind) needsAuth() bool { return k == kindPrivate || k == kindEncrypted || k == kindPresence }

// ErrInvalidChannel is wrapped by the errors of channel names that are
// empty, too long or use characters outside [A-Za-z0-9_\-=@,.;].
var ErrInvalidChannel = errors.New("push: invalid channel name")

// validChannel checks a channel name a client or the back end chose.
func validChannel(name string, max int) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidChannel)
	}
	if len(name) > max {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidChannel, max)
	}
	for i := 0; i < len(name); i++ {
		if !channelByte[name[i]] {
			return fmt.Errorf("%w: byte %q at %d", ErrInvalidChannel, name[i], i)
		}
	}
	return nil
}

var channelByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "_-=@,.;" {
		t[c] = true
	}
	return t
}()

// ErrInvalidEvent is wrapped by the errors of event names that are empty
// or too long.
var ErrInvalidEvent = errors.New("push: invalid event name")

func validEvent(name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidEvent)
	case len(name) > max:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidEvent, max)
	}
	return nil
}
