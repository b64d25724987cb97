// Package chatmsg makes the JSON chat messages that benchmarks compress:
// deterministic (the same index and size always give the same bytes, so
// runs can be compared), and as compressible as real chat traffic, where
// field names repeat and the text is words.
package chatmsg

import (
	"math/rand/v2"
	"strconv"
)

// words are the text's vocabulary: common words, as chat is made of.
var words = []string{
	"the", "and", "you", "that", "was", "for", "are", "with", "his", "they",
	"this", "have", "from", "one", "had", "word", "but", "not", "what", "all",
	"were", "when", "your", "can", "said", "there", "use", "each", "which", "she",
	"how", "their", "will", "other", "about", "out", "many", "then", "them", "these",
	"some", "her", "would", "make", "like", "him", "into", "time", "has", "look",
	"two", "more", "write", "see", "number", "way", "could", "people", "than", "first",
	"water", "been", "call", "who", "now", "find", "long", "down", "day", "did",
	"get", "come", "made", "may", "part", "meeting", "tomorrow", "lunch", "ok", "thanks",
}

var users = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}

// Append appends to dst the i-th message of size bytes: a JSON object such
// as {"event":"message","channel":"room-7","data":{"id":…,"user":"carol",
// "ts":…,"text":"…"}} whose text is padded to the size, or for sizes too
// small for that, {"text":"…"}. It is valid UTF-8 JSON whenever size is at
// least 11; below that it is letters.
func Append(dst []byte, i, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15))
	start := len(dst)
	if size >= 120 {
		dst = append(dst, `{"event":"message","channel":"room-`...)
		dst = strconv.AppendInt(dst, int64(r.IntN(64)), 10)
		dst = append(dst, `","data":{"id":`...)
		dst = strconv.AppendInt(dst, int64(100000+i), 10)
		dst = append(dst, `,"user":"`...)
		dst = append(dst, users[r.IntN(len(users))]...)
		dst = append(dst, `","ts":`...)
		dst = strconv.AppendInt(dst, 1764457200000+int64(i)*1500, 10)
		dst = append(dst, `,"text":"`...)
		return appendText(dst, r, start+size-len(`"}}`), `"}}`)
	}
	if size >= len(`{"text":""}`) {
		dst = append(dst, `{"text":"`...)
		return appendText(dst, r, start+size-len(`"}`), `"}`)
	}
	for range size {
		dst = append(dst, byte('a'+r.IntN(26)))
	}
	return dst
}

// appendText appends words until dst is end bytes long, then tail.
func appendText(dst []byte, r *rand.Rand, end int, tail string) []byte {
	for len(dst) < end {
		w := words[r.IntN(len(words))]
		if len(dst) > 0 && dst[len(dst)-1] != '"' {
			w = " " + w
		}
		if len(dst)+len(w) > end {
			w = w[:end-len(dst)]
		}
		dst = append(dst, w...)
	}
	return append(dst, tail...)
}
