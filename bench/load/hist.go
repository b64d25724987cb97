package load

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 2 minutes, three significant digits.
const (
	histMin = 1
	histMax = int64(2 * time.Minute / time.Microsecond)
	histSig = 3
)

// NewHist returns an empty latency histogram in microseconds.
func NewHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// shards is a histogram split by connection so that recording seldom
// contends.
type shards struct {
	s [16]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
		_  [48]byte
	}
}

func newShards() *shards {
	s := new(shards)
	for i := range s.s {
		s.s[i].h = NewHist()
	}
	return s
}

func (s *shards) record(i int, d time.Duration) {
	us := max(int64(d/time.Microsecond), histMin)
	sh := &s.s[i%len(s.s)]
	sh.mu.Lock()
	_ = sh.h.RecordValue(min(us, histMax))
	sh.mu.Unlock()
}

func (s *shards) reset() {
	for i := range s.s {
		s.s[i].mu.Lock()
		s.s[i].h.Reset()
		s.s[i].mu.Unlock()
	}
}

// merged returns the sum of the shards.
func (s *shards) merged() *hdrhistogram.Histogram {
	h := NewHist()
	for i := range s.s {
		s.s[i].mu.Lock()
		h.Merge(s.s[i].h)
		s.s[i].mu.Unlock()
	}
	return h
}

// Hist is an encoded histogram that survives JSON.
type Hist []byte

// EncodeHist encodes h.
func EncodeHist(h *hdrhistogram.Histogram) Hist {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil
	}
	return b
}

// Decode returns the histogram; an empty or broken one decodes empty.
func (e Hist) Decode() *hdrhistogram.Histogram {
	if len(e) == 0 {
		return NewHist()
	}
	h, err := hdrhistogram.Decode(e)
	if err != nil {
		return NewHist()
	}
	return h
}
