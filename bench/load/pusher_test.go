package load

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fuzz seeds in testdata")

// pusherCases feed TestParsePusher and, as seeds, FuzzPusherFrame.
var pusherCases = []struct {
	name                 string
	in                   string
	event, channel, data string
	ok                   bool
}{
	{"connection established", `{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}`,
		"pusher:connection_established", "", `{\"socket_id\":\"1.2\",\"activity_timeout\":120}`, true},
	{"subscription succeeded", `{"event":"pusher_internal:subscription_succeeded","channel":"c-7","data":"{}"}`,
		"pusher_internal:subscription_succeeded", "c-7", "{}", true},
	{"bench event", `{"event":"bench","channel":"c-0","data":"3,1764457000123456789,xx"}`, "bench", "c-0", "3,1764457000123456789,xx", true},
	{"error, data an object", `{"event":"pusher:error","data":{"message":"over capacity","code":4100}}`,
		"pusher:error", "", `{"message":"over capacity","code":4100}`, true},
	{"error without a code", `{"event":"pusher:error","data":{"message":"x, y}","code":null}}`,
		"pusher:error", "", `{"message":"x, y}","code":null}`, true},
	{"ping", `{"event":"pusher:ping","data":{}}`, "pusher:ping", "", "{}", true},
	{"spaces", " { \"event\" : \"e\" ,\n\"data\":\t\"d\" } ", "e", "", "d", true},
	{"other fields", `{"user_id":"u","event":"client-x","n":[1,{"a":"]"}],"data":"q","t":true}`, "client-x", "", "q", true},
	{"escaped quote", `{"event":"e\"x","data":""}`, `e\"x`, "", "", true},
	{"empty object", `{}`, "", "", "", true},
	{"cut short in data", `{"event":"bench","channel":"c-0","data":"3,17`, "", "", "", false},
	{"cut short after a value", `{"event":"bench"`, "", "", "", false},
	{"not an object", `["event","bench"]`, "", "", "", false},
	{"trailing bytes", `{"event":"e"}x`, "", "", "", false},
	{"control character", "{\"event\":\"a\x01\"}", "", "", "", false},
	{"missing colon", `{"event" "e"}`, "", "", "", false},
	{"key not a string", `{event:"e"}`, "", "", "", false},
	{"empty value", `{"event":}`, "", "", "", false},
}

func TestParsePusher(t *testing.T) {
	for _, c := range pusherCases {
		t.Run(c.name, func(t *testing.T) {
			ev, ch, data, ok := parsePusher([]byte(c.in))
			if ok != c.ok || string(ev) != c.event || string(ch) != c.channel || string(data) != c.data {
				t.Fatalf("got %q %q %q %v; want %q %q %q %v", ev, ch, data, ok, c.event, c.channel, c.data, c.ok)
			}
		})
	}
}

// TestPusherSeeds keeps the fuzz corpus in testdata in step with the table
// (go test -run TestPusherSeeds -update rewrites it).
func TestPusherSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPusherFrame")
	for _, c := range pusherCases {
		file := filepath.Join(dir, c.name)
		want := []byte("go test fuzz v1\n[]byte(" + strconv.Quote(c.in) + ")\n")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v; run go test -run TestPusherSeeds -update", file, err)
		}
	}
}

// FuzzPusherFrame checks that parsePusher never panics, accepts every JSON
// object, and reads its event, channel and data as encoding/json does.
func FuzzPusherFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		ev, ch, data, ok := parsePusher(p)
		var obj map[string]json.RawMessage
		if json.Unmarshal(p, &obj) != nil || obj == nil || !json.Valid(p) {
			return // lax beyond JSON: only valid objects are checked
		}
		if !ok {
			t.Fatalf("valid object %q refused", p)
		}
		for _, f := range []struct {
			key string
			got []byte
		}{{"event", ev}, {"channel", ch}, {"data", data}} {
			raw, present := obj[f.key]
			switch {
			case !present:
				if f.got != nil {
					t.Fatalf("%s: got %q from %q, not there", f.key, f.got, p)
				}
			case len(raw) > 0 && raw[0] == '"':
				var want, got string
				_ = json.Unmarshal(raw, &want)
				if err := json.Unmarshal(append(append([]byte{'"'}, f.got...), '"'), &got); err != nil || got != want {
					t.Fatalf("%s: got %q from %q, want %q", f.key, f.got, p, want)
				}
			default:
				if !bytes.Equal(bytes.TrimSpace(f.got), bytes.TrimSpace(raw)) {
					t.Fatalf("%s: got %q from %q, want %q", f.key, f.got, p, raw)
				}
			}
		}
	})
}
