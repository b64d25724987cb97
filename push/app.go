package push

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// App is one application: the credentials its clients and its back end
// share, and what its connections may do. Like every configuration handed
// to New, it must not be modified afterwards.
type App struct {
	// ID names the app in the HTTP API (/apps/{id}/...) and in the Go API.
	ID string
	// Key names the app in the WebSocket URL (/app/{key}) and starts every
	// auth string ("key:signature").
	Key string
	// Secret signs channel authorizations, user sign-ins and API requests.
	Secret string
	// ClientEvents lets connections send client-* events on the private and
	// presence channels they joined (off by default, as at Pusher).
	ClientEvents bool
	// SubscriptionCount sends pusher_internal:subscription_count to the
	// subscribers of public and private channels when their number changes
	// (at most once per Limits.SubscriptionCountInterval).
	SubscriptionCount bool
	// WebhookURL receives the app's webhooks; nil sends none. This package
	// only reports the events through Config.Hook; the sender is elsewhere.
	WebhookURL *url.URL
	// WebhookEvents lists the webhook events the app wants; nil wants all.
	WebhookEvents []WebhookName
	// Limits bounds what the app's clients and back end may send; zero
	// fields take Pusher's documented values (see Limits).
	Limits Limits
}

// Limits are an app's bounds. A zero field takes the default named beside
// it, which is Pusher's documented limit where Pusher documents one.
type Limits struct {
	// MaxEventData bounds an event's data in bytes, triggered or client
	// sent. Default 10 KiB.
	MaxEventData int
	// MaxEventName bounds an event's name in bytes. Default 200.
	MaxEventName int
	// MaxTriggerChannels bounds the channels of one trigger. Default 100.
	MaxTriggerChannels int
	// MaxBatchEvents bounds the events of one TriggerBatch. Default 10.
	MaxBatchEvents int
	// MaxChannelName bounds a channel name in bytes. Default 164.
	MaxChannelName int
	// MaxPresenceMembers bounds the distinct users of a presence channel.
	// Default 100.
	MaxPresenceMembers int
	// MaxUserInfo bounds a presence member's user_info in bytes. Default
	// 1 KiB.
	MaxUserInfo int
	// MaxUserID bounds a user id in bytes. Default 128.
	MaxUserID int
	// MaxSubscriptions bounds the channels one connection joins. Default 100.
	MaxSubscriptions int
	// MaxWatchlist bounds the user ids of a sign-in's watchlist. Default 100.
	MaxWatchlist int
	// ClientEventsPerSecond bounds the client events one connection sends,
	// in bursts of as many. Default 10.
	ClientEventsPerSecond int
	// CacheTTL is how long a cache channel keeps its last event. Default 30 min.
	CacheTTL time.Duration
	// SubscriptionCountInterval is the shortest time between two
	// subscription_count events of one channel. Default 1 s.
	SubscriptionCountInterval time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxEventData              = 10 << 10
	DefaultMaxEventName              = 200
	DefaultMaxTriggerChannels        = 100
	DefaultMaxBatchEvents            = 10
	DefaultMaxChannelName            = 164
	DefaultMaxPresenceMembers        = 100
	DefaultMaxUserInfo               = 1 << 10
	DefaultMaxUserID                 = 128
	DefaultMaxSubscriptions          = 100
	DefaultMaxWatchlist              = 100
	DefaultClientEventsPerSecond     = 10
	DefaultCacheTTL                  = 30 * time.Minute
	DefaultSubscriptionCountInterval = time.Second
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxEventData, DefaultMaxEventData)
	def(&l.MaxEventName, DefaultMaxEventName)
	def(&l.MaxTriggerChannels, DefaultMaxTriggerChannels)
	def(&l.MaxBatchEvents, DefaultMaxBatchEvents)
	def(&l.MaxChannelName, DefaultMaxChannelName)
	def(&l.MaxPresenceMembers, DefaultMaxPresenceMembers)
	def(&l.MaxUserInfo, DefaultMaxUserInfo)
	def(&l.MaxUserID, DefaultMaxUserID)
	def(&l.MaxSubscriptions, DefaultMaxSubscriptions)
	def(&l.MaxWatchlist, DefaultMaxWatchlist)
	def(&l.ClientEventsPerSecond, DefaultClientEventsPerSecond)
	if l.CacheTTL <= 0 {
		l.CacheTTL = DefaultCacheTTL
	}
	if l.SubscriptionCountInterval <= 0 {
		l.SubscriptionCountInterval = DefaultSubscriptionCountInterval
	}
	return l
}

// Apps finds apps by key (WebSocket connections) and by id (the APIs). It
// is immutable and safe for concurrent use.
type Apps struct {
	byKey map[string]*App
	byID  map[string]*App
	list  []*App
}

// errApp is wrapped by NewApps's errors.
var errApp = errors.New("push: bad app")

// NewApps checks apps (an id, a key and a secret each; ids and keys
// unique) and indexes copies of them, with default limits filled in.
func NewApps(apps ...App) (*Apps, error) {
	a := &Apps{byKey: make(map[string]*App, len(apps)), byID: make(map[string]*App, len(apps))}
	for i := range apps {
		app := apps[i]
		switch {
		case app.ID == "" || app.Key == "" || app.Secret == "":
			return nil, fmt.Errorf("%w %d: id, key and secret are required", errApp, i)
		case a.byID[app.ID] != nil:
			return nil, fmt.Errorf("%w: id %q twice", errApp, app.ID)
		case a.byKey[app.Key] != nil:
			return nil, fmt.Errorf("%w: key %q twice", errApp, app.Key)
		}
		app.Limits = app.Limits.withDefaults()
		a.byID[app.ID], a.byKey[app.Key] = &app, &app
		a.list = append(a.list, &app)
	}
	return a, nil
}

// ByKey returns the app with that key.
func (a *Apps) ByKey(key string) (*App, bool) { app, ok := a.byKey[key]; return app, ok }

// ByID returns the app with that id.
func (a *Apps) ByID(id string) (*App, bool) { app, ok := a.byID[id]; return app, ok }

// All returns the apps in the order NewApps got them. The slice is shared:
// do not modify it.
func (a *Apps) All() []*App { return a.list }
