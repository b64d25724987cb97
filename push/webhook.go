package push

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookName is the kind of a webhook event, as Pusher's webhook
// documentation names them.
type WebhookName string

// Webhook event kinds.
const (
	WebhookChannelOccupied WebhookName = "channel_occupied" // a channel got its first subscriber
	WebhookChannelVacated  WebhookName = "channel_vacated"  // a channel lost its last subscriber
	WebhookMemberAdded     WebhookName = "member_added"     // a user joined a presence channel (first connection)
	WebhookMemberRemoved   WebhookName = "member_removed"   // a user left a presence channel (last connection)
	WebhookClientEvent     WebhookName = "client_event"     // a client triggered a client-* event
	WebhookCacheMiss       WebhookName = "cache_miss"       // a cache channel was subscribed to with nothing cached
)

// WebhookEvent is one event of a webhook body. Channel is always set;
// UserID for member events (and client events on presence channels);
// Event, Data and SocketID for client events, Data being the event's data
// as the client sent it, a JSON string.
type WebhookEvent struct {
	Name     WebhookName `json:"name"`
	Channel  string      `json:"channel"`
	UserID   string      `json:"user_id,omitempty"`
	Event    string      `json:"event,omitempty"`
	Data     string      `json:"data,omitempty"`
	SocketID string      `json:"socket_id,omitempty"`
}

// WebhookBody is what a webhook POSTs: when it was created, in Unix
// milliseconds, and its events.
type WebhookBody struct {
	TimeMs int64          `json:"time_ms"`
	Events []WebhookEvent `json:"events"`
}

// WebhookTarget is where one app's webhooks go. Events lists the kinds it
// wants; nil wants them all. Use one *WebhookTarget per app for all its
// events: batches and the cancellation of delayed events go by it. It must
// not be modified once events are enqueued for it.
type WebhookTarget struct {
	Credentials Credentials // Key goes in X-Pusher-Key; Secret signs the body
	URL         *url.URL
	Events      []WebhookName
}

// Wants says whether t wants events of kind n.
func (t *WebhookTarget) Wants(n WebhookName) bool {
	return t.Events == nil || slices.Contains(t.Events, n)
}

// WebhookOptions configures a WebhookSender. The zero value works.
type WebhookOptions struct {
	// Client posts the webhooks. Default: an http.Client of the sender's
	// own, with a 10 s timeout, that follows no redirect and whose idle
	// connections Close closes.
	Client *http.Client
	// Logger receives a Warn line per batch given up and per failed attempt
	// at Debug. Nil discards them.
	Logger *slog.Logger
	// QueueSize bounds the events held: waiting, delayed or to be retried.
	// Events beyond it are dropped and counted. Default 10,000.
	QueueSize int
	// Delay holds channel_vacated and member_removed back; a matching
	// channel_occupied or member_added within it cancels both. Default 3 s.
	Delay time.Duration
	// RetryFor is how long a batch is retried after its first attempt
	// failed (a non-2xx answer or a network error). Default 5 minutes.
	RetryFor time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry: it doubles
	// from MinBackoff up to MaxBackoff, each wait between half and all of
	// it (jitter). Defaults 1 s and 60 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxBatch bounds the events of one POST. Default 100.
	MaxBatch int
	// Concurrency bounds the POSTs in flight. Default 8.
	Concurrency int
}

// Defaults of WebhookOptions.
const (
	DefaultWebhookQueueSize = 10000
	DefaultWebhookDelay     = 3 * time.Second
	DefaultWebhookRetryFor  = 5 * time.Minute
)

func (o WebhookOptions) withDefaults() WebhookOptions {
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout:   10 * time.Second,
			Transport: http.DefaultTransport.(*http.Transport).Clone(), // its idle connections end with Close
			// A redirect is not followed: it counts as a failure, retried.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultWebhookQueueSize
	}
	if o.Delay <= 0 {
		o.Delay = DefaultWebhookDelay
	}
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultWebhookRetryFor
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(60*time.Second, o.MinBackoff)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	return o
}

// WebhookStats counts events through a WebhookSender since it started.
type WebhookStats struct {
	Delivered uint64 // in a POST answered with 2xx
	Retried   uint64 // sent again after a failed attempt, once per attempt
	Dropped   uint64 // refused by Enqueue: the queue was full, or closed
	Failed    uint64 // given up: RetryFor passed, or Close's context ended
	Cancelled uint64 // delayed events cancelled, and the events that cancelled them
}

// ErrWebhooksClosed is returned by Close when called twice.
var ErrWebhooksClosed = errors.New("push: webhook sender closed")

// WebhookSender posts webhooks in the background: Enqueue never blocks.
// Events due together for one target go in one POST, signed with the
// target's secret in X-Pusher-Signature. Its methods may be called
// concurrently.
type WebhookSender struct {
	o         WebhookOptions
	ownClient bool

	mu      sync.Mutex
	queue   batchHeap               // by due time
	delayed map[delayKey]*hookBatch // vacated and removed events waiting
	held    int                     // events in queue
	closing bool
	wake    chan struct{}

	ctx     context.Context // cancelled when Close gives up
	cancel  context.CancelFunc
	workers chan struct{}
	running sync.WaitGroup
	done    chan struct{}

	delivered, retried, dropped, failed, cancelled atomic.Uint64
}

// delayKey identifies the delayed event a counterpart cancels.
type delayKey struct {
	target  *WebhookTarget
	channel string
	user    string
	member  bool
}

// hookBatch is events for one target due at one time: a single new event,
// or a batch that failed and waits for its retry.
type hookBatch struct {
	target    *WebhookTarget
	events    []WebhookEvent
	due       time.Time
	created   time.Time // time_ms
	firstFail time.Time // zero until an attempt failed
	attempt   int
	index     int          // in the heap
	done      []func(bool) // Send's callbacks, one per event that has one
}

// NewWebhookSender starts a sender. Close stops it.
func NewWebhookSender(o WebhookOptions) *WebhookSender {
	own := o.Client == nil
	o = o.withDefaults()
	s := &WebhookSender{
		o:         o,
		ownClient: own,
		delayed:   make(map[delayKey]*hookBatch),
		wake:      make(chan struct{}, 1),
		workers:   make(chan struct{}, o.Concurrency),
		done:      make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.dispatch()
	return s
}

// Stats returns the counters.
func (s *WebhookSender) Stats() WebhookStats {
	return WebhookStats{
		Delivered: s.delivered.Load(), Retried: s.retried.Load(), Dropped: s.dropped.Load(),
		Failed: s.failed.Load(), Cancelled: s.cancelled.Load(),
	}
}

// Enqueue queues ev for t and returns at once. channel_vacated and
// member_removed wait Options.Delay; a channel_occupied for the same
// channel, or a member_added for the same channel and user, arriving
// meanwhile cancels the waiting event and is not sent either. An event
// whose kind t does not want is not sent (it still cancels). Enqueue
// reports whether ev is queued: false when t does not want it (or has no
// URL), when it cancelled a delayed event, or when it was dropped because
// the queue is full or the sender closed (counted in Stats.Dropped).
func (s *WebhookSender) Enqueue(t *WebhookTarget, ev WebhookEvent) bool {
	if t == nil || t.URL == nil {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		s.dropped.Add(1)
		return false
	}
	key, delay, counterpart := delayOf(t, ev)
	if counterpart {
		if b := s.delayed[key]; b != nil {
			delete(s.delayed, key)
			s.remove(b)
			s.cancelled.Add(2)
			return false
		}
	}
	if !t.Wants(ev.Name) {
		return false
	}
	if s.held >= s.o.QueueSize {
		s.dropped.Add(1)
		return false
	}
	b := &hookBatch{target: t, events: []WebhookEvent{ev}, due: now, created: now}
	if delay {
		if old := s.delayed[key]; old != nil { // the same event twice: keep the first
			return false
		}
		b.due = now.Add(s.o.Delay)
		s.delayed[key] = b
	}
	s.push(b)
	return true
}

// Send queues ev for t to be posted at once, with created as its time_ms:
// no delay, and it neither cancels nor is cancelled. It is for events
// whose delay and cancellation were settled elsewhere (a cluster's queue).
// When Send returns true, done is called once, on a goroutine of the
// sender, with true after a 2xx answer, or false once the sender gave up
// (RetryFor passed, or Close's context ended); done should return soon
// (a network round trip at most): Close waits for it. Send
// returns false, and done is not called, when t does not want ev (or has
// no URL), or when ev is dropped because the queue is full or the sender
// closed (counted in Stats.Dropped).
func (s *WebhookSender) Send(t *WebhookTarget, ev WebhookEvent, created time.Time, done func(delivered bool)) bool {
	if t == nil || t.URL == nil || !t.Wants(ev.Name) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.held >= s.o.QueueSize {
		s.dropped.Add(1)
		return false
	}
	b := &hookBatch{target: t, events: []WebhookEvent{ev}, due: time.Now(), created: created}
	if done != nil {
		b.done = []func(bool){done}
	}
	s.push(b)
	return true
}

// finish counts b's events as delivered or failed and calls its callbacks.
func (s *WebhookSender) finish(b *hookBatch, delivered bool) {
	if delivered {
		s.delivered.Add(uint64(len(b.events)))
	} else {
		s.failed.Add(uint64(len(b.events)))
	}
	for _, f := range b.done {
		f(delivered)
	}
}

// delayOf says whether ev waits (delay) or may cancel a waiting event
// (counterpart), and the key that pairs them.
func delayOf(t *WebhookTarget, ev WebhookEvent) (key delayKey, delay, counterpart bool) {
	key = delayKey{target: t, channel: ev.Channel}
	switch ev.Name {
	case WebhookChannelVacated:
		return key, true, false
	case WebhookChannelOccupied:
		return key, false, true
	case WebhookMemberRemoved:
		key.user, key.member = ev.UserID, true
		return key, true, false
	case WebhookMemberAdded:
		key.user, key.member = ev.UserID, true
		return key, false, true
	}
	return key, false, false
}

// push adds b to the queue and wakes the dispatcher. s.mu is held.
func (s *WebhookSender) push(b *hookBatch) {
	heap.Push(&s.queue, b)
	s.held += len(b.events)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// remove takes b out of the queue. s.mu is held.
func (s *WebhookSender) remove(b *hookBatch) {
	if b.index >= 0 {
		heap.Remove(&s.queue, b.index)
		s.held -= len(b.events)
	}
}

// dispatch takes the batches that are due, merges the new events of each
// target into POSTs of up to MaxBatch events, and hands them to workers.
// Once closing, it returns when nothing is queued or in flight; once Close
// has given up, it counts what is left as failed and returns.
func (s *WebhookSender) dispatch() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		s.mu.Lock()
		if s.ctx.Err() != nil {
			left := s.queue
			s.queue, s.held = nil, 0
			s.mu.Unlock()
			for _, b := range left {
				s.finish(b, false)
			}
			s.running.Wait()
			return
		}
		var due []*hookBatch
		for len(s.queue) > 0 && !s.queue[0].due.After(now) {
			b := heap.Pop(&s.queue).(*hookBatch)
			s.held -= len(b.events)
			if len(b.events) == 1 && b.attempt == 0 {
				if key, delay, _ := delayOf(b.target, b.events[0]); delay && s.delayed[key] == b {
					delete(s.delayed, key)
				}
			}
			due = append(due, b)
		}
		next := time.Hour
		if len(s.queue) > 0 {
			next = s.queue[0].due.Sub(now)
		}
		closing := s.closing
		s.mu.Unlock()

		for _, b := range s.merge(due) {
			select {
			case s.workers <- struct{}{}:
			case <-s.ctx.Done():
				s.finish(b, false)
				continue
			}
			s.running.Add(1)
			go s.deliver(b)
		}
		if closing {
			s.running.Wait() // a failed POST comes back into the queue
			s.mu.Lock()
			empty := len(s.queue) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		}
		timer.Reset(next)
		select {
		case <-s.wake:
		case <-timer.C:
		case <-s.ctx.Done():
		}
	}
}

// merge joins new single events of the same target into batches of up to
// MaxBatch; retries keep their own batch.
func (s *WebhookSender) merge(due []*hookBatch) []*hookBatch {
	var out []*hookBatch
	open := make(map[*WebhookTarget]*hookBatch)
	for _, b := range due {
		if b.attempt > 0 {
			out = append(out, b)
			continue
		}
		cur := open[b.target]
		if cur == nil || len(cur.events) >= s.o.MaxBatch {
			open[b.target] = b
			out = append(out, b)
			continue
		}
		cur.events = append(cur.events, b.events...)
		cur.done = append(cur.done, b.done...)
	}
	return out
}

// deliver posts b once; on failure it queues b again after a backoff, or
// gives up after RetryFor.
func (s *WebhookSender) deliver(b *hookBatch) {
	defer s.running.Done()
	err := s.post(b)
	<-s.workers
	now := time.Now()
	if err == nil {
		s.finish(b, true)
		return
	}
	if b.firstFail.IsZero() {
		b.firstFail = now
	}
	b.attempt++
	wait := s.backoff(b.attempt)
	n, attempt, where := len(b.events), b.attempt, b.target.URL.Redacted() // b is another delivery's once queued
	s.mu.Lock()
	giveUp := now.Add(wait).Sub(b.firstFail) > s.o.RetryFor || s.ctx.Err() != nil || s.held+len(b.events) > s.o.QueueSize
	if !giveUp {
		b.due = now.Add(wait)
		s.push(b)
	}
	s.mu.Unlock()
	if giveUp {
		s.finish(b, false)
		s.o.Logger.Warn("webhook given up", "url", where, "events", n, "attempts", attempt, "err", err)
		return
	}
	s.retried.Add(uint64(n))
	s.o.Logger.Debug("webhook failed, will retry", "url", where, "events", n, "attempt", attempt, "in", wait, "err", err)
}

// backoff is the wait before retry n (from 1): MinBackoff doubled n-1
// times, at most MaxBackoff, with its second half random.
func (s *WebhookSender) backoff(n int) time.Duration {
	d := s.o.MinBackoff
	for i := 1; i < n && d < s.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// post sends b and returns an error unless the answer is 2xx.
func (s *WebhookSender) post(b *hookBatch) error {
	body, err := json.Marshal(WebhookBody{TimeMs: b.created.UnixMilli(), Events: b.events})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, b.target.URL.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", b.target.Credentials.Key)
	req.Header.Set("X-Pusher-Signature", b.target.Credentials.Sign(body))
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("push: webhook answered %s", resp.Status)
	}
	return nil
}

// Close stops taking events and sends what is queued: delayed events at
// once, failed POSTs retried with their backoff, until nothing is left or
// ctx is done. Then it cancels the POSTs in flight, counts what is left as
// failed and returns ctx's error; nil if nothing was left. It returns
// ErrWebhooksClosed when called again.
func (s *WebhookSender) Close(ctx context.Context) error {
	now := time.Now()
	failed := s.failed.Load()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrWebhooksClosed
	}
	s.closing = true
	for _, b := range s.queue {
		if b.attempt == 0 {
			b.due = now // delays end now
		}
	}
	heap.Init(&s.queue)
	clear(s.delayed) // nothing can cancel them any more
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	gaveUp := false
	select {
	case <-s.done:
	case <-ctx.Done():
		gaveUp = true
	}
	s.cancel()
	<-s.done
	if s.ownClient {
		s.o.Client.CloseIdleConnections()
	}
	if gaveUp && s.failed.Load() > failed {
		return ctx.Err()
	}
	return nil
}

// batchHeap orders batches by due time.
type batchHeap []*hookBatch

func (h batchHeap) Len() int           { return len(h) }
func (h batchHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h batchHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *batchHeap) Push(x any) {
	b := x.(*hookBatch)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *batchHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	b.index = -1
	*h = old[:len(old)-1]
	return b
}
