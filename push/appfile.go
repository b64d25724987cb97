package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// appFile is the JSON of an apps file (ParseApps).
type appFile struct {
	Apps []appEntry `json:"apps"`
}

type appEntry struct {
	ID                string        `json:"id"`
	Key               string        `json:"key"`
	Secret            string        `json:"secret"`
	ClientEvents      bool          `json:"client_events"`
	SubscriptionCount bool          `json:"subscription_count"`
	WebhookURL        string        `json:"webhook_url"`
	WebhookEvents     []WebhookName `json:"webhook_events"`
	Limits            limitsEntry   `json:"limits"`
}

type limitsEntry struct {
	MaxEventData              int      `json:"max_event_data"`
	MaxEventName              int      `json:"max_event_name"`
	MaxTriggerChannels        int      `json:"max_trigger_channels"`
	MaxBatchEvents            int      `json:"max_batch_events"`
	MaxChannelName            int      `json:"max_channel_name"`
	MaxPresenceMembers        int      `json:"max_presence_members"`
	MaxUserInfo               int      `json:"max_user_info"`
	MaxUserID                 int      `json:"max_user_id"`
	MaxSubscriptions          int      `json:"max_subscriptions"`
	MaxWatchlist              int      `json:"max_watchlist"`
	ClientEventsPerSecond     int      `json:"client_events_per_second"`
	CacheTTL                  duration `json:"cache_ttl"`
	SubscriptionCountInterval duration `json:"subscription_count_interval"`
}

// duration is a time.Duration written as "30m" in JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string such as "30m" or "1s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want a positive duration such as \"30m\"", s)
	}
	*d = duration(v)
	return nil
}

var webhookNames = []WebhookName{WebhookChannelOccupied, WebhookChannelVacated, WebhookMemberAdded, WebhookMemberRemoved, WebhookClientEvent, WebhookCacheMiss}

// ParseApps reads apps from JSON: {"apps": [{"id", "key", "secret",
// "client_events", "subscription_count", "webhook_url", "webhook_events",
// "limits": {"max_event_data", "max_event_name", "max_trigger_channels",
// "max_batch_events", "max_channel_name", "max_presence_members",
// "max_user_info", "max_user_id", "max_subscriptions", "max_watchlist",
// "client_events_per_second", "cache_ttl", "subscription_count_interval"}}]}.
// Unknown fields are errors, so that a misspelt limit is not silently
// ignored; limits left out take Pusher's values. The apps are checked as
// NewApps checks them.
func ParseApps(data []byte) ([]App, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f appFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("apps file: %w", err)
	}
	if len(f.Apps) == 0 {
		return nil, errors.New(`apps file: no apps (want {"apps": [{"id": …, "key": …, "secret": …}]})`)
	}
	apps := make([]App, 0, len(f.Apps))
	for i, e := range f.Apps {
		app := App{
			ID: e.ID, Key: e.Key, Secret: e.Secret,
			ClientEvents: e.ClientEvents, SubscriptionCount: e.SubscriptionCount,
			WebhookEvents: e.WebhookEvents,
			Limits: Limits{
				MaxEventData: e.Limits.MaxEventData, MaxEventName: e.Limits.MaxEventName,
				MaxTriggerChannels: e.Limits.MaxTriggerChannels, MaxBatchEvents: e.Limits.MaxBatchEvents,
				MaxChannelName: e.Limits.MaxChannelName, MaxPresenceMembers: e.Limits.MaxPresenceMembers,
				MaxUserInfo: e.Limits.MaxUserInfo, MaxUserID: e.Limits.MaxUserID,
				MaxSubscriptions: e.Limits.MaxSubscriptions, MaxWatchlist: e.Limits.MaxWatchlist,
				ClientEventsPerSecond:     e.Limits.ClientEventsPerSecond,
				CacheTTL:                  time.Duration(e.Limits.CacheTTL),
				SubscriptionCountInterval: time.Duration(e.Limits.SubscriptionCountInterval),
			},
		}
		if e.WebhookURL != "" {
			u, err := ParseWebhookURL(e.WebhookURL)
			if err != nil {
				return nil, fmt.Errorf("apps file: app %d (%q): %w", i, e.ID, err)
			}
			app.WebhookURL = u
		}
		for _, n := range e.WebhookEvents {
			if !slices.Contains(webhookNames, n) {
				return nil, fmt.Errorf("apps file: app %d (%q): unknown webhook event %q (want one of %v)", i, e.ID, n, webhookNames)
			}
		}
		apps = append(apps, app)
	}
	if _, err := NewApps(apps...); err != nil {
		return nil, fmt.Errorf("apps file: %w", err)
	}
	return apps, nil
}

// ParseWebhookURL checks a webhook URL: absolute, http or https.
func ParseWebhookURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook URL %q: want an absolute http:// or https:// URL", s)
	}
	return u, nil
}
