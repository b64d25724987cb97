package tlsconn_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wssd/wssd/tlsconn"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzFeedSplit from splitCases")

// splitCases are ways to cut the client's byte stream before feeding it:
// each byte of split is the size of the next Feed, in turn (0: all that is
// left of what arrived). They are FuzzFeedSplit's seed corpus, kept in
// testdata/fuzz/FuzzFeedSplit by TestFeedSplit -update.
var splitCases = []struct {
	name  string
	split []byte
}{
	{"whole", nil},
	{"byte_by_byte", []byte{1}},
	{"inside_headers", []byte{3, 2}},
	{"header_sized", []byte{5}},
	{"odd_sizes", []byte{7, 1, 255, 2, 0, 13}},
	{"large", []byte{255}},
}

// splitMsg spans several records: Go clients start with small ones.
var splitMsg = payload(20000)

// checkFeedSplit runs an echo over TLS 1.2 and 1.3, passing the client's
// bytes to the server in the chunks split asks for, with Feed and then
// AppendPlaintext, or after the handshake with AppendDecrypted, and checks
// that the same plaintext comes out.
func checkFeedSplit(t *testing.T, h *tlsconn.Handshaker, split []byte) {
	for _, v := range versions {
		for _, lend := range []bool{false, true} {
			client, side := newBufPipe()
			s := newTestServer(serverConfig(), h, side)
			s.split, s.lend = split, lend
			runEcho(t, client, s, clientConfig(v.version), splitMsg)
		}
	}
}

func TestFeedSplit(t *testing.T) {
	t.Parallel()
	h := tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	t.Cleanup(h.Close)
	dir := filepath.Join("testdata", "fuzz", "FuzzFeedSplit")
	for _, tc := range splitCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.split)
			path := filepath.Join(dir, tc.name)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if b, err := os.ReadFile(path); err != nil || string(b) != seed {
				t.Errorf("%s is missing or stale; run go test -run TestFeedSplit -update", path)
			}
			checkFeedSplit(t, h, tc.split)
		})
	}
}

// FuzzFeedSplit feeds a real client's byte stream split at fuzzer-chosen
// points. Each execution runs fresh handshakes, so no recording of
// non-deterministic crypto is needed.
func FuzzFeedSplit(f *testing.F) {
	h := sync.OnceValue(func() *tlsconn.Handshaker {
		return tlsconn.NewHandshaker(tlsconn.HandshakerConfig{})
	})
	f.Cleanup(func() { h().Close() })
	f.Fuzz(func(t *testing.T, split []byte) {
		if len(split) > 64 {
			split = split[:64]
		}
		if strings.Count(string(split), "\x01") > 4 {
			// Mostly 1-byte feeds: correct, but slow to run often.
			t.Skip()
		}
		checkFeedSplit(t, h(), split)
	})
}
