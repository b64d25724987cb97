package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/bench/servers"
)

// pushEventSize is the size of the push scenarios' event data: the stamp
// and padding, as small as a chat notification.
const pushEventSize = 64

// triggerArgs are loadgen's arguments to publish on the push server s over
// transport tr, as Config.PushTrigger says: its HTTP API on its own port,
// signed with the app's credentials, or benchd's /trigger (the Go API).
func (r *run) triggerArgs(s *server, tr string) []string {
	if r.cfg.PushTrigger == PushTriggerHTTP {
		return httpTriggerArgs(s, tr)
	}
	return []string{"-trigger", "http://" + s.ready.Stats + "/trigger"}
}

// httpTriggerArgs are loadgen's arguments to publish through the Pusher
// HTTP API on s's own port, signed with the app's credentials.
func httpTriggerArgs(s *server, tr string) []string {
	scheme := "http"
	if tr == "wss" {
		scheme = "https"
	}
	c := servers.PushCredentials()
	return []string{"-trigger", fmt.Sprintf("%s://%s/apps/%s/events", scheme, s.ready.Addr, c.ID), "-trigger-auth", c.Key + ":" + c.Secret}
}

// pusherSubscribe has the n connections of clients (opened by openClients,
// which gives each process its share in turn) subscribe to channels
// channels, the i-th connection to channel i mod channels, and fails
// unless every connection open got its subscription_succeeded within 30 s.
func pusherSubscribe(clients []*client, n, channels int) error {
	return pusherSubscribeWithin(clients, n, channels, 30*time.Second)
}

// pusherSubscribeWithin is pusherSubscribe waiting up to timeout.
func pusherSubscribeWithin(clients []*client, n, channels int, timeout time.Duration) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		subs int64
		open int
	)
	first := 0
	for i, c := range clients {
		share := n / len(clients)
		if i < n%len(clients) {
			share++
		}
		cmd := fmt.Sprintf("psubscribe %d %d %s", channels, first, timeout)
		first += share
		wg.Go(func() {
			res, err := c.command(cmd)
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			subs += res.Msgs
			open += res.Conns
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if subs < int64(open) {
		return fmt.Errorf("pusher:subscribe: %d of %d connections subscribed", subs, open)
	}
	return nil
}

// pushFanout triggers Config.PushFanoutRounds events on one channel that
// every one of Config.PushFanoutN connections subscribed to, and times
// each until the last subscriber had it; the engine's own broadcast (wssd)
// and the raw TCP ceiling (gnet-echo) are measured at the same N.
func (r *run) pushFanout(ctx context.Context, info servers.Info, tr string) error {
	n, rounds := r.cfg.PushFanoutN, r.cfg.PushFanoutRounds
	if !info.Push {
		row, err := r.broadcastWith(ctx, info, tr, deflateNone, pushEventSize, n, rounds)
		if row != nil {
			r.res.PushFanout = append(r.res.PushFanout, *row)
		}
		return err
	}
	s, clients, open, done, err := r.hold(ctx, info, tr, n, 0, deflateNone)
	if err != nil {
		return err
	}
	defer done()
	if err := pusherSubscribe(clients, n, 1); err != nil {
		return err
	}
	send := fmt.Sprintf("trigger %d %s %s %d", rounds, r.cfg.BroadcastInterval, load.PusherChannel(0), pushEventSize)
	row, err := r.timeBroadcast(s, clients, open, Key{info.Name, tr}, deflateNone, rounds, send)
	if row != nil {
		r.res.PushFanout = append(r.res.PushFanout, *row)
	}
	return err
}

// pushLatency triggers Config.PushLatencyRate events a second, for
// Config.PushLatencyDuration, over Config.PushLatencyChannels channels of
// Config.PushLatencySubs subscribers in turn, each event stamped with
// when it was due, and reads how long each subscriber took to have it.
func (r *run) pushLatency(ctx context.Context, info servers.Info, tr string) error {
	c := r.cfg
	n := c.PushLatencyChannels * c.PushLatencySubs
	s, clients, open, done, err := r.hold(ctx, info, tr, n, 0, deflateNone)
	if err != nil {
		return err
	}
	defer done()
	if err := pusherSubscribe(clients, n, c.PushLatencyChannels); err != nil {
		return err
	}
	row, err := r.triggerRate(s, clients, open, Key{info.Name, tr})
	if row != nil {
		r.res.PushLatency = append(r.res.PushLatency, *row)
	}
	return err
}

// triggerRate has the first client trigger Config.PushLatencyRate events
// a second over Config.PushLatencyChannels channels, for
// Config.PushLatencyDuration, on the server s whose clients subscribed to
// them, and reads every delivery's latency and the server's CPU meanwhile.
// The row is nil when nothing was measured; with it, an error says that
// triggers failed or events were not delivered.
func (r *run) triggerRate(s *server, clients []*client, open load.Result, key Key) (*PushLatencyRow, error) {
	c := r.cfg
	if _, err := broadcastCommand(clients, "listen"); err != nil {
		return nil, err
	}
	m := meterCPU(s.pids()...)
	sent, err := clients[0].command(fmt.Sprintf("triggers %d %s %d %d", c.PushLatencyRate, c.PushLatencyDuration, c.PushLatencyChannels, pushEventSize))
	if err != nil {
		return nil, err
	}
	expected := sent.Sent * int64(c.PushLatencySubs)
	var res []load.Result
	for wait := time.Now().Add(5 * time.Second); ; { // the last events in flight
		if res, err = broadcastCommand(clients, "stats"); err != nil {
			return nil, err
		}
		if total, _ := merge(res); total.Msgs >= expected || time.Now().After(wait) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err = broadcastCommand(clients, "collect 0s")
	serverCPU, cpuSeconds := m.cores(), m.seconds()
	if err != nil {
		return nil, err
	}
	total, h := merge(res)
	row := PushLatencyRow{Key: key, Conns: open.Conns, Channels: c.PushLatencyChannels, Subscribers: c.PushLatencySubs,
		Rate: c.PushLatencyRate, Sent: sent.Sent, Failed: sent.Errors, Expected: expected, Delivered: total.Msgs,
		Latency: latency(h), ServerCPU: serverCPU, ServerCPUSeconds: cpuSeconds}
	if total.Seconds > 0 {
		row.ClientCPU = total.CPUSeconds / total.Seconds
	}
	r.logf("  %d/s over %d channels of %d: p50 %dµs p99 %dµs p999 %dµs max %dµs, %d/%d delivered, %d triggers failed, server %.2f cores",
		row.Rate, row.Channels, row.Subscribers, row.Latency.P50, row.Latency.P99, row.Latency.P999, row.Latency.Max,
		row.Delivered, row.Expected, row.Failed, row.ServerCPU)
	switch {
	case sent.LastError != "":
		return &row, fmt.Errorf("%d triggers failed: %s", sent.Errors, sent.LastError)
	case row.Delivered < row.Expected:
		return &row, fmt.Errorf("%d of %d events not delivered", row.Expected-row.Delivered, row.Expected)
	}
	return &row, nil
}
