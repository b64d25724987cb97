package push_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/push"
)

func TestParseApps(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		wantErr string
		check   func(t *testing.T, apps []push.App)
	}{
		{name: "two apps", file: `{"apps": [
			{"id": "1", "key": "k1", "secret": "s1", "client_events": true, "webhook_url": "https://example.com/hooks", "webhook_events": ["channel_occupied", "member_added"],
			 "limits": {"max_event_data": 20480, "cache_ttl": "5m", "client_events_per_second": 20}},
			{"id": "2", "key": "k2", "secret": "s2"}]}`,
			check: func(t *testing.T, apps []push.App) {
				a := apps[0]
				if !a.ClientEvents || a.WebhookURL.String() != "https://example.com/hooks" || len(a.WebhookEvents) != 2 ||
					a.Limits.MaxEventData != 20480 || a.Limits.CacheTTL != 5*time.Minute || a.Limits.ClientEventsPerSecond != 20 {
					t.Fatalf("first app: %+v", a)
				}
				if b := apps[1]; b.ClientEvents || b.WebhookURL != nil || b.Limits.MaxEventData != 0 {
					t.Fatalf("second app takes defaults: %+v", b)
				}
			}},
		{name: "misspelt limit", file: `{"apps": [{"id": "1", "key": "k", "secret": "s", "limits": {"max_event_date": 1}}]}`, wantErr: "unknown field"},
		{name: "no apps", file: `{"apps": []}`, wantErr: "no apps"},
		{name: "not JSON", file: `apps: 1`, wantErr: "apps file"},
		{name: "missing secret", file: `{"apps": [{"id": "1", "key": "k"}]}`, wantErr: "secret"},
		{name: "duplicate key", file: `{"apps": [{"id": "1", "key": "k", "secret": "s"}, {"id": "2", "key": "k", "secret": "t"}]}`, wantErr: "twice"},
		{name: "relative webhook URL", file: `{"apps": [{"id": "1", "key": "k", "secret": "s", "webhook_url": "/hooks"}]}`, wantErr: "absolute"},
		{name: "unknown webhook event", file: `{"apps": [{"id": "1", "key": "k", "secret": "s", "webhook_events": ["channel_deleted"]}]}`, wantErr: "unknown webhook event"},
		{name: "bad duration", file: `{"apps": [{"id": "1", "key": "k", "secret": "s", "limits": {"cache_ttl": 300}}]}`, wantErr: "duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			apps, err := push.ParseApps([]byte(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, apps)
		})
	}
}
