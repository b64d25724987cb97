package interop

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// TestPushCompressed: with permessage-deflate on, a trigger's prepared
// message reaches subscribers that negotiated compression
// (coder/websocket, which inflates it) and one that did not, each with the
// same event.
func TestPushCompressed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		apps, err := push.NewApps(push.App{ID: "1", Key: "key", Secret: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := push.New(push.Config{Apps: apps})
		if err != nil {
			t.Fatal(err)
		}
		cfg := engine.Config{
			EventLoops:  2,
			Compression: &engine.Compression{},
			Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		es := wstest.StartServerWith(t, tr, "127.0.0.1:0", cfg, ps, 10*time.Second, ps.Bind)
		url := tr.Name + "://" + es.Addr().String() + "/app/key?protocol=7"

		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		modes := []websocket.CompressionMode{websocket.CompressionNoContextTakeover, websocket.CompressionNoContextTakeover, websocket.CompressionDisabled}
		var conns []*websocket.Conn
		for _, mode := range modes {
			htr := &http.Transport{TLSClientConfig: clientTLS()}
			t.Cleanup(htr.CloseIdleConnections)
			c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: htr}, CompressionMode: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.CloseNow() })
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if (mode != websocket.CompressionDisabled) != strings.Contains(ext, "permessage-deflate") {
				t.Fatalf("mode %v: extensions %q", mode, ext)
			}
			pusherRead(ctx, t, c, "pusher:connection_established")
			sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "news"}})
			if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
				t.Fatal(err)
			}
			pusherRead(ctx, t, c, "pusher_internal:subscription_succeeded")
			conns = append(conns, c)
		}
		data := `{"text":"` + strings.Repeat("compress me ", 500) + `"}`
		if err := ps.Trigger("1", []string{"news"}, "big", data, ""); err != nil {
			t.Fatal(err)
		}
		for i, c := range conns {
			f := pusherRead(ctx, t, c, "big")
			var inner string
			if err := json.Unmarshal(f.Data, &inner); err != nil || inner != data {
				t.Errorf("subscriber %d (%v): data of %d bytes differs", i, modes[i], len(inner))
			}
		}
	})
}

type pusherFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func pusherRead(ctx context.Context, t *testing.T, c *websocket.Conn, event string) pusherFrame {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("waiting for %s: %v", event, err)
	}
	var f pusherFrame
	if err := json.Unmarshal(b, &f); err != nil || f.Event != event {
		t.Fatalf("got %.200s, want %s (%v)", b, event, err)
	}
	return f
}
