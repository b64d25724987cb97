package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wssd/wssd/cluster"
	"github.com/wssd/wssd/push"
)

// pushServer is the push mode's parts around the engine: the protocol
// server, the HTTP side of the port, the webhook sender.
type pushServer struct {
	srv     *push.Server
	api     *push.API
	http    http.Handler
	webhook *push.WebhookSender
	cluster *cluster.State    // the state shared over NATS; nil without NATS
	hooks   *cluster.Webhooks // the cluster's webhook queue; nil without NATS or JetStream
	apps    *push.Apps
	dev     bool // the generated development app: the demo is served
	log     *slog.Logger
}

// Closing clients in batches at shutdown: pusher-js reconnects at once, with
// no jitter, after a 4200, so a whole server's clients closed together would
// come back together.
const (
	closeBatch = 1000
	closePause = 100 * time.Millisecond
)

// newPushServer makes the push server of o, as node. With nc, the NATS
// connection of a worker or of a process given -nats-url, its state is
// the cluster's (cluster.State), with its heartbeats on lc; without, push's
// local state.
func newPushServer(o options, nc, lc *nats.Conn, node uint16, log *slog.Logger) (*pushServer, error) {
	var list []push.App
	dev := false
	switch {
	case o.appsFile != "":
		b, err := os.ReadFile(o.appsFile)
		if err != nil {
			return nil, fmt.Errorf("-apps: %w", err)
		}
		if list, err = push.ParseApps(b); err != nil {
			return nil, err
		}
	case o.appID != "":
		app := push.App{ID: o.appID, Key: o.appKey, Secret: o.appSecret, ClientEvents: o.clientEvents}
		if o.webhookURL != "" {
			app.WebhookURL, _ = push.ParseWebhookURL(o.webhookURL) // checked by parseFlags
		}
		list = []push.App{app}
	default:
		if !loopbackListen(o.listen) {
			return nil, fmt.Errorf("no app configured for -listen %s: give -app-id, -app-key and -app-secret (or WSSD_APP_ID, WSSD_APP_KEY, WSSD_APP_SECRET) or -apps; the generated development app, whose demo signs anyone in, is served on loopback addresses only", o.listen)
		}
		app := o.devApp
		if app == nil {
			a, err := loadDevApp(o.devAppFile)
			if err != nil {
				return nil, err
			}
			app = &a
		}
		list, dev = []push.App{*app}, true
	}
	apps, err := push.NewApps(list...)
	if err != nil {
		return nil, err
	}
	var state push.State
	var shared *cluster.State
	if nc != nil {
		if shared, err = cluster.New(nc, cluster.Config{Node: node, Apps: apps, Logger: log,
			DeadAfter: o.deadAfter, HungAfter: o.hungAfter, Liveness: lc}); err != nil {
			return nil, err
		}
		state = shared
	}
	sender := push.NewWebhookSender(push.WebhookOptions{Logger: log})
	local := push.NewWebhookHook(apps, sender)
	var hook push.Hook = local
	var hooks *cluster.Webhooks
	fail := func(err error) (*pushServer, error) {
		if hooks != nil {
			hooks.Close()
		}
		_ = sender.Close(context.Background())
		if shared != nil {
			shared.Close()
		}
		return nil, err
	}
	if nc != nil {
		// In a cluster the webhooks go through a JetStream stream that
		// every node consumes, so that a node's death loses none.
		// Without JetStream yet, it sends from this node and binds the
		// stream once it can.
		if hooks, err = cluster.NewWebhooks(nc, cluster.WebhooksConfig{Local: local, Logger: log}); err != nil {
			return fail(err)
		}
		hook = hooks
	}
	srv, err := push.New(push.Config{Apps: apps, State: state, Node: node, Hook: hook, Logger: log})
	if err != nil {
		return fail(err)
	}
	p := &pushServer{srv: srv, webhook: sender, cluster: shared, hooks: hooks, apps: apps, dev: dev, log: log}
	p.api = srv.API(push.APIConfig{Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/", p.api) // the HTTP API, /healthz and /readyz
	if dev {
		demo := demoHandler(apps.All()[0])
		mux.Handle("GET /{$}", demo)
		mux.Handle("/demo/", demo)
	}
	p.http = mux
	return p, nil
}

// loopbackListen reports whether a -listen address only takes connections
// from this machine.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// announce logs what a developer needs to connect: the apps, and for the
// development app its secret and the demo page.
func (p *pushServer) announce(url string) {
	base := strings.TrimSuffix(url, "/")
	for _, app := range p.apps.All() {
		if p.dev {
			p.log.Info("development app (for development only: its demo signs anyone in)",
				"app_id", app.ID, "key", app.Key, "secret", app.Secret,
				"demo", strings.Replace(base, "ws", "http", 1)+"/",
				"websocket", base+"/app/"+app.Key+"?protocol=7")
			continue
		}
		p.log.Info("app", "app_id", app.ID, "key", app.Key, "client_events", app.ClientEvents,
			"webhooks", app.WebhookURL != nil, "websocket", base+"/app/"+app.Key+"?protocol=7")
	}
}

// stop reports not ready (load balancers stop sending clients), closes the
// clients with 4200 (reconnect) in batches, then sends the webhooks still
// queued, within ctx. In a cluster, the events still queued go to the
// stream first (the other nodes post them), and what this node was
// posting and gives up at ctx's end goes back to the stream.
func (p *pushServer) stop(ctx context.Context) {
	p.api.SetReady(false)
	if err := p.srv.CloseAll(ctx, push.CodeReconnect, closeBatch, closePause); err != nil {
		p.log.Warn("shutdown: not every client was closed with 4200 in time", "err", err)
	}
	if p.hooks != nil {
		p.hooks.Close()
	}
	if err := p.webhook.Close(ctx); err != nil {
		p.log.Warn("shutdown: webhooks still queued were not all sent", "err", err)
	}
}

// leave takes this node out of the cluster, once its clients are gone (the
// engine has shut down): the other nodes forget it at once.
func (p *pushServer) leave() {
	if p.cluster != nil {
		p.cluster.Close()
	}
}
