package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/push"
)

// Trigger publishes PusherEvent events through a push server's back-end
// side: Pusher's HTTP API (POST /apps/{id}/events, signed as the Pusher
// server SDKs sign), benchd's POST /trigger, which calls the server's Go
// API with the same body, or Centrifugo's HTTP API (POST /api/publish with
// its API key). Its methods may be called concurrently.
type Trigger struct {
	url   *url.URL
	creds *push.Credentials // nil: unsigned (benchd's /trigger)
	// apiKey, when set, makes this a Centrifugo publish.
	apiKey string
	hc     *http.Client
}

// NewCentrifugoTrigger returns a Trigger publishing through Centrifugo's
// HTTP API at u (http or https, path /api/publish) with apiKey.
func NewCentrifugoTrigger(u, apiKey string) (*Trigger, error) {
	t, err := NewTrigger(u, nil)
	if err != nil {
		return nil, err
	}
	t.apiKey = apiKey
	return t, nil
}

// NewTrigger returns a Trigger posting to u: an https or http URL whose
// path is /apps/{id}/events, signed with creds, or benchd's /trigger with
// creds nil.
func NewTrigger(u string, creds *push.Credentials) (*Trigger, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: ClientTLS(), MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	tr.TLSClientConfig.NextProtos = nil
	return &Trigger{url: pu, creds: creds, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// triggerBody is the HTTP API's body of POST /apps/{id}/events.
type triggerBody struct {
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
	Data     string   `json:"data"`
}

// Send triggers PusherEvent with data on channel and waits for the answer.
func (t *Trigger) Send(ctx context.Context, channel, data string) error {
	var v any = triggerBody{Name: PusherEvent, Channels: []string{channel}, Data: data}
	if t.apiKey != "" {
		v = centrifugoPublish{Channel: channel, Data: data}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	u := *t.url
	if t.creds != nil {
		u.RawQuery = t.creds.SignQuery(http.MethodPost, u.Path, nil, body, time.Now())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.apiKey != "" {
		req.Header.Set("X-API-Key", t.apiKey)
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("load: trigger: %s %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if _, failed := jsonField(msg, "error"); failed && t.apiKey != "" { // Centrifugo answers errors with 200
		return fmt.Errorf("load: trigger: %s", msg)
	}
	return nil
}

// centrifugoPublish is the body of Centrifugo's publish; data is any JSON,
// here a string.
type centrifugoPublish struct {
	Channel string `json:"channel"`
	Data    string `json:"data"`
}

// stampData is a trigger's data: its stamp, padded with x's to size bytes.
func stampData(round, nanos int64, size int) string {
	b := appendStamp(nil, round, nanos)
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// TriggerRounds triggers rounds events on channel, one every interval, each
// stamped with its round and the time it was sent: the fan-out's broadcast,
// which connections armed with Arm time as they time a broadcast.
func (s *Session) TriggerRounds(t *Trigger, rounds int, interval time.Duration, channel string, size int) Result {
	t0 := time.Now()
	for round := range rounds {
		if err := t.Send(context.Background(), channel, stampData(int64(round), time.Now().UnixNano(), size)); err != nil {
			return Result{Cmd: "trigger", LastError: err.Error()}
		}
		time.Sleep(time.Until(t0.Add(time.Duration(round+1) * interval)))
	}
	return Result{Cmd: "trigger", Msgs: int64(rounds), Seconds: time.Since(t0).Seconds()}
}

// Listen prepares every connection to time each PusherEvent it receives
// from the stamp in its data until Collect.
func (s *Session) Listen() {
	s.roundMax, s.roundCount = nil, nil
	s.lat.reset()
	s.msgs.Store(0)
	s.task.Store(&task{kind: taskStamp})
	s.started = time.Now()
	s.armCPU = rusage()
}

// TriggerRate triggers perSecond events in total, for d, on channels
// channels in turn, on a fixed schedule, from up to 32 requests at once.
// Each event's stamp is when it was due, not when it went out: a trigger
// path that falls behind shows in the receivers' latencies (no
// coordinated omission). Result.Sent counts the events triggered,
// Result.Errors the triggers that failed.
func (s *Session) TriggerRate(t *Trigger, perSecond float64, d time.Duration, channels, size int) Result {
	type job struct {
		seq int64
		due time.Time
	}
	jobs := make(chan job, 1<<16)
	var sent, failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				ch := PusherChannel(int(j.seq % int64(max(channels, 1))))
				if err := t.Send(context.Background(), ch, stampData(j.seq, j.due.UnixNano(), size)); err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				sent.Add(1)
			}
		})
	}
	ru0 := rusage()
	interval := time.Duration(float64(time.Second) / max(perSecond, 1e-3))
	start := time.Now()
	var n int64
	for {
		el := time.Since(start)
		if el >= d {
			break
		}
		for due := int64(el/interval) + 1; n < due; n++ {
			jobs <- job{seq: n, due: start.Add(time.Duration(n) * interval)}
		}
		time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
	}
	close(jobs)
	wg.Wait()
	r := Result{Cmd: "triggers", Sent: sent.Load(), Errors: failed.Load(), Seconds: time.Since(start).Seconds()}
	if e, ok := lastErr.Load().(string); ok {
		r.LastError = e
	}
	r.addCPU(ru0)
	return r
}
