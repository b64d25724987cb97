package cluster

import (
	"encoding/json"
	"reflect"
	"testing"
)

// bodySeeds are NATS message bodies of every kind, well formed or not;
// they feed the decoders' table test and fuzz targets.
var bodySeeds = []struct {
	name string
	body string
}{
	{"heartbeat", `{"node":7,"id":"7.0123456789abcdef"}`},
	{"goodbye", `{"node":7,"id":"7.0123456789abcdef","bye":true}`},
	{"heartbeat revived", `{"node":7,"id":"7.0123456789abcdef","revived":"3.fedcba9876543210"}`},
	{"heartbeat wrong node", `{"node":8,"id":"7.01"}`},
	{"heartbeat node out of range", `{"node":70000,"id":"70000.01"}`},
	{"request channel", `{"kind":"channel","channel":"presence-room"}`},
	{"request channels", `{"kind":"channels","prefix":"presence-"}`},
	{"request online", `{"kind":"online","user":"u1"}`},
	{"request unknown", `{"kind":"drop tables"}`},
	{"answer channels", `{"id":"2.ff","channels":{"presence-room":{"subscriptions":2,"members":["u1","u2"]}}}`},
	{"answer members", `{"id":"2.ff","members":[{"id":"u1","info":{"name":"x"}},{"id":"u2"}]}`},
	{"answer sockets", `{"id":"2.ff","sockets":["1.2","3.4"],"connections":3}`},
	{"answer cache", `{"id":"2.ff","cache":[{"channel":"cache-x","frame":"eyJldmVudCI6ImV2In0=","ttl":1800000000000}]}`},
	{"request cache", `{"kind":"cache"}`},
	{"socket op bind", `{"app":"1","kind":"bind_uid","socket":"3.2000000001","arg":"bob"}`},
	{"socket op terminate", `{"app":"1","kind":"terminate","arg":"bob"}`},
	{"op reply closed", `{"n":3}`},
	{"op reply error", `{"code":"unknown_socket","err":"push: unknown socket \"3.2\""}`},
	{"answer without id", `{"connections":3}`},
	{"not json", `{"node":`},
	{"null", `null`},
	{"array", `[1,2]`},
}

// TestDecoders: each body is refused by every decoder not of its kind or
// decodes to what re-encodes as an equal value.
func TestDecoders(t *testing.T) {
	for _, tc := range bodySeeds {
		t.Run(tc.name, func(t *testing.T) { checkDecoders(t, []byte(tc.body)) })
	}
	if _, err := decodeHeartbeat([]byte(bodySeeds[0].body)); err != nil {
		t.Errorf("heartbeat refused: %v", err)
	}
	if _, err := decodeHeartbeat([]byte(`{"node":8,"id":"7.01"}`)); err == nil {
		t.Error("a heartbeat whose id is not its node's accepted")
	}
	if _, err := decodeRequest([]byte(`{"kind":"drop tables"}`)); err == nil {
		t.Error("an unknown query kind accepted")
	}
	if _, err := decodeAnswer([]byte(`{"connections":3}`)); err == nil {
		t.Error("an answer without id accepted")
	}
}

func checkDecoders(t *testing.T, b []byte) {
	t.Helper()
	if h, err := decodeHeartbeat(b); err == nil {
		roundTrip(t, h, decodeHeartbeat)
	}
	if r, err := decodeRequest(b); err == nil {
		roundTrip(t, r, decodeRequest)
	}
	if a, err := decodeAnswer(b); err == nil {
		roundTrip(t, a, decodeAnswer)
	}
	if op, err := decodeSocketOp(b); err == nil {
		roundTrip(t, op, decodeSocketOp)
	}
	if r, err := decodeOpReply(b); err == nil {
		roundTrip(t, r, decodeOpReply)
	}
}

// roundTrip checks that v encodes to a body that decodes to v.
func roundTrip[T any](t *testing.T, v T, decode func([]byte) (T, error)) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%+v does not encode: %v", v, err)
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("%s, encoded from %+v, does not decode: %v", b, v, err)
	}
	b2, _ := json.Marshal(again)
	if !reflect.DeepEqual(b, b2) {
		t.Fatalf("round trip changed %s to %s", b, b2)
	}
}

// FuzzMessage feeds every decoder of a NATS message body.
func FuzzMessage(f *testing.F) {
	for _, tc := range bodySeeds {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecoders(t, b) })
}
