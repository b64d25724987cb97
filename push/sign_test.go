package push_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/push"
)

// The worked example of the Pusher HTTP API reference ("Worked
// authentication example"): app 3, its key and secret, a trigger of "foo"
// on "project-3", and the signature the reference publishes.
var (
	docApp       = push.Credentials{ID: "3", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}
	docBody      = []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	docTime      = time.Unix(1353088179, 0)
	docSignature = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	docQuery     = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=" + docSignature
)

func TestSignQueryPublishedExample(t *testing.T) {
	got := docApp.SignQuery("POST", "/apps/3/events", nil, docBody, docTime)
	if got != docQuery {
		t.Fatalf("SignQuery =\n%s\nwant\n%s", got, docQuery)
	}
}

func TestVerifyRequest(t *testing.T) {
	signed := func(method, path string, params url.Values, body []byte, at time.Time) string {
		return docApp.SignQuery(method, path, params, body, at)
	}
	cases := []struct {
		name   string
		method string
		path   string
		query  string
		body   []byte
		now    time.Time
		err    error // nil: accepted
	}{
		{name: "published example", method: "POST", path: "/apps/3/events", query: docQuery, body: docBody, now: docTime},
		{name: "published example, signature in the middle", method: "POST", path: "/apps/3/events", body: docBody, now: docTime,
			query: "auth_signature=" + docSignature + "&auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"},
		{name: "uppercase keys", method: "POST", path: "/apps/3/events", body: docBody, now: docTime,
			query: "AUTH_KEY=278d425bdf160c739803&auth_timestamp=1353088179&Auth_Version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=" + docSignature},
		{name: "599 s late", method: "POST", path: "/apps/3/events", query: docQuery, body: docBody, now: docTime.Add(599 * time.Second)},
		{name: "601 s late", method: "POST", path: "/apps/3/events", query: docQuery, body: docBody, now: docTime.Add(601 * time.Second), err: push.ErrAuthTimestamp},
		{name: "601 s early", method: "POST", path: "/apps/3/events", query: docQuery, body: docBody, now: docTime.Add(-601 * time.Second), err: push.ErrAuthTimestamp},
		{name: "body changed", method: "POST", path: "/apps/3/events", query: docQuery, body: append([]byte(" "), docBody...), now: docTime, err: push.ErrBodyMD5},
		{name: "body without body_md5", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "body_md5=", "x=", 1), body: docBody, now: docTime, err: push.ErrBodyMD5},
		{name: "other path", method: "POST", path: "/apps/4/events", query: docQuery, body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "other method", method: "PUT", path: "/apps/3/events", query: docQuery, body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "signature flipped", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "auth_signature=d", "auth_signature=e", 1), body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "signature cut", method: "POST", path: "/apps/3/events", query: strings.TrimSuffix(docQuery, "6c"), body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "no signature", method: "POST", path: "/apps/3/events", query: strings.Split(docQuery, "&auth_signature")[0], body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "other key", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "278d", "378d", 1), body: docBody, now: docTime, err: push.ErrAuthKey},
		{name: "no key", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "auth_key=278d425bdf160c739803&", "", 1), body: docBody, now: docTime, err: push.ErrAuthKey},
		{name: "version 2.0", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "1.0", "2.0", 1), body: docBody, now: docTime, err: push.ErrAuthVersion},
		{name: "timestamp not a number", method: "POST", path: "/apps/3/events", query: strings.Replace(docQuery, "1353088179", "soon", 1), body: docBody, now: docTime, err: push.ErrAuthTimestamp},
		{name: "parameter twice", method: "POST", path: "/apps/3/events", query: docQuery + "&auth_key=278d425bdf160c739803", body: docBody, now: docTime, err: push.ErrAuthQuery},
		{name: "parameter twice, other case", method: "POST", path: "/apps/3/events", query: docQuery + "&AUTH_KEY=x", body: docBody, now: docTime, err: push.ErrAuthQuery},
		{name: "bad escape", method: "POST", path: "/apps/3/events", query: docQuery + "&x=%zz", body: docBody, now: docTime, err: push.ErrAuthQuery},
		{name: "added parameter", method: "POST", path: "/apps/3/events", query: docQuery + "&socket_id=1.1", body: docBody, now: docTime, err: push.ErrAuthSignature},
		{name: "get with parameters", method: "GET", path: "/apps/3/channels",
			query: signed("GET", "/apps/3/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count,subscription_count"}}, nil, docTime), now: docTime},
		{name: "escaped value", method: "GET", path: "/apps/3/channels",
			query: signed("GET", "/apps/3/channels", url.Values{"x": {"a b&c=d+e"}}, nil, docTime), now: docTime},
		{name: "empty body", method: "POST", path: "/apps/3/users/1/terminate_connections",
			query: signed("POST", "/apps/3/users/1/terminate_connections", nil, nil, docTime), now: docTime},
		{name: "empty body, body_md5 of another", method: "POST", path: "/apps/3/users/1/terminate_connections",
			query: signed("POST", "/apps/3/users/1/terminate_connections", nil, nil, docTime) + "&body_md5=ec365a775a4cd0599faeb73354201b6f",
			now:   docTime, err: push.ErrBodyMD5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params, err := docApp.VerifyRequest(tc.method, tc.path, tc.query, tc.body, tc.now)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				var ae *push.AuthError
				want := http.StatusUnauthorized
				if tc.err == push.ErrAuthQuery {
					want = http.StatusBadRequest
				}
				if !errors.As(err, &ae) || ae.Status != want {
					t.Fatalf("err %#v, want an AuthError with status %d", err, want)
				}
				return
			}
			if params.Get("auth_key") != docApp.Key || params.Has("auth_signature") {
				t.Fatalf("params = %v", params)
			}
		})
	}
}

func TestVerifyHTTPRequest(t *testing.T) {
	r, err := http.NewRequest("POST", "http://localhost/apps/3/events?"+docQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := docApp.VerifyHTTPRequest(r, docBody, docTime); err != nil {
		t.Fatal(err)
	}
}

func TestSign(t *testing.T) {
	// The private channel example of Pusher's authentication signature
	// reference: "socket_id:channel_name" signed with the app secret.
	app := push.Credentials{Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}
	data := []byte("1234.1234:private-foobar")
	const want = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	if got := app.Sign(data); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !app.ValidSignature(data, want) || app.ValidSignature(data, want[:62]) || app.ValidSignature([]byte("x"), want) {
		t.Fatal("ValidSignature disagrees with Sign")
	}
}

// FuzzAPIAuth: any query the verifier is given does not crash it, and any
// parameters signed with SignQuery verify and come back as they were sent.
func FuzzAPIAuth(f *testing.F) {
	f.Add("POST", "/apps/3/events", docQuery, docBody, "info", "user_count")
	f.Add("GET", "/apps/3/channels", "a=%zz&&=&b", []byte(nil), "filter_by_prefix", "presence-")
	f.Add("GET", "/", "auth_key=278d425bdf160c739803&auth_key=x", []byte(nil), "X Y", "a+b c&d=e%")
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte, k, v string) {
		_, _ = docApp.VerifyRequest(method, path, rawQuery, body, docTime)

		var params url.Values
		lk := strings.ToLower(k)
		if k != "" && !strings.HasPrefix(lk, "auth_") && lk != "body_md5" { // not the signer's own
			params = url.Values{k: {v}}
		}
		q := docApp.SignQuery(method, path, params, body, docTime)
		got, err := docApp.VerifyRequest(method, path, q, body, docTime)
		if err != nil {
			t.Fatalf("%q signed as %q: %v", params, q, err)
		}
		if params != nil && got.Get(lk) != v {
			t.Fatalf("%q=%q came back as %q", k, v, got.Get(lk))
		}
	})
}
