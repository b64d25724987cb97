package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestFramesGolden: the server's frames, byte for byte, as in
// testdata/frames/*.json (regenerate with -update).
func TestFramesGolden(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
	}{
		{"connection_established", wireFrame{Event: evConnectionEstablished, Data: dataOf(connectionData{SocketID: "123.456", ActivityTimeout: 120})}.encode()},
		{"pong", wireFrame{Event: evPong, Data: "{}"}.encode()},
		{"error_code", encodeError(CodeAppNotFound, CodeAppNotFound.String())},
		{"error_null", encodeError(0, "unsupported event \"x\"")},
		{"subscription_succeeded", wireFrame{Event: evSubscriptionSucceeded, Channel: "private-a", Data: "{}"}.encode()},
		{"subscription_succeeded_presence", wireFrame{Event: evSubscriptionSucceeded, Channel: "presence-a", Data: presenceOf([]Member{
			{UserID: "1", Info: json.RawMessage(`{"name":"Ann"}`)}, {UserID: "2"}})}.encode()},
		{"subscription_error", wireFrame{Event: evSubscriptionError, Channel: "private-a", Data: dataOf(subscriptionErrorData{Type: "AuthError", Error: "Invalid signature", Status: 401})}.encode()},
		{"member_added", wireFrame{Event: evMemberAdded, Channel: "presence-a", Data: dataOf(memberData{UserID: "1", UserInfo: json.RawMessage(`{"name":"Ann"}`)})}.encode()},
		{"member_removed", wireFrame{Event: evMemberRemoved, Channel: "presence-a", Data: dataOf(memberData{UserID: "1"})}.encode()},
		{"subscription_count", wireFrame{Event: evSubscriptionCount, Channel: "a", Data: dataOf(countData{SubscriptionCount: 3})}.encode()},
		{"cache_miss", wireFrame{Event: evCacheMiss, Channel: "cache-a", Data: "{}"}.encode()},
		{"signin_success", wireFrame{Event: evSigninSuccess, Data: dataOf(signinSuccessData{UserData: `{"id":"1"}`})}.encode()},
		{"watchlist_events", watchlistFrame("online", []string{"1", "2"})},
		{"event", wireFrame{Event: "price", Channel: "a", Data: `{"p":1,"s":"<&>"}`}.encode()},
		{"client_event_presence", wireFrame{Event: "client-hi", Channel: "presence-a", Data: `"text"`, UserID: "1"}.encode()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "frames", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(tc.frame, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(tc.frame, '\n'); !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestData: Data decodes a JSON string to its contents and any other value
// to its text, and encodes as a JSON string.
func TestData(t *testing.T) {
	cases := []struct {
		name, in, contents, out string
	}{
		{"string of JSON", `"{\"a\":1}"`, `{"a":1}`, `"{\"a\":1}"`},
		{"plain string", `"hi"`, `hi`, `"hi"`},
		{"object", `{"a":1}`, `{"a":1}`, `"{\"a\":1}"`},
		{"number", `12`, `12`, `"12"`},
		{"null", `null`, `null`, `"null"`},
		{"unicode escapes", `"\u00e9\n"`, "é\n", `"é\n"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Data
			if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatal(err)
			}
			if string(d) != tc.contents {
				t.Errorf("contents %q, want %q", d, tc.contents)
			}
			b, err := json.Marshal(d)
			if err != nil || string(b) != tc.out {
				t.Errorf("encoded %s (%v), want %s", b, err, tc.out)
			}
		})
	}
}

// clientFrameSeeds are client messages, good and bad; they seed FuzzProtocol
// (see testdata/fuzz) and TestDecodeClientFrame.
var clientFrameSeeds = []struct {
	name    string
	msg     string
	err     error // nil: decodes; errAny: some JSON error
	event   string
	channel string
	data    string
}{
	{"ping", `{"event":"pusher:ping","data":{}}`, nil, "pusher:ping", "", "{}"},
	{"subscribe", `{"event":"pusher:subscribe","data":{"channel":"a","auth":"k:s","channel_data":"{\"user_id\":1}"}}`, nil, "pusher:subscribe", "", `{"channel":"a","auth":"k:s","channel_data":"{\"user_id\":1}"}`},
	{"subscribe double-encoded", `{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}`, nil, "pusher:subscribe", "", `{"channel":"a"}`},
	{"client event", `{"event":"client-x","channel":"private-a","data":{"t":"hi"}}`, nil, "client-x", "private-a", `{"t":"hi"}`},
	{"client event string", `{"event":"client-x","channel":"private-a","data":"hi"}`, nil, "client-x", "private-a", `hi`},
	{"no data", `{"event":"pusher:ping"}`, nil, "pusher:ping", "", ""},
	{"spaces", " \n{\"event\":\"e\"} ", nil, "e", "", ""},
	{"empty", ``, errNotObject, "", "", ""},
	{"array", `[]`, errNotObject, "", "", ""},
	{"string", `"x"`, errNotObject, "", "", ""},
	{"no event", `{}`, errNoEvent, "", "", ""},
	{"event null", `{"event":null}`, errNoEvent, "", "", ""},
	{"event number", `{"event":1}`, errAny, "", "", ""},
	{"truncated", `{"event":"a","data":{`, errAny, "", "", ""},
	{"bad string in data", `{"event":"a","data":"\x"}`, errAny, "", "", ""},
	{"deep nesting", `{"event":"a","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, errAny, "", "", ""},
}

var errAny = errors.New("any error")

func TestDecodeClientFrame(t *testing.T) {
	for _, tc := range clientFrameSeeds {
		t.Run(tc.name, func(t *testing.T) {
			f, err := decodeClientFrame([]byte(tc.msg))
			switch {
			case tc.err == errAny:
				if err == nil {
					t.Errorf("decoded %+v", f)
				}
			case !errors.Is(err, tc.err):
				t.Errorf("error %v, want %v", err, tc.err)
			case err == nil && (f.Event != tc.event || f.Channel != tc.channel || string(f.Data) != tc.data):
				t.Errorf("got %+v", f)
			}
		})
	}
}

// FuzzProtocol feeds client messages to the decoder and to the decoders
// of each event's data: none may panic, and a decoded frame's data
// survives the wire encoding unchanged.
func FuzzProtocol(f *testing.F) {
	for _, tc := range clientFrameSeeds {
		f.Add([]byte(tc.msg))
	}
	lim := Limits{}.withDefaults()
	f.Fuzz(func(t *testing.T, b []byte) {
		cf, err := decodeClientFrame(b)
		if err != nil {
			return
		}
		if cf.Event == "" {
			t.Fatal("decoded a frame without an event")
		}
		var sd subscribeData
		if decodeObject(cf.Data, &sd) == nil {
			_, _ = channelKind(sd.Channel)
			_ = validChannel(sd.Channel, lim.MaxChannelName)
			if sd.ChannelData != nil {
				if m, err := parseMember(*sd.ChannelData, lim); err == nil && (m.UserID == "" || len(m.Info) > lim.MaxUserInfo) {
					t.Fatalf("accepted member %+v", m)
				}
			}
		}
		var si signinData
		if decodeObject(cf.Data, &si) == nil {
			if u, err := parseUserData(si.UserData, lim); err == nil && u.ID == "" {
				t.Fatal("accepted user_data without id")
			}
		}
		if !utf8.ValidString(string(cf.Data)) {
			return // the engine hands over valid UTF-8 text only
		}
		out := wireFrame{Event: cf.Event, Channel: cf.Channel, Data: cf.Data}.encode()
		var back wireFrame
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("our frame %q does not decode: %v", out, err)
		}
		if back.Data != cf.Data || back.Event != cf.Event {
			t.Fatalf("round trip %q → %q", cf.Data, back.Data)
		}
	})
}
