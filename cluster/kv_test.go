package cluster

import (
	"slices"
	"testing"

	"github.com/wssd/wssd/push"
)

// entrySeeds are state bucket values, well formed or not; they feed
// TestEntry and FuzzEntry (and are in testdata/fuzz/FuzzEntry).
var entrySeeds = []struct {
	name string
	body string
	ok   bool
}{
	{"channel", `{"nodes":[1,3]}`, true},
	{"presence", `{"nodes":[1,2],"members":{"u1":{"info":{"name":"x"},"nodes":[1]},"u2":{"nodes":[1,2]}}}`, true},
	{"user", `{"nodes":[7]}`, true},
	{"empty", `{}`, true},
	{"null info", `{"nodes":[1],"members":{"u":{"info":null,"nodes":[1]}}}`, true},
	{"unsorted nodes", `{"nodes":[3,1]}`, false},
	{"duplicate node", `{"nodes":[1,1]}`, false},
	{"member without node", `{"nodes":[1],"members":{"u":{"nodes":[]}}}`, false},
	{"member null", `{"nodes":[1],"members":{"u":null}}`, false},
	{"empty user id", `{"nodes":[1],"members":{"":{"nodes":[1]}}}`, false},
	{"node out of range", `{"nodes":[70000]}`, false},
	{"not json", `{"nodes":`, false},
	{"array", `[1]`, false},
}

func TestEntry(t *testing.T) {
	for _, tc := range entrySeeds {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeEntry([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("decodeEntry(%s): %v, want ok %v", tc.body, err, tc.ok)
			}
			checkEntry(t, []byte(tc.body))
		})
	}
}

// checkEntry checks that a value that decodes re-encodes to one that
// decodes to the same.
func checkEntry(t *testing.T, b []byte) {
	t.Helper()
	e, err := decodeEntry(b)
	if err != nil {
		return
	}
	enc := e.encode()
	again, err := decodeEntry(enc)
	if err != nil {
		t.Fatalf("%s, encoded from %s, does not decode: %v", enc, b, err)
	}
	if enc2 := again.encode(); string(enc2) != string(enc) {
		t.Fatalf("round trip changed %s to %s", enc, enc2)
	}
	c := e.clone()
	if string(c.encode()) != string(enc) {
		t.Fatalf("clone of %s is %s", enc, c.encode())
	}
}

// FuzzEntry feeds decodeEntry.
func FuzzEntry(f *testing.F) {
	for _, tc := range entrySeeds {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkEntry(t, b) })
}

// TestDiff: the transitions between two values, in the order the protocol
// reports them.
func TestDiff(t *testing.T) {
	dec := func(s string) *entry {
		e, err := decodeEntry([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return &e
	}
	for _, tc := range []struct {
		name          string
		before, after string
		want          []push.Change
	}{
		{"occupied", `{}`, `{"nodes":[2]}`, []push.Change{{Occupied: true}}},
		{"second node", `{"nodes":[2]}`, `{"nodes":[1,2]}`, nil},
		{"first member", `{}`, `{"nodes":[1],"members":{"u":{"nodes":[1]}}}`,
			[]push.Change{{Occupied: true}, {MemberAdded: true, Member: push.Member{UserID: "u"}}}},
		{"second tab", `{"nodes":[1],"members":{"u":{"nodes":[1]}}}`, `{"nodes":[1,2],"members":{"u":{"nodes":[1,2]}}}`, nil},
		{"dead node", `{"nodes":[1,2],"members":{"a":{"nodes":[1]},"b":{"nodes":[2]},"c":{"nodes":[1,2]}}}`,
			`{"nodes":[1],"members":{"a":{"nodes":[1]},"c":{"nodes":[1]}}}`,
			[]push.Change{{MemberRemoved: true, Member: push.Member{UserID: "b"}}}},
		{"last node", `{"nodes":[2],"members":{"b":{"nodes":[2]}}}`, `{}`,
			[]push.Change{{MemberRemoved: true, Member: push.Member{UserID: "b"}}, {Vacated: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diff(dec(tc.before), dec(tc.after))
			if !slices.EqualFunc(got, tc.want, func(a, b push.Change) bool {
				return a.Occupied == b.Occupied && a.Vacated == b.Vacated && a.MemberAdded == b.MemberAdded &&
					a.MemberRemoved == b.MemberRemoved && a.Member.UserID == b.Member.UserID
			}) {
				t.Errorf("diff: %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKeys: keys parse back to their app and name, whatever the bytes.
func TestKeys(t *testing.T) {
	for _, name := range []string{"presence-room", "a.b*c>d e", "#watchlist-x", "ü"} {
		for _, k := range []struct{ kind, key string }{{keyChannel, channelKey("app.1", name)}, {keyUser, userKey("app.1", name)}} {
			kind, app, got, err := parseKey(k.key)
			if err != nil || kind != k.kind || app != "app.1" || got != name {
				t.Errorf("parseKey(%q) = %q %q %q %v", k.key, kind, app, got, err)
			}
		}
	}
	if _, _, _, err := parseKey("x.YQ.YQ"); err == nil {
		t.Error("a key of another kind parsed")
	}
}
