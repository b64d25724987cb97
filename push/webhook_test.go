package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wssd/wssd/push"
)

// hookReceiver is a webhook endpoint: it checks each POST's key and
// signature and keeps its body. fail says which POSTs (counted from 1) to
// answer with 500.
type hookReceiver struct {
	t      *testing.T
	app    push.Credentials
	fail   func(n int) bool
	block  bool // hold each POST until the client gives up
	mu     sync.Mutex
	n      int
	bodies []push.WebhookBody
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T, fail func(int) bool) *hookReceiver {
	r := &hookReceiver{t: t, app: push.Credentials{ID: "1", Key: "app-key", Secret: "app-secret"}, fail: fail}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Header.Get("X-Pusher-Key") != r.app.Key || !r.app.ValidSignature(body, req.Header.Get("X-Pusher-Signature")) {
		r.t.Errorf("bad key or signature: %q %q", req.Header.Get("X-Pusher-Key"), req.Header.Get("X-Pusher-Signature"))
	}
	if r.block {
		<-req.Context().Done()
		return
	}
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	if r.fail != nil && r.fail(n) {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	var b push.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		r.t.Errorf("body %q: %v", body, err)
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
}

func (r *hookReceiver) target(events ...push.WebhookName) *push.WebhookTarget {
	u, _ := url.Parse(r.srv.URL + "/hooks")
	return &push.WebhookTarget{Credentials: r.app, URL: u, Events: events}
}

func (r *hookReceiver) received() []push.WebhookBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// events lists the events received, in order.
func (r *hookReceiver) events() []push.WebhookEvent {
	var out []push.WebhookEvent
	for _, b := range r.received() {
		out = append(out, b.Events...)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closeSender(t *testing.T, s *push.WebhookSender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWebhookBodyEncoding(t *testing.T) {
	cases := []struct {
		name string
		ev   push.WebhookEvent
		want string
	}{
		{name: "channel_occupied", ev: push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "c"}, want: `{"name":"channel_occupied","channel":"c"}`},
		{name: "member_added", ev: push.WebhookEvent{Name: push.WebhookMemberAdded, Channel: "presence-c", UserID: "7"}, want: `{"name":"member_added","channel":"presence-c","user_id":"7"}`},
		{name: "client_event", ev: push.WebhookEvent{Name: push.WebhookClientEvent, Channel: "private-c", Event: "client-typing", Data: `{"x":1}`, SocketID: "1.2"},
			want: `{"name":"client_event","channel":"private-c","event":"client-typing","data":"{\"x\":1}","socket_id":"1.2"}`},
		{name: "cache_miss", ev: push.WebhookEvent{Name: push.WebhookCacheMiss, Channel: "cache-c"}, want: `{"name":"cache_miss","channel":"cache-c"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(push.WebhookBody{TimeMs: 1327078148132, Events: []push.WebhookEvent{tc.ev}})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"time_ms":1327078148132,"events":[` + tc.want + `]}`; string(b) != want {
				t.Fatalf("got  %s\nwant %s", b, want)
			}
		})
	}
}

func TestWebhookDelivered(t *testing.T) {
	r := newHookReceiver(t, nil)
	s := push.NewWebhookSender(push.WebhookOptions{})
	before := time.Now().UnixMilli()
	if !s.Enqueue(r.target(), push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "news"}) {
		t.Fatal("Enqueue refused")
	}
	waitFor(t, "the webhook", func() bool { return len(r.received()) == 1 })
	b := r.received()[0]
	if b.TimeMs < before || b.TimeMs > time.Now().UnixMilli() || len(b.Events) != 1 || b.Events[0].Channel != "news" {
		t.Fatalf("got %+v", b)
	}
	closeSender(t, s)
	if st := s.Stats(); st != (push.WebhookStats{Delivered: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestWebhookDelay: vacated and removed wait; their counterpart within
// the delay cancels both. The delay is an hour, so whatever is still
// waiting comes out at Close.
func TestWebhookDelay(t *testing.T) {
	vacated := push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: "c"}
	occupied := push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "c"}
	removed := push.WebhookEvent{Name: push.WebhookMemberRemoved, Channel: "presence-c", UserID: "1"}
	added := func(user string) push.WebhookEvent {
		return push.WebhookEvent{Name: push.WebhookMemberAdded, Channel: "presence-c", UserID: user}
	}
	cases := []struct {
		name      string
		wants     []push.WebhookName
		enqueue   []push.WebhookEvent
		now       []push.WebhookEvent // sent before Close
		atClose   []push.WebhookEvent // sent by Close
		cancelled uint64
	}{
		{name: "vacated waits", enqueue: []push.WebhookEvent{vacated}, atClose: []push.WebhookEvent{vacated}},
		{name: "occupied cancels vacated", enqueue: []push.WebhookEvent{vacated, occupied}, cancelled: 2},
		{name: "occupied, vacated, occupied", enqueue: []push.WebhookEvent{occupied, vacated, occupied}, now: []push.WebhookEvent{occupied}, cancelled: 2},
		{name: "other channel does not cancel", enqueue: []push.WebhookEvent{vacated, {Name: push.WebhookChannelOccupied, Channel: "d"}},
			now: []push.WebhookEvent{{Name: push.WebhookChannelOccupied, Channel: "d"}}, atClose: []push.WebhookEvent{vacated}},
		{name: "member back", enqueue: []push.WebhookEvent{removed, added("1")}, cancelled: 2},
		{name: "another member", enqueue: []push.WebhookEvent{removed, added("2")}, now: []push.WebhookEvent{added("2")}, atClose: []push.WebhookEvent{removed}},
		{name: "filtered counterpart still cancels", wants: []push.WebhookName{push.WebhookChannelVacated}, enqueue: []push.WebhookEvent{vacated, occupied}, cancelled: 2},
		{name: "filtered out", wants: []push.WebhookName{push.WebhookChannelVacated}, enqueue: []push.WebhookEvent{occupied}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newHookReceiver(t, nil)
			s := push.NewWebhookSender(push.WebhookOptions{Delay: time.Hour})
			target := r.target(tc.wants...)
			for _, ev := range tc.enqueue {
				s.Enqueue(target, ev)
			}
			waitFor(t, "the events not delayed", func() bool { return len(r.events()) == len(tc.now) })
			if got := r.events(); !slices.Equal(got, tc.now) {
				t.Fatalf("before Close: %+v, want %+v", got, tc.now)
			}
			closeSender(t, s)
			if got := r.events()[len(tc.now):]; !slices.Equal(got, tc.atClose) {
				t.Fatalf("at Close: %+v, want %+v", got, tc.atClose)
			}
			if st := s.Stats(); st.Cancelled != tc.cancelled || st.Delivered != uint64(len(tc.now)+len(tc.atClose)) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestWebhookBatching: events due together go in one POST, up to MaxBatch.
func TestWebhookBatching(t *testing.T) {
	r := newHookReceiver(t, nil)
	s := push.NewWebhookSender(push.WebhookOptions{Delay: time.Hour, MaxBatch: 3})
	target := r.target()
	for _, ch := range []string{"a", "b", "c", "d", "e"} {
		s.Enqueue(target, push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: ch})
	}
	closeSender(t, s)
	var sizes []int
	for _, b := range r.received() {
		sizes = append(sizes, len(b.Events))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{2, 3}) {
		t.Fatalf("POSTs of %v events, want 3 and 2", sizes)
	}
}

// TestWebhookRetry: a non-2xx answer is retried with backoff, with the
// same body, until it is accepted; a target that never answers is given
// up after RetryFor.
func TestWebhookRetry(t *testing.T) {
	r := newHookReceiver(t, func(n int) bool { return n <= 2 })
	s := push.NewWebhookSender(push.WebhookOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	s.Enqueue(r.target(), push.WebhookEvent{Name: push.WebhookCacheMiss, Channel: "cache-x"})
	waitFor(t, "the third attempt", func() bool { return len(r.received()) == 1 })
	closeSender(t, s)
	if st := s.Stats(); st != (push.WebhookStats{Delivered: 1, Retried: 2}) {
		t.Fatalf("stats %+v", st)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(gone.URL)
	gone.Close() // nothing listens there now
	s = push.NewWebhookSender(push.WebhookOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, RetryFor: 30 * time.Millisecond})
	s.Enqueue(&push.WebhookTarget{Credentials: r.app, URL: u}, push.WebhookEvent{Name: push.WebhookCacheMiss, Channel: "cache-x"})
	waitFor(t, "giving up", func() bool { return s.Stats().Failed == 1 })
	closeSender(t, s)
	if st := s.Stats(); st.Retried == 0 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWebhookQueueBound: past QueueSize events are dropped and counted,
// and so are events after Close.
func TestWebhookQueueBound(t *testing.T) {
	r := newHookReceiver(t, nil)
	s := push.NewWebhookSender(push.WebhookOptions{Delay: time.Hour, QueueSize: 2})
	target := r.target()
	var queued []bool
	for _, ch := range []string{"a", "b", "c"} {
		queued = append(queued, s.Enqueue(target, push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: ch}))
	}
	if !slices.Equal(queued, []bool{true, true, false}) {
		t.Fatalf("Enqueue = %v", queued)
	}
	closeSender(t, s)
	if s.Enqueue(target, push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: "d"}) {
		t.Fatal("Enqueue after Close")
	}
	if st := s.Stats(); st != (push.WebhookStats{Delivered: 2, Dropped: 2}) {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(context.Background()); !errors.Is(err, push.ErrWebhooksClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWebhookCloseGivesUp: a POST that hangs past Close's context is
// cancelled and counted as failed.
func TestWebhookCloseGivesUp(t *testing.T) {
	r := newHookReceiver(t, nil)
	r.block = true
	s := push.NewWebhookSender(push.WebhookOptions{})
	s.Enqueue(r.target(), push.WebhookEvent{Name: push.WebhookChannelOccupied, Channel: "c"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st.Failed != 1 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWebhookCloseNothingLeft: Close with a context already done (a
// shutdown whose clients took the whole timeout) reports no error when
// nothing was queued: every worker of a -procs 28 shutdown warned that its
// webhooks were not all sent, with none configured.
func TestWebhookCloseNothingLeft(t *testing.T) {
	for i := range 20 {
		s := push.NewWebhookSender(push.WebhookOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Close(ctx); err != nil {
			t.Fatalf("close %d: %v with nothing queued", i, err)
		}
	}
}

// TestWebhookBackoff: the wait doubles from MinBackoff up to MaxBackoff,
// each between half and all of its step.
func TestWebhookBackoff(t *testing.T) {
	o := push.WebhookOptions{MinBackoff: time.Second, MaxBackoff: 60 * time.Second}
	cases := []struct {
		retry int
		step  time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, 60 * time.Second}, {40, 60 * time.Second},
	}
	for _, tc := range cases {
		for range 100 {
			if d := push.WebhookBackoff(o, tc.retry); d < tc.step/2 || d > tc.step {
				t.Fatalf("retry %d waits %v, want %v to %v", tc.retry, d, tc.step/2, tc.step)
			}
		}
	}
}

// TestWebhookSend: Send posts at once, with the given time_ms, with no
// delay even for a vacated event, and calls done once with the outcome.
func TestWebhookSend(t *testing.T) {
	created := time.UnixMilli(1327078148132)
	vacated := push.WebhookEvent{Name: push.WebhookChannelVacated, Channel: "c"}
	cases := []struct {
		name      string
		fail      func(int) bool
		retryFor  time.Duration
		wants     []push.WebhookName
		sent      bool // Send's answer
		delivered bool // done's
		stats     push.WebhookStats
	}{
		{name: "delivered", sent: true, delivered: true, stats: push.WebhookStats{Delivered: 1}},
		{name: "after retries", fail: func(n int) bool { return n <= 2 }, sent: true, delivered: true, stats: push.WebhookStats{Delivered: 1, Retried: 2}},
		{name: "given up", fail: func(int) bool { return true }, retryFor: time.Nanosecond, sent: true, stats: push.WebhookStats{Failed: 1}},
		{name: "not wanted", wants: []push.WebhookName{push.WebhookChannelOccupied}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newHookReceiver(t, tc.fail)
			s := push.NewWebhookSender(push.WebhookOptions{Delay: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, RetryFor: tc.retryFor})
			got := make(chan bool, 2)
			if sent := s.Send(r.target(tc.wants...), vacated, created, func(ok bool) { got <- ok }); sent != tc.sent {
				t.Fatalf("Send = %v, want %v", sent, tc.sent)
			}
			if tc.sent {
				select {
				case ok := <-got:
					if ok != tc.delivered {
						t.Fatalf("done(%v), want done(%v)", ok, tc.delivered)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("done not called")
				}
			}
			closeSender(t, s)
			if len(got) != 0 {
				t.Fatal("done called twice")
			}
			if st := s.Stats(); st != tc.stats {
				t.Fatalf("stats %+v, want %+v", st, tc.stats)
			}
			if tc.delivered && (r.received()[0].TimeMs != created.UnixMilli() || r.events()[0] != vacated) {
				t.Fatalf("received %+v", r.received())
			}
		})
	}
}
