package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// APIConfig configures the HTTP API of a Server. The zero value works. It
// must not be modified after Server.API.
type APIConfig struct {
	// Logger receives a Debug line per refused request; nil discards them.
	Logger *slog.Logger
	// Now is the clock auth_timestamp is checked against; nil is time.Now.
	Now func() time.Time
}

// API is the HTTP side of a Server: Pusher's HTTP API, the Gateway facade
// and the health checks, as one http.Handler (see the package doc for the
// routes). It is meant for engine.Config.HTTPHandler, so that one port
// serves the WebSocket and the API, but any http.Server can serve it. Its
// methods may be called from any goroutine.
type API struct {
	s     *Server
	log   *slog.Logger
	now   func() time.Time
	mux   *http.ServeMux
	ready atomic.Bool

	mu    sync.Mutex
	stats map[APIStat]uint64
}

// API returns the HTTP handler of s's API, ready (see SetReady).
func (s *Server) API(cfg APIConfig) *API {
	a := &API{s: s, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), stats: make(map[APIStat]uint64)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.ready.Store(true)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.route("POST /apps/{app_id}/events", a.events)
	a.route("POST /apps/{app_id}/batch_events", a.batchEvents)
	a.route("GET /apps/{app_id}/channels", a.channels)
	a.route("GET /apps/{app_id}/channels/{channel}", a.channel)
	a.route("GET /apps/{app_id}/channels/{channel}/users", a.users)
	a.route("POST /apps/{app_id}/users/{user_id}/terminate_connections", a.terminate)
	a.gatewayRoutes()
	return a
}

// SetReady sets what GET /readyz answers: 200 when ready, 503 when not
// (while the server drains before it stops, so that load balancers send
// new clients elsewhere). /healthz answers 200 regardless.
func (a *API) SetReady(ready bool) { a.ready.Store(ready) }

func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		writeText(w, http.StatusServiceUnavailable, "draining")
		return
	}
	writeText(w, http.StatusOK, "ok")
}

// APIStat names one counter of Stats: a route, as its pattern
// ("POST /apps/{app_id}/events"; "" for requests no route matched), and
// the status answered.
type APIStat struct {
	Route  string
	Status int
}

// Stats returns how many requests each route answered with each status
// since the API was made: a copy, the caller's to keep.
func (a *API) Stats() map[APIStat]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[APIStat]uint64, len(a.stats))
	for k, v := range a.stats {
		m[k] = v
	}
	return m
}

// ServeHTTP implements http.Handler. It may be called concurrently.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	a.mux.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	a.mu.Lock()
	a.stats[APIStat{Route: r.Pattern, Status: sw.status}]++
	a.mu.Unlock()
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// apiRequest is an authenticated request to one app.
type apiRequest struct {
	app    *App
	params url.Values // the signed query, keys lowercased
	body   []byte
	r      *http.Request
}

// apiError is a refusal with its status; its message is the body.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error of the Go API to an HTTP status.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, ErrUnknownApp), errors.Is(err, ErrUnknownSocket):
		return http.StatusNotFound
	case errors.Is(err, ErrPresenceFull):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// route registers an authenticated route of one app: the app is found
// (404), the body read within the app's bound (413), the signature checked
// (400 or 401), and fn's value answered as JSON with 200, or its error
// with statusOf's status and the error's text.
func (a *API) route(pattern string, fn func(*apiRequest) (any, error)) {
	a.handle(pattern, fn, writeText)
}

// handle registers route's handler, whose errors writeErr answers.
func (a *API) handle(pattern string, fn func(*apiRequest) (any, error), writeErr func(http.ResponseWriter, int, string)) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := a.serve(r, fn)
		if err != nil {
			a.log.Debug("push: API request refused", "route", pattern, "error", err)
			writeErr(w, statusOf(err), err.Error())
			return
		}
		writeJSON(w, v, http.StatusOK)
	})
}

func (a *API) serve(r *http.Request, fn func(*apiRequest) (any, error)) (any, error) {
	app, err := a.s.app(r.PathValue("app_id"))
	if err != nil {
		return nil, err
	}
	limit := maxBody(app.Limits)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading the body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", limit)}
	}
	creds := Credentials{ID: app.ID, Key: app.Key, Secret: app.Secret}
	params, err := creds.VerifyHTTPRequest(r, body, a.now())
	if err != nil {
		var ae *AuthError
		errors.As(err, &ae)
		return nil, &apiError{status: ae.Status, msg: err.Error()}
	}
	return fn(&apiRequest{app: app, params: params, body: body, r: r})
}

// MaxBodyBytes returns the largest request body one of the apps accepts
// (what their Limits let a batch of events hold): set
// engine.Config.MaxHTTPBodyBytes to at least this, or the engine answers
// 413 first. Larger bodies get 413 from the API.
func (a *API) MaxBodyBytes() int64 {
	var n int64
	for _, app := range a.s.apps.All() {
		n = max(n, maxBody(app.Limits))
	}
	return n
}

// maxBody bounds a request body by what the app's limits let a batch of
// events hold, each data byte escaped as \u00XX at worst.
func maxBody(l Limits) int64 {
	event := 6*l.MaxEventData + 6*l.MaxEventName + l.MaxTriggerChannels*(l.MaxChannelName+3) + 1024
	return int64(l.MaxBatchEvents) * int64(event)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func writeJSON(w http.ResponseWriter, v any, status int) {
	b, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeJSON reads body, one JSON value, into v; unknown fields are
// allowed, as Pusher adds some.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("malformed JSON body: %v", err)
	}
	return nil
}

// eventRequest is the body of POST /events and one event of
// /batch_events. Data must be a JSON string: Pusher's data is a string,
// which the SDKs encode JSON into.
type eventRequest struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  string          `json:"channel"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// event is a checked eventRequest.
type event struct {
	name, data, socketID string
	channels             []string
	info                 infoAttrs
}

// infoAttrs are the attributes an info parameter asks for.
type infoAttrs struct{ userCount, subscriptionCount, cache bool }

// parseInfo reads a comma-separated info parameter.
func parseInfo(s string, allowCache bool) (infoAttrs, error) {
	var in infoAttrs
	for attr := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(attr) {
		case "":
		case "user_count":
			in.userCount = true
		case "subscription_count":
			in.subscriptionCount = true
		case "cache":
			if !allowCache {
				return in, badRequest("info attribute cache is for one channel only")
			}
			in.cache = true
		default:
			return in, badRequest("unknown info attribute %q", cut(attr, 64))
		}
	}
	return in, nil
}

// check turns an eventRequest into an event, within the app's limits:
// data too large is 413, as at Pusher; anything else wrong 400.
func (e *eventRequest) check(lim Limits) (event, error) {
	ev := event{name: e.Name, socketID: e.SocketID, channels: e.Channels}
	if e.Channel != "" {
		if len(e.Channels) > 0 {
			return ev, badRequest("give channel or channels, not both")
		}
		ev.channels = []string{e.Channel}
	}
	if len(ev.channels) == 0 {
		return ev, badRequest("missing channels")
	}
	if len(ev.channels) > lim.MaxTriggerChannels {
		return ev, badRequest("more than %d channels", lim.MaxTriggerChannels)
	}
	if e.Name == "" {
		return ev, badRequest("missing name")
	}
	if len(e.Data) == 0 {
		return ev, badRequest("missing data")
	}
	if err := json.Unmarshal(e.Data, &ev.data); err != nil {
		return ev, badRequest("data must be a string (JSON text encoded as a string)")
	}
	if len(ev.data) > lim.MaxEventData {
		return ev, errDataTooLarge(lim)
	}
	if e.SocketID != "" && !validSocketID(e.SocketID) {
		return ev, badRequest("socket_id %q is not of the form 123.456", cut(e.SocketID, 64))
	}
	var err error
	ev.info, err = parseInfo(e.Info, false)
	return ev, err
}

// errDataTooLarge is Pusher's answer to an event's data over the limit.
func errDataTooLarge(lim Limits) error {
	return &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("data larger than %d bytes", lim.MaxEventData)}
}

// validSocketID says whether id has a socket id's form, digits.digits.
func validSocketID(id string) bool {
	a, b, ok := strings.Cut(id, ".")
	return ok && digits(a) && digits(b)
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// channelAttrs is a channel's attributes in the API's answers.
type channelAttrs struct {
	Occupied          *bool      `json:"occupied,omitempty"`
	UserCount         *int       `json:"user_count,omitempty"`
	SubscriptionCount *int       `json:"subscription_count,omitempty"`
	Cache             *cacheInfo `json:"cache,omitempty"`
}

// cacheInfo is a cache channel's last event: its data and the seconds it
// has left.
type cacheInfo struct {
	Data string `json:"data"`
	TTL  int    `json:"ttl"`
}

// attrs returns the attributes in asked for of a channel; user_count only
// for a presence channel.
func attrs(name string, ci ChannelInfo, in infoAttrs) channelAttrs {
	var at channelAttrs
	if in.userCount {
		if k, _ := channelKind(name); k == kindPresence {
			at.UserCount = &ci.UserCount
		}
	}
	if in.subscriptionCount {
		at.SubscriptionCount = &ci.SubscriptionCount
	}
	return at
}

// events is POST /apps/{app_id}/events: Trigger, answered with {} or,
// when info asks, {"channels": {name: attributes}}.
func (a *API) events(q *apiRequest) (any, error) {
	var e eventRequest
	if err := decodeJSON(q.body, &e); err != nil {
		return nil, err
	}
	ev, err := e.check(q.app.Limits)
	if err != nil {
		return nil, err
	}
	if err := a.trigger(q.app.ID, ev); err != nil {
		return nil, err
	}
	if ev.info == (infoAttrs{}) {
		return struct{}{}, nil
	}
	out := make(map[string]channelAttrs, len(ev.channels))
	for _, ch := range ev.channels {
		out[ch] = attrs(ch, a.s.state.Channel(q.app.ID, ch), ev.info)
	}
	return map[string]any{"channels": out}, nil
}

// trigger is Trigger, or SendToUser for the one channel
// "#server-to-user-{id}": the server SDKs' sendToUser triggers to it.
func (a *API) trigger(appID string, ev event) error {
	for _, ch := range ev.channels {
		uid, ok := strings.CutPrefix(ch, prefixUser)
		switch {
		case !ok:
		case len(ev.channels) > 1:
			return badRequest("%s channels must be triggered alone", prefixUser)
		default:
			return a.s.SendToUser(appID, uid, ev.name, ev.data)
		}
	}
	return a.s.Trigger(appID, ev.channels, ev.name, ev.data, ev.socketID)
}

// batchEvents is POST /apps/{app_id}/batch_events: TriggerBatch, answered
// with {} or, when an event's info asks, {"batch": [attributes, ...]} in
// the events' order.
func (a *API) batchEvents(q *apiRequest) (any, error) {
	var b struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeJSON(q.body, &b); err != nil {
		return nil, err
	}
	lim := q.app.Limits
	switch {
	case b.Batch == nil:
		return nil, badRequest("missing batch")
	case len(b.Batch) > lim.MaxBatchEvents:
		return nil, badRequest("batch of more than %d events", lim.MaxBatchEvents)
	}
	evs := make([]event, len(b.Batch))
	batch := make([]BatchEvent, len(b.Batch))
	info := false
	for i := range b.Batch {
		if len(b.Batch[i].Channels) > 0 {
			return nil, badRequest("event %d: a batch event has one channel", i)
		}
		ev, err := b.Batch[i].check(lim)
		if err != nil {
			return nil, &apiError{status: statusOf(err), msg: fmt.Sprintf("event %d: %v", i, err)}
		}
		evs[i], info = ev, info || ev.info != (infoAttrs{})
		batch[i] = BatchEvent{Channel: ev.channels[0], Name: ev.name, Data: ev.data, SocketID: ev.socketID}
	}
	if err := a.s.TriggerBatch(q.app.ID, batch); err != nil {
		return nil, err
	}
	if !info {
		return struct{}{}, nil
	}
	out := make([]channelAttrs, len(evs))
	for i, ev := range evs {
		if ev.info != (infoAttrs{}) {
			out[i] = attrs(ev.channels[0], a.s.state.Channel(q.app.ID, ev.channels[0]), ev.info)
		}
	}
	return map[string]any{"batch": out}, nil
}

// channels is GET /apps/{app_id}/channels: the occupied channels, by
// filter_by_prefix, with the info attributes asked (user_count only with
// a presence- prefix).
func (a *API) channels(q *apiRequest) (any, error) {
	prefix := q.params.Get("filter_by_prefix")
	in, err := parseInfo(q.params.Get("info"), false)
	if err != nil {
		return nil, err
	}
	if in.userCount && !strings.HasPrefix(prefix, prefixPresence) {
		return nil, badRequest("info=user_count needs filter_by_prefix=presence-")
	}
	all, err := a.s.Channels(q.app.ID, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]channelAttrs, len(all))
	for name, ci := range all {
		if internal(name) {
			continue // server-to-user and watchlist channels are internal
		}
		out[name] = attrs(name, ci, in)
	}
	return map[string]any{"channels": out}, nil
}

// channel is GET /apps/{app_id}/channels/{channel}: occupied, and the
// info attributes asked (user_count only for a presence channel).
func (a *API) channel(q *apiRequest) (any, error) {
	name := q.r.PathValue("channel")
	if err := validChannel(name, q.app.Limits.MaxChannelName); err != nil {
		return nil, badRequest("%v", err)
	}
	in, err := parseInfo(q.params.Get("info"), true)
	if err != nil {
		return nil, err
	}
	k, cache := channelKind(name)
	if in.userCount && k != kindPresence {
		return nil, badRequest("info=user_count is for presence channels only")
	}
	ci, err := a.s.Channel(q.app.ID, name)
	if err != nil {
		return nil, err
	}
	at := attrs(name, ci, in)
	at.Occupied = &ci.Occupied
	if in.cache && cache {
		if m, ok := a.s.state.Last(q.app.ID, name); ok {
			at.Cache = cacheOf(m, q.app.Limits.CacheTTL, a.now())
		}
	}
	return at, nil
}

// cacheOf reads a cache channel's last event back from its frame.
func cacheOf(m *Message, ttl time.Duration, now time.Time) *cacheInfo {
	var f wireFrame
	if json.Unmarshal(m.frame, &f) != nil {
		return nil
	}
	left := max(0, ttl-now.Sub(m.at))
	return &cacheInfo{Data: string(f.Data), TTL: int((left + time.Second - 1) / time.Second)}
}

// users is GET /apps/{app_id}/channels/{channel}/users: a presence
// channel's user ids.
func (a *API) users(q *apiRequest) (any, error) {
	name := q.r.PathValue("channel")
	if err := validChannel(name, q.app.Limits.MaxChannelName); err != nil {
		return nil, badRequest("%v", err)
	}
	members, err := a.s.Users(q.app.ID, name)
	if err != nil {
		return nil, err
	}
	type user struct {
		ID string `json:"id"`
	}
	out := make([]user, len(members))
	for i, m := range members {
		out[i] = user{ID: m.UserID}
	}
	return map[string]any{"users": out}, nil
}

// terminate is POST /apps/{app_id}/users/{user_id}/terminate_connections.
func (a *API) terminate(q *apiRequest) (any, error) {
	uid := q.r.PathValue("user_id")
	if uid == "" || len(uid) > q.app.Limits.MaxUserID {
		return nil, badRequest("bad user id")
	}
	if _, err := a.s.TerminateUserConnections(q.app.ID, uid); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
