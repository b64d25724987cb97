package push_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/pushtest"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// apiEnv is a push server whose engine serves its API on the WebSocket
// port.
type apiEnv struct {
	*env
	api   *push.API
	creds push.Credentials
	http  *http.Client
	base  string // scheme://host:port
}

func startAPI(t *testing.T, tr wstest.Transport, apps ...push.App) *apiEnv {
	t.Helper()
	if len(apps) == 0 {
		apps = []push.App{testApp}
	}
	as, err := push.NewApps(apps...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: as})
	if err != nil {
		t.Fatal(err)
	}
	api := srv.API(push.APIConfig{})
	es := startEngine(t, tr, engine.Config{HTTPHandler: api}, srv)
	a := &apiEnv{env: &env{t: t, tr: tr, srv: srv, es: es}, api: api,
		creds: push.Credentials{ID: apps[0].ID, Key: apps[0].Key, Secret: apps[0].Secret},
		http:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}},
		base:  "http://" + es.Addr().String()}
	if tr.TLS {
		a.http.Transport = &http.Transport{TLSClientConfig: testpki.Get().ClientConfig()}
		a.base = "https://" + es.Addr().String()
	}
	t.Cleanup(a.http.CloseIdleConnections)
	return a
}

// apiCall is one request to the API.
type apiCall struct {
	method, path string
	params       url.Values
	body         string
	// query, when set, replaces the signed query string.
	query string
	// sign changes the signed query before it is sent.
	sign func(q string) string
}

// request builds c's request, signed with creds now.
func (c apiCall) request(creds push.Credentials, base string) *http.Request {
	q := c.query
	if q == "" {
		path, _ := url.PathUnescape(c.path) // the path signed is the decoded one
		q = creds.SignQuery(c.method, path, c.params, []byte(c.body), time.Now())
	}
	if c.sign != nil {
		q = c.sign(q)
	}
	r := httptest.NewRequest(c.method, base+c.path+"?"+q, strings.NewReader(c.body))
	r.RequestURI = ""
	return r
}

// mode runs a request through the handler directly or over the engine's
// port.
type mode struct {
	name string
	do   func(a *apiEnv, c apiCall) (int, string)
}

var modes = []mode{
	{"handler", func(a *apiEnv, c apiCall) (int, string) {
		w := httptest.NewRecorder()
		a.api.ServeHTTP(w, c.request(a.creds, "http://example.com"))
		return w.Code, w.Body.String()
	}},
	{"engine", func(a *apiEnv, c apiCall) (int, string) {
		res, err := a.http.Do(c.request(a.creds, a.base))
		if err != nil {
			a.t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}},
}

func (a *apiEnv) call(c apiCall) (int, string) {
	a.t.Helper()
	return modes[1].do(a, c)
}

// mustCall makes the call and fails unless it answers 200.
func (a *apiEnv) mustCall(c apiCall) string {
	a.t.Helper()
	status, body := a.call(c)
	if status != http.StatusOK {
		a.t.Fatalf("%s %s: %d %s", c.method, c.path, status, body)
	}
	return body
}

func post(path string, body any) apiCall {
	b, _ := json.Marshal(body)
	return apiCall{method: "POST", path: path, body: string(b)}
}

func get(path string, params ...string) apiCall {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return apiCall{method: "GET", path: path, params: v}
}

// TestAPIRoutes: every route and every refusal, answered the same by the
// handler alone and through the engine's port, over ws and wss.
func TestAPIRoutes(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		a := startAPI(t, tr)
		u1, u2 := a.dial(), a.dial()
		u1.Join("news", "")
		u2.Join("news", "")
		u1.JoinPresence("presence-room", "u1")
		u2.JoinPresence("presence-room", "u2")
		u1.Expect("pusher_internal:member_added")
		a.mustCall(post("/apps/1/gateway/bind_uid", map[string]string{"socket_id": u1.ID, "uid": "u1"}))
		a.mustCall(post("/apps/1/events", map[string]string{"name": "e", "channel": "cache-last", "data": "cached"}))

		big := strings.Repeat("x", push.DefaultMaxEventData+1)
		many := make([]string, push.DefaultMaxTriggerChannels+1)
		for i := range many {
			many[i] = fmt.Sprint("c", i)
		}
		eleven := make([]map[string]string, push.DefaultMaxBatchEvents+1)
		for i := range eleven {
			eleven[i] = map[string]string{"name": "e", "channel": "news", "data": "d"}
		}
		oldQuery := func(q string) string {
			return a.creds.SignQuery("POST", "/apps/1/events", nil, []byte(`{}`), time.Now().Add(-11*time.Minute))
		}
		cases := []struct {
			name   string
			call   apiCall
			status int
			want   string // JSON the body must equal, or text it must contain
		}{
			{"healthz", apiCall{method: "GET", path: "/healthz"}, 200, "ok"},
			{"readyz", apiCall{method: "GET", path: "/readyz"}, 200, "ok"},
			{"trigger", post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"news", "other"}, "data": "{}"}), 200, `{}`},
			{"trigger one channel", post("/apps/1/events", map[string]any{"name": "e", "channel": "news", "data": "{}"}), 200, `{}`},
			{"trigger with info", post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"presence-room", "news"}, "data": "{}", "info": "user_count,subscription_count"}), 200,
				`{"channels":{"presence-room":{"user_count":2,"subscription_count":2},"news":{"subscription_count":2}}}`},
			{"send to user", post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"#server-to-user-u9"}, "data": "{}"}), 200, `{}`},
			{"send to user among others", post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"#server-to-user-u9", "news"}, "data": "{}"}), 400, "alone"},
			{"trigger malformed JSON", apiCall{method: "POST", path: "/apps/1/events", body: `{"name":`}, 400, "malformed JSON"},
			{"trigger data not a string", post("/apps/1/events", map[string]any{"name": "e", "channel": "news", "data": map[string]int{"a": 1}}), 400, "data must be a string"},
			{"trigger without data", post("/apps/1/events", map[string]any{"name": "e", "channel": "news"}), 400, "missing data"},
			{"trigger without name", post("/apps/1/events", map[string]any{"channel": "news", "data": ""}), 400, "missing name"},
			{"trigger without channels", post("/apps/1/events", map[string]any{"name": "e", "data": ""}), 400, "missing channels"},
			{"trigger channel and channels", post("/apps/1/events", map[string]any{"name": "e", "channel": "a", "channels": []string{"b"}, "data": ""}), 400, "not both"},
			{"trigger data of the limit", post("/apps/1/events", map[string]any{"name": strings.Repeat("n", 200), "channel": "news", "data": big[1:]}), 200, `{}`},
			{"trigger data too large", post("/apps/1/events", map[string]any{"name": "e", "channel": "news", "data": big}), 413, "data larger than 10240 bytes"},
			{"trigger too many channels", post("/apps/1/events", map[string]any{"name": "e", "channels": many, "data": ""}), 400, "more than 100 channels"},
			{"trigger name too long", post("/apps/1/events", map[string]any{"name": strings.Repeat("n", 201), "channel": "news", "data": ""}), 400, "invalid event name"},
			{"trigger bad channel name", post("/apps/1/events", map[string]any{"name": "e", "channel": "a b", "data": ""}), 400, "invalid channel name"},
			{"trigger bad socket_id", post("/apps/1/events", map[string]any{"name": "e", "channel": "news", "data": "", "socket_id": "abc"}), 400, "socket_id"},
			{"trigger unknown info", post("/apps/1/events", map[string]any{"name": "e", "channel": "news", "data": "", "info": "colour"}), 400, "unknown info attribute"},
			{"trigger encrypted among others", post("/apps/1/events", map[string]any{"name": "e", "channels": []string{"private-encrypted-a", "news"}, "data": ""}), 400, "encrypted"},
			{"trigger with GET", get("/apps/1/events"), 405, ""},
			{"unknown app", post("/apps/9/events", map[string]any{"name": "e", "channel": "news", "data": ""}), 404, "unknown app"},
			{"unknown route", get("/apps/1/nothing"), 404, ""},
			{"body too large", apiCall{method: "POST", path: "/apps/1/events", body: strings.Repeat(" ", 900_000)}, 413, "request body larger"},
			{"bad signature", apiCall{method: "POST", path: "/apps/1/events", body: `{}`, sign: func(q string) string { return q[:len(q)-4] + "0000" }}, 401, "auth_signature"},
			{"no signature", apiCall{method: "GET", path: "/apps/1/channels", query: "auth_key=" + testApp.Key}, 401, ""},
			{"wrong key", apiCall{method: "POST", path: "/apps/1/events", body: `{}`, sign: func(q string) string { return strings.Replace(q, testApp.Key, "another-key", 1) }}, 401, "auth_key"},
			{"timestamp 11 minutes old", apiCall{method: "POST", path: "/apps/1/events", body: `{}`, sign: oldQuery}, 401, "auth_timestamp"},
			{"body changed after signing", apiCall{method: "POST", path: "/apps/1/events", body: `{}`, sign: func(q string) string { return strings.Replace(q, "body_md5=", "body_md5=00", 1) }}, 401, "body_md5"},
			{"parameter twice", apiCall{method: "GET", path: "/apps/1/channels", sign: func(q string) string { return q + "&auth_key=x" }}, 400, "malformed query"},
			{"batch", post("/apps/1/batch_events", map[string]any{"batch": []map[string]string{{"name": "e", "channel": "news", "data": "1"}, {"name": "e", "channel": "presence-room", "data": "2"}}}), 200, `{}`},
			{"batch with info", post("/apps/1/batch_events", map[string]any{"batch": []map[string]string{{"name": "e", "channel": "news", "data": "1"}, {"name": "e", "channel": "presence-room", "data": "2", "info": "user_count"}}}), 200,
				`{"batch":[{},{"user_count":2}]}`},
			{"batch of 11", post("/apps/1/batch_events", map[string]any{"batch": eleven}), 400, "more than 10 events"},
			{"batch without batch", post("/apps/1/batch_events", map[string]any{}), 400, "missing batch"},
			{"batch event with channels", post("/apps/1/batch_events", map[string]any{"batch": []map[string]any{{"name": "e", "channels": []string{"news"}, "data": "1"}}}), 400, "one channel"},
			{"batch event data too large", post("/apps/1/batch_events", map[string]any{"batch": []map[string]any{{"name": "e", "channel": "news", "data": big}}}), 413, "event 0: data larger"},
			{"channels", get("/apps/1/channels"), 200, `{"channels":{"news":{},"presence-room":{}}}`},
			{"channels by prefix with counts", get("/apps/1/channels", "filter_by_prefix", "presence-", "info", "user_count,subscription_count"), 200,
				`{"channels":{"presence-room":{"user_count":2,"subscription_count":2}}}`},
			{"channels user_count without presence prefix", get("/apps/1/channels", "info", "user_count"), 400, "filter_by_prefix=presence-"},
			{"channels with POST", post("/apps/1/channels", map[string]any{}), 405, ""},
			{"channel", get("/apps/1/channels/news", "info", "subscription_count"), 200, `{"occupied":true,"subscription_count":2}`},
			{"presence channel", get("/apps/1/channels/presence-room", "info", "user_count,subscription_count"), 200, `{"occupied":true,"user_count":2,"subscription_count":2}`},
			{"empty channel", get("/apps/1/channels/nobody"), 200, `{"occupied":false}`},
			{"cache channel", get("/apps/1/channels/cache-last", "info", "cache"), 200, `"cache":{"data":"cached","ttl":18`},
			{"channel user_count not presence", get("/apps/1/channels/news", "info", "user_count"), 400, "presence channels only"},
			{"channel bad name", get("/apps/1/channels/a%20b"), 400, "invalid channel name"},
			{"users", get("/apps/1/channels/presence-room/users"), 200, `{"users":[{"id":"u1"},{"id":"u2"}]}`},
			{"users not presence", get("/apps/1/channels/news/users"), 400, "not a presence channel"},
			{"terminate nobody", apiCall{method: "POST", path: "/apps/1/users/nobody/terminate_connections", body: `{}`}, 200, `{}`},
			{"terminate with GET", get("/apps/1/users/u1/terminate_connections"), 405, ""},
			{"gateway uid", get("/apps/1/gateway/uids/u1"), 200, `{"online":true,"socket_ids":["` + u1.ID + `"]}`},
			{"gateway uid offline", get("/apps/1/gateway/uids/u7"), 200, `{"online":false,"socket_ids":[]}`},
			{"gateway group", get("/apps/1/gateway/groups/news"), 200, `{"count":2,"uids":["u1"]}`},
			{"gateway group bad name", get("/apps/1/gateway/groups/a%20b"), 400, `invalid channel name`},
			{"gateway count", get("/apps/1/gateway/count"), 200, `{"count":2}`},
			{"gateway bind unknown socket", post("/apps/1/gateway/bind_uid", map[string]string{"socket_id": "1.1", "uid": "x"}), 404, `{"error":"push: unknown socket \"1.1\""}`},
			{"gateway join bad group", post("/apps/1/gateway/join_group", map[string]string{"socket_id": u2.ID, "group": "a b"}), 400, `invalid channel name`},
			{"gateway presence group unbound", post("/apps/1/gateway/join_group", map[string]string{"socket_id": u2.ID, "group": "presence-x"}), 400, `BindUID first`},
			{"gateway malformed JSON", apiCall{method: "POST", path: "/apps/1/gateway/send_to_all", body: `[`}, 400, `"error":"malformed JSON`},
			{"gateway send without uid", post("/apps/1/gateway/send_to_uid", map[string]string{"event": "e", "data": "d"}), 400, `missing uid`},
			{"gateway send data too large", post("/apps/1/gateway/send_to_uid", map[string]string{"uid": "u1", "event": "e", "data": big}), 413, `data larger`},
			{"gateway send without event", post("/apps/1/gateway/send_to_group", map[string]string{"group": "news", "data": "d"}), 400, `invalid event name`},
			{"gateway close unknown", post("/apps/1/gateway/close_client", map[string]string{"socket_id": "1.1"}), 404, `unknown socket`},
			{"gateway with GET", get("/apps/1/gateway/send_to_all"), 405, ""},
			{"gateway unsigned", apiCall{method: "GET", path: "/apps/1/gateway/count", query: "x=1"}, 401, "auth_key"},
		}
		for _, m := range modes {
			t.Run(m.name, func(t *testing.T) {
				for _, tc := range cases {
					status, body := m.do(a, tc.call)
					if status != tc.status {
						t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, body)
						continue
					}
					if !jsonEq(body, tc.want) && !strings.Contains(body, tc.want) {
						t.Errorf("%s: body %s, want %s", tc.name, body, tc.want)
					}
				}
			})
		}
		stats := a.api.Stats()
		for _, want := range []push.APIStat{
			{Route: "POST /apps/{app_id}/events", Status: 200},
			{Route: "POST /apps/{app_id}/events", Status: 413},
			{Route: "GET /apps/{app_id}/gateway/count", Status: 401},
			{Route: "", Status: 404},
		} {
			if stats[want] < 2 {
				t.Errorf("Stats()[%v] = %d, want 2 or more (one per mode)", want, stats[want])
			}
		}
	})
}

// TestAPIPublishedSignature: the request of the HTTP API reference's worked
// example, signed as published, is accepted at its timestamp and refused
// eleven minutes later.
func TestAPIPublishedSignature(t *testing.T) {
	apps, err := push.NewApps(push.App{ID: docApp.ID, Key: docApp.Key, Secret: docApp.Secret})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		now    time.Time
		status int
	}{
		{"at its timestamp", docTime, 200},
		{"ten minutes later", docTime.Add(10 * time.Minute), 200},
		{"eleven minutes later", docTime.Add(11 * time.Minute), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := srv.API(push.APIConfig{Now: func() time.Time { return tc.now }})
			w := httptest.NewRecorder()
			api.ServeHTTP(w, httptest.NewRequest("POST", "/apps/3/events?"+docQuery, bytes.NewReader(docBody)))
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.status)
			}
		})
	}
}

// TestAPIReady: /readyz answers 503 once SetReady(false), /healthz still
// 200, without a signature.
func TestAPIReady(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		a := startAPI(t, tr)
		a.api.SetReady(false)
		for _, tc := range []struct {
			path   string
			status int
		}{{"/readyz", 503}, {"/healthz", 200}} {
			if status, body := a.call(apiCall{method: "GET", path: tc.path}); status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.path, status, body, tc.status)
			}
		}
		a.api.SetReady(true)
		if status, _ := a.call(apiCall{method: "GET", path: "/readyz"}); status != 200 {
			t.Errorf("/readyz after SetReady(true): %d", status)
		}
	})
}

// TestAPIDelivery: what the API triggers reaches the subscribers, except
// the socket_id excluded; sendToUser reaches the user's tabs; terminate
// closes them with 4009.
func TestAPIDelivery(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		a := startAPI(t, tr)
		c1, c2 := a.dial(), a.dial()
		c1.Join("news", "")
		c2.Join("news", "")

		a.mustCall(post("/apps/1/events", map[string]any{"name": "hello", "channels": []string{"news"}, "data": `{"n":1}`, "socket_id": c1.ID}))
		if f := c2.Expect("hello"); f.Channel != "news" || f.Text() != `{"n":1}` {
			t.Errorf("c2 got %s %s", f.Channel, f.Data)
		}
		c1.Ping()

		a.mustCall(post("/apps/1/batch_events", map[string]any{"batch": []map[string]string{
			{"name": "one", "channel": "news", "data": "1", "socket_id": c2.ID},
			{"name": "two", "channel": "news", "data": "2"},
		}}))
		c1.Expect("one")
		c1.Expect("two")
		c2.Expect("two")

		// sendToUser, as the SDKs send it, to a connection bound by the facade.
		a.mustCall(post("/apps/1/gateway/bind_uid", map[string]string{"socket_id": c1.ID, "uid": "ann"}))
		a.mustCall(post("/apps/1/events", map[string]any{"name": "dm", "channels": []string{"#server-to-user-ann"}, "data": "hi"}))
		if f := c1.Expect("dm"); f.Channel != "#server-to-user-ann" || f.Text() != "hi" {
			t.Errorf("c1 got %s %s", f.Channel, f.Data)
		}
		c2.Ping()

		a.mustCall(apiCall{method: "POST", path: "/apps/1/users/ann/terminate_connections", body: `{}`})
		if code := c1.ExpectClose(); code != 4009 {
			t.Errorf("terminated with %d, want 4009", code)
		}
	})
}

// TestGatewayHTTP: the facade's routes do what GatewayWorker's calls do.
func TestGatewayHTTP(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		a := startAPI(t, tr)
		c1, c2, c3 := a.dial(), a.dial(), a.dial()
		gw := "/apps/1/gateway/"
		a.mustCall(post(gw+"bind_uid", map[string]string{"socket_id": c1.ID, "uid": "ann"}))
		a.mustCall(post(gw+"bind_uid", map[string]string{"socket_id": c2.ID, "uid": "bob"}))
		for _, c := range []*pushtest.Client{c1, c2, c3} {
			a.mustCall(post(gw+"join_group", map[string]string{"socket_id": c.ID, "group": "room"}))
		}

		a.mustCall(post(gw+"send_to_uid", map[string]any{"uids": []string{"ann", "bob"}, "event": "dm", "data": "x"}))
		c1.Expect("dm")
		c2.Expect("dm")
		c3.Ping()

		a.mustCall(post(gw+"send_to_group", map[string]any{"group": "room", "event": "say", "data": "y", "exclude": []string{c1.ID}}))
		c2.Expect("say")
		c3.Expect("say")
		c1.Ping()

		a.mustCall(post(gw+"send_to_all", map[string]any{"event": "all", "data": "z", "exclude": []string{c3.ID}}))
		c1.Expect("all")
		c2.Expect("all")
		c3.Ping()

		if got := a.mustCall(get(gw + "groups/room")); !jsonEq(got, `{"count":3,"uids":["ann","bob"]}`) {
			t.Errorf("groups/room = %s", got)
		}
		a.mustCall(post(gw+"leave_group", map[string]string{"socket_id": c3.ID, "group": "room"}))
		if got := a.mustCall(get(gw + "groups/room")); !jsonEq(got, `{"count":2,"uids":["ann","bob"]}`) {
			t.Errorf("groups/room after leave_group = %s", got)
		}
		a.mustCall(post(gw+"close_client", map[string]string{"socket_id": c2.ID}))
		if code := c2.ExpectClose(); code != 4009 {
			t.Errorf("close_client closed with %d, want 4009", code)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := a.mustCall(get(gw + "uids/bob"))
			if jsonEq(got, `{"online":false,"socket_ids":[]}`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("uids/bob after close_client = %s", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := a.mustCall(get(gw + "count")); !jsonEq(got, `{"count":2}`) {
			t.Errorf("count = %s", got)
		}
	})
}

// FuzzAPI: any signed request, whatever its route, parameters and body,
// gets an answer with one of the statuses the API documents, never a
// panic nor a 401 (it is signed) nor a 5xx, and every 200 from an app
// route is JSON.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/apps/3/events", "", docBody)
	f.Add("POST", "/apps/3/batch_events", "", []byte(`{"batch":[{"name":"e","channel":"c","data":"d","info":"subscription_count"}]}`))
	f.Add("GET", "/apps/3/channels", "user_count", []byte(nil))
	f.Add("GET", "/apps/3/channels/presence-x/users", "", []byte(nil))
	f.Add("POST", "/apps/3/gateway/send_to_group", "", []byte(`{"groups":["a"],"event":"e","data":"d","exclude":["1.1"]}`))
	apps, err := push.NewApps(push.App{ID: docApp.ID, Key: docApp.Key, Secret: docApp.Secret, Limits: push.Limits{MaxBatchEvents: 2}})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: apps})
	if err != nil {
		f.Fatal(err)
	}
	api := srv.API(push.APIConfig{Now: func() time.Time { return docTime }})
	allowed := map[int]bool{200: true, 301: true, 307: true, 308: true, 400: true, 404: true, 405: true, 409: true, 413: true}
	f.Fuzz(func(t *testing.T, method, path, info string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		var params url.Values
		if info != "" {
			params = url.Values{"info": {info}, "filter_by_prefix": {info}}
		}
		r := &http.Request{Method: method, Header: http.Header{},
			URL:  &url.URL{Path: path, RawQuery: docApp.SignQuery(method, path, params, body, docTime)},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("%s %s info=%q body %q: %d %s", method, path, info, body, w.Code, w.Body)
		}
		if w.Code == 200 && strings.HasPrefix(path, "/apps/") && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: 200 with %q", method, path, w.Body)
		}
	})
}

// TestAPIMaxBodyBytes: the body bound follows the app's limits; a body of
// MaxBodyBytes is read (and refused for what it says), one byte more is
// 413.
func TestAPIMaxBodyBytes(t *testing.T) {
	small := push.App{ID: "5", Key: "k5", Secret: "s5", Limits: push.Limits{MaxEventData: 100, MaxBatchEvents: 1, MaxTriggerChannels: 1}}
	apps, err := push.NewApps(testApp, small)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := push.New(push.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	api := srv.API(push.APIConfig{})
	if got := api.MaxBodyBytes(); got < 800_000 || got > engine.DefaultMaxHTTPBodyBytes {
		t.Errorf("MaxBodyBytes = %d for the default limits, want between 800,000 and the engine's default", got)
	}
	smallOnly, err := push.NewApps(small)
	if err != nil {
		t.Fatal(err)
	}
	srvSmall, err := push.New(push.Config{Apps: smallOnly})
	if err != nil {
		t.Fatal(err)
	}
	limit := int(srvSmall.API(push.APIConfig{}).MaxBodyBytes())
	if limit >= 10_000 {
		t.Fatalf("MaxBodyBytes = %d for an app of one 100-byte event", limit)
	}
	creds := push.Credentials{ID: small.ID, Key: small.Key, Secret: small.Secret}
	for _, tc := range []struct {
		name   string
		size   int
		status int
	}{
		{"at the bound", limit, 400},
		{"one byte over", limit + 1, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat(" ", tc.size)
			c := apiCall{method: "POST", path: "/apps/5/events", body: body}
			w := httptest.NewRecorder()
			api.ServeHTTP(w, c.request(creds, "http://example.com"))
			if w.Code != tc.status {
				t.Fatalf("%d bytes: %d %s, want %d", tc.size, w.Code, w.Body, tc.status)
			}
		})
	}
}

// TestGatewayHTTPPresenceFull: joining a presence group that has its
// MaxPresenceMembers users is 409, and the group keeps its member.
func TestGatewayHTTPPresenceFull(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		app := testApp
		app.Limits.MaxPresenceMembers = 1
		a := startAPI(t, tr, app)
		c1, c2 := a.dial(), a.dial()
		gw := "/apps/1/gateway/"
		a.mustCall(post(gw+"bind_uid", map[string]string{"socket_id": c1.ID, "uid": "ann"}))
		a.mustCall(post(gw+"bind_uid", map[string]string{"socket_id": c2.ID, "uid": "bob"}))
		a.mustCall(post(gw+"join_group", map[string]string{"socket_id": c1.ID, "group": "presence-g"}))
		status, body := a.call(post(gw+"join_group", map[string]string{"socket_id": c2.ID, "group": "presence-g"}))
		if status != http.StatusConflict || !strings.Contains(body, "full") {
			t.Errorf("second member: %d %s, want 409 saying the channel is full", status, body)
		}
		if got := a.mustCall(get(gw + "groups/presence-g")); !jsonEq(got, `{"count":1,"uids":["ann"]}`) {
			t.Errorf("groups/presence-g = %s", got)
		}
	})
}
