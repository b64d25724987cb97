package load

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wssd/wssd/push"
)

// TestTriggerSigned posts to the real Pusher HTTP API of package push: a
// request signed with the app's secret is taken, one signed with another
// secret or not signed is refused.
func TestTriggerSigned(t *testing.T) {
	app := push.App{ID: "1", Key: "k", Secret: "s"}
	apps, err := push.NewApps(app)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.API(push.APIConfig{}))
	defer hs.Close()
	cases := []struct {
		name    string
		creds   *push.Credentials
		wantErr string
	}{
		{"signed", &push.Credentials{Key: "k", Secret: "s"}, ""},
		{"wrong secret", &push.Credentials{Key: "k", Secret: "x"}, "401"},
		{"unsigned", nil, "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewTrigger(hs.URL+"/apps/1/events", c.creds)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.hc.CloseIdleConnections()
			err = tr.Send(context.Background(), PusherChannel(3), stampData(1, 2, 64))
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestStampData(t *testing.T) {
	d := stampData(7, 1764457000123456789, 64)
	if len(d) != 64 {
		t.Fatalf("len %d, want 64", len(d))
	}
	if r, n, ok := parseStamp([]byte(d)); !ok || r != 7 || n != 1764457000123456789 {
		t.Fatalf("parseStamp(%q) = %d, %d, %v", d, r, n, ok)
	}
}
