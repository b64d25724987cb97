package engine_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// deflateSizes is Autobahn's table for sections 12 and 13: the payload of
// each message and the size the client cuts its compressed frames to (0:
// one frame). Autobahn sends 1000 messages per row; deflateCount bounds
// that to seconds.
var deflateSizes = []struct{ size, fragment int }{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256},
	{131072, 1024}, {131072, 4096}, {131072, 32768},
}

// deflateCount is the number of messages sent for a row of deflateSizes:
// about 32 KiB in all, at most 16. The rows run one after the other on one
// connection, so a context carried over is used even by a row of one
// message.
func deflateCount(size int) int { return min(max((32<<10)/size, 1), 16) }

// deflateCorpus is a test data set of Autobahn's section 12, generated: the
// suite ships files (a JSON file, an HTML file, Goethe's Faust, a bitmap, a
// PDF); these have the same kinds of redundancy. Each message is the next
// slice of data, wrapping around, as Autobahn takes them, so that messages
// share content and context takeover matters.
type deflateCorpus struct {
	name string
	op   wsproto.Opcode
	data []byte
}

func deflateCorpora() []deflateCorpus {
	const n = 256 << 10
	return []deflateCorpus{
		{"json", wsproto.OpText, jsonish(n, 12)},
		{"html", wsproto.OpText, htmlish(n)},
		// Autobahn sends its text of Faust as binary.
		{"faust", wsproto.OpBinary, faustish(n)},
		{"bitmap", wsproto.OpBinary, bitmapish(n)},
		{"pdf", wsproto.OpBinary, pdfish(n)},
	}
}

// messages returns count messages of size bytes each, cut one after the
// other from the corpus.
func (d deflateCorpus) messages(size, count int) [][]byte {
	out := make([][]byte, count)
	at := 0
	for i := range out {
		m := make([]byte, 0, size)
		for len(m) < size {
			k := min(size-len(m), len(d.data)-at)
			m = append(m, d.data[at:at+k]...)
			at = (at + k) % len(d.data)
		}
		out[i] = m
	}
	return out
}

func htmlish(n int) []byte {
	r := rand.New(rand.NewPCG(12, 2))
	tags := []string{"div", "span", "p", "a", "li", "td"}
	var b bytes.Buffer
	b.WriteString("<!doctype html>\n<html><head><title>wssd</title></head><body>\n")
	for b.Len() < n {
		tag := tags[r.IntN(len(tags))]
		fmt.Fprintf(&b, "<%s class=\"item item-%d\" id=\"n%d\">entry %d of the list, %s</%s>\n", tag, r.IntN(20), r.IntN(100000), r.IntN(5000), words[r.IntN(len(words))], tag)
	}
	return b.Bytes()[:n]
}

var words = []string{"Habe", "nun,", "ach!", "Philosophie,", "Juristerei", "und", "Medizin,", "leider", "auch", "Theologie", "durchaus", "studiert,", "mit", "heißem", "Bemühn.", "Da", "steh", "ich", "nun,", "ich", "armer", "Tor!", "Und", "bin", "so", "klug", "als", "wie", "zuvor;", "Schüler", "Mephistopheles", "Grün"}

func faustish(n int) []byte {
	r := rand.New(rand.NewPCG(12, 3))
	var b bytes.Buffer
	for b.Len() < n {
		for range 4 + r.IntN(8) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()[:n]
}

// bitmapish is a 512 pixels wide grey-scale picture: areas of a few
// shades, with some noise.
func bitmapish(n int) []byte {
	r := rand.New(rand.NewPCG(12, 4))
	b := make([]byte, n)
	for i := range b {
		x, y := i%512, i/512
		b[i] = byte((x/32^y/32)*16 + x/128)
		if r.IntN(8) == 0 {
			b[i]++
		}
	}
	return b
}

// pdfish alternates text objects and incompressible streams.
func pdfish(n int) []byte {
	r := rand.New(rand.NewPCG(12, 5))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>\nendobj\n", i, i+1)
		fmt.Fprintf(&b, "%d 0 obj\n<< /Length 300 /Filter /FlateDecode >>\nstream\n", i+1)
		for range 300 {
			b.WriteByte(byte(r.Uint32()))
		}
		b.WriteString("\nendstream\nendobj\n")
	}
	return b.Bytes()[:n]
}

// deflateServers are the server configurations each case runs against.
var deflateServers = []struct {
	name string
	cfg  engine.Compression
}{
	{"server resets", engine.Compression{}},
	{"server keeps context", engine.Compression{ServerContextTakeover: true}},
}

// autobahnOffer is an offer as Autobahn's client makes it: it accepts
// client_no_context_takeover and client_max_window_bits, and may ask the
// server to reset its context and to narrow its window.
func autobahnOffer(resetServer bool, serverBits int) string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if resetServer {
		s += "; server_no_context_takeover"
	}
	if serverBits != 0 {
		s += fmt.Sprintf("; server_max_window_bits=%d", serverBits)
	}
	return s
}

// TestConformanceDeflateMessages is Autobahn section 12: messages of each
// size, compressed by the client with the standard library's encoder and
// cut into frames of each size, come back as sent, over Autobahn's default
// offer, for each kind of data. A last group offers what browsers offer,
// so that the client keeps its context too.
func TestConformanceDeflateMessages(t *testing.T) {
	t.Parallel()
	type group struct {
		name  string
		offer string
		data  deflateCorpus
	}
	var groups []group
	for i, d := range deflateCorpora() {
		groups = append(groups, group{fmt.Sprintf("12.%d %s", i+1, d.name), autobahnOffer(false, 0), d})
	}
	groups = append(groups, group{"browser offer json", "permessage-deflate; client_max_window_bits", deflateCorpora()[0]})
	for _, srvCfg := range deflateServers {
		t.Run(srvCfg.name, func(t *testing.T) {
			t.Parallel()
			forEachTransport(t, func(t *testing.T, tr transport) {
				cfg := srvCfg.cfg
				srv := startServer(t, tr, engine.Config{Compression: &cfg}, echo{})
				for _, g := range groups {
					t.Run(g.name, func(t *testing.T) {
						runDeflateTable(t, srv, g.offer, g.data)
					})
				}
			})
		})
	}
}

// TestConformanceDeflateOffers is Autobahn section 13: the JSON data of
// section 12 over each of Autobahn's offers, in which the client asks the
// server to reset its context, to narrow its window to 2^8 or 2^15 bytes,
// both, or makes three offers in one header. Each answer is checked, and
// every back reference of the server's messages is checked to stay within
// the window it answered.
func TestConformanceDeflateOffers(t *testing.T) {
	t.Parallel()
	offers := []struct {
		name   string
		offer  string
		answer [2]string // by deflateServers
	}{
		{"13.1 default", autobahnOffer(false, 0), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
		}},
		{"13.2 server_no_context_takeover", autobahnOffer(true, 0), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15",
		}},
		{"13.3 server_max_window_bits=8", autobahnOffer(false, 8), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
		}},
		{"13.4 server_max_window_bits=15", autobahnOffer(false, 15), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15",
		}},
		{"13.5 both, 8 bits", autobahnOffer(true, 8), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
		}},
		{"13.6 both, 15 bits", autobahnOffer(true, 15), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15",
		}},
		{"13.7 three offers", autobahnOffer(true, 8) + ", " + autobahnOffer(true, 0) + ", " + autobahnOffer(false, 0), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=15",
		}},
		// Beyond Autobahn: 9 bits, which zlib-based clients ask for when
		// they mean 8.
		{"server_max_window_bits=9", autobahnOffer(false, 9), [2]string{
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=15",
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=15",
		}},
	}
	json := deflateCorpora()[0]
	for si, srvCfg := range deflateServers {
		t.Run(srvCfg.name, func(t *testing.T) {
			t.Parallel()
			forEachTransport(t, func(t *testing.T, tr transport) {
				cfg := srvCfg.cfg
				srv := startServer(t, tr, engine.Config{Compression: &cfg}, echo{})
				for _, o := range offers {
					t.Run(o.name, func(t *testing.T) {
						c := srv.dial(t, wstest.DialOptions{Header: extensionHeader(o.offer)})
						if got := c.Response.Header.Get("Sec-WebSocket-Extensions"); got != o.answer[si] {
							t.Fatalf("offer %q answered %q, want %q", o.offer, got, o.answer[si])
						}
						closeCleanly(t, c)
						runDeflateTable(t, srv, o.offer, json)
					})
				}
			})
		})
	}
}

// deflateSession is a client connection that negotiated permessage-deflate
// as Autobahn's client does: it takes its context over only when the answer
// lets it, and reads the server's messages with the context the answer
// says.
type deflateSession struct {
	c        *wstest.Client
	p        *deflatePeer
	answer   wsproto.DeflateParams
	narrowed bool // the answer narrowed the server's window below 2^15
}

func newDeflateSession(t *testing.T, srv *testServer, offer string) *deflateSession {
	t.Helper()
	c := srv.dial(t, wstest.DialOptions{Header: extensionHeader(offer)})
	answer, ok := parseAnswer(c.Response.Header.Get("Sec-WebSocket-Extensions"))
	if !ok {
		t.Fatalf("offer %q answered %q", offer, c.Response.Header.Get("Sec-WebSocket-Extensions"))
	}
	return &deflateSession{
		c:      c,
		p:      newDeflatePeer(!answer.ClientNoContextTakeover, !answer.ServerNoContextTakeover),
		answer: answer,
		// DEFLATE cannot refer further back than 2^15 bytes: compress/flate
		// checks that. A narrower window needs farthestReference.
		narrowed: answer.ServerMaxWindowBits != 0 && answer.ServerMaxWindowBits < 15,
	}
}

// run sends deflateCount(size) messages of data compressed, each cut into
// frames of fragment bytes, waiting for each echo as Autobahn does, and
// checks the echo; the back references of each compressed one are checked
// against the answered server_max_window_bits.
func (s *deflateSession) run(t *testing.T, data deflateCorpus, size, fragment int) {
	t.Helper()
	compressed := 0
	for i, msg := range data.messages(size, deflateCount(size)) {
		z := s.p.compress(msg)
		frames := fragments(data.op, z, orWhole(fragment, len(z)))
		frames[0].Rsv = 0b100
		if err := s.c.Write(frames...); err != nil {
			t.Fatal(err)
		}
		h, payload, err := s.c.ReadFrame(0)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !h.Fin || h.Op != data.op || h.Rsv&^0b100 != 0 {
			t.Fatalf("message %d: server frame fin=%v op=%v rsv=%03b, want one %v frame", i, h.Fin, h.Op, h.Rsv, data.op)
		}
		got := payload
		if h.Rsv != 0 {
			compressed++
			if s.narrowed {
				_, far, err := farthestReference(payload, s.p.hist)
				if err != nil {
					t.Fatalf("message %d: the server's DEFLATE data: %v", i, err)
				}
				if window := 1 << s.answer.ServerMaxWindowBits; far > window {
					t.Fatalf("message %d: a back reference %d bytes far, beyond the window of %d the answer set", i, far, window)
				}
			}
			if got, err = s.p.inflate(payload); err != nil {
				t.Fatalf("message %d: inflating the server's message: %v", i, err)
			}
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d: echo %s, want %s", i, brief(got), brief(msg))
		}
	}
	if size >= 1024 && compressed == 0 {
		t.Errorf("no message of %d bytes came back compressed", size)
	}
}

// runDeflateTable runs every row of deflateSizes with data, on one
// connection that offered offer (Autobahn opens one per row: here the
// contexts also carry over from row to row), and ends it with a clean
// closing handshake.
func runDeflateTable(t *testing.T, srv *testServer, offer string, data deflateCorpus) {
	t.Helper()
	s := newDeflateSession(t, srv, offer)
	for i, row := range deflateSizes {
		ok := t.Run(fmt.Sprintf("%d %d bytes fragment %d", i+1, row.size, row.fragment), func(t *testing.T) {
			s.run(t, data, row.size, row.fragment)
		})
		if !ok {
			return // the connection is out of step
		}
	}
	closeCleanly(t, s.c)
}

// orWhole returns the fragment size a, or b (at least 1) when a is zero.
func orWhole(a, b int) int {
	if a == 0 {
		return max(b, 1)
	}
	return a
}

// parseAnswer reads the server's permessage-deflate answer.
func parseAnswer(s string) (wsproto.DeflateParams, bool) {
	var p wsproto.DeflateParams
	name, rest, _ := strings.Cut(s, ";")
	if strings.TrimSpace(name) != "permessage-deflate" {
		return p, false
	}
	for prm := range strings.SplitSeq(rest, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(prm), "=")
		var bits int
		if v != "" {
			if _, err := fmt.Sscan(v, &bits); err != nil {
				return p, false
			}
		}
		switch k {
		case "server_no_context_takeover":
			p.ServerNoContextTakeover = true
		case "client_no_context_takeover":
			p.ClientNoContextTakeover = true
		case "server_max_window_bits":
			p.ServerMaxWindowBits = bits
		case "client_max_window_bits":
			p.ClientMaxWindowBits = bits
		case "":
		default:
			return p, false
		}
	}
	return p, true
}

// farthestReference decodes a message's DEFLATE data (RFC 1951), the
// sync-flush tail put back, after the window hist, and returns the longest
// distance of its back references (what a peer's window must hold to read
// it) and the data. compress/flate cannot say, and zlib enforces its window
// only across calls. The decoder is written from RFC 1951 for this check
// alone; the caller compares its output with compress/flate's.
func farthestReference(msg, hist []byte) (out []byte, far int, err error) {
	d := &distanceDecoder{in: append(bytes.Clone(msg), syncTail...), out: bytes.Clone(hist)}
	for {
		if d.pos >= len(d.in) {
			return d.out[len(hist):], d.far, nil // the stream goes on in the next message
		}
		final := d.bits(1)
		var err error
		switch d.bits(2) {
		case 0:
			err = d.stored()
		case 1:
			err = d.block(fixedLit, fixedDist)
		case 2:
			var lit, dist huffman
			if lit, dist, err = d.dynamic(); err == nil {
				err = d.block(lit, dist)
			}
		default:
			err = errors.New("block type 3")
		}
		if err == nil && d.err != nil {
			err = d.err
		}
		if err != nil {
			return nil, 0, err
		}
		if final == 1 {
			return d.out[len(hist):], d.far, nil
		}
	}
}

type distanceDecoder struct {
	in       []byte
	pos      int // next byte of in
	buf, cnt uint
	out      []byte
	far      int
	err      error
}

func (d *distanceDecoder) bits(n uint) int {
	for d.cnt < n {
		if d.pos >= len(d.in) {
			d.err = errors.New("truncated")
			return 0
		}
		d.buf |= uint(d.in[d.pos]) << d.cnt
		d.pos++
		d.cnt += 8
	}
	v := d.buf & (1<<n - 1)
	d.buf >>= n
	d.cnt -= n
	return int(v)
}

func (d *distanceDecoder) stored() error {
	d.buf, d.cnt = 0, 0 // to the byte boundary
	if d.pos+4 > len(d.in) {
		return errors.New("truncated stored block")
	}
	n := int(d.in[d.pos]) | int(d.in[d.pos+1])<<8
	if n^0xffff != int(d.in[d.pos+2])|int(d.in[d.pos+3])<<8 {
		return errors.New("stored block length")
	}
	d.pos += 4
	if d.pos+n > len(d.in) {
		return errors.New("truncated stored block")
	}
	d.out = append(d.out, d.in[d.pos:d.pos+n]...)
	d.pos += n
	return nil
}

// huffman is a canonical Huffman code: count[l] codes of length l, symbols
// in code order.
type huffman struct {
	count   [16]int
	symbols []int
}

func newHuffman(lengths []int) huffman {
	var h huffman
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	var offs [16]int
	for l := 1; l < 16; l++ {
		offs[l] = offs[l-1] + h.count[l-1]
	}
	h.symbols = make([]int, len(lengths))
	for s, l := range lengths {
		if l != 0 {
			h.symbols[offs[l]] = s
			offs[l]++
		}
	}
	return h
}

func (d *distanceDecoder) decode(h huffman) int {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		code |= d.bits(1)
		n := h.count[l]
		if code-first < n {
			return h.symbols[index+code-first]
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	d.err = errors.New("invalid Huffman code")
	return 0
}

var (
	lengthBase  = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = []uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = []uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	fixedLit    = newHuffman(fixedLitLengths())
	fixedDist   = newHuffman(repeatInt(5, 30))
	clOrder     = []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

func fixedLitLengths() []int {
	l := make([]int, 288)
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	return l
}

func repeatInt(v, n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = v
	}
	return l
}

func (d *distanceDecoder) dynamic() (lit, dist huffman, err error) {
	nlit, ndist, ncl := d.bits(5)+257, d.bits(5)+1, d.bits(4)+4
	cl := make([]int, 19)
	for i := range ncl {
		cl[clOrder[i]] = d.bits(3)
	}
	clCode := newHuffman(cl)
	lengths := make([]int, 0, nlit+ndist)
	for len(lengths) < nlit+ndist && d.err == nil {
		sym := d.decode(clCode)
		switch {
		case sym < 16:
			lengths = append(lengths, sym)
		case sym == 16:
			if len(lengths) == 0 {
				return lit, dist, errors.New("repeat without a length")
			}
			prev := lengths[len(lengths)-1]
			for range 3 + d.bits(2) {
				lengths = append(lengths, prev)
			}
		case sym == 17:
			lengths = append(lengths, make([]int, 3+d.bits(3))...)
		default:
			lengths = append(lengths, make([]int, 11+d.bits(7))...)
		}
	}
	if len(lengths) != nlit+ndist {
		return lit, dist, errors.New("code lengths overflow")
	}
	return newHuffman(lengths[:nlit]), newHuffman(lengths[nlit:]), d.err
}

func (d *distanceDecoder) block(lit, dist huffman) error {
	for d.err == nil {
		sym := d.decode(lit)
		switch {
		case sym < 256:
			d.out = append(d.out, byte(sym))
		case sym == 256:
			return nil
		case sym-257 >= len(lengthBase):
			return errors.New("invalid length code")
		default:
			n := lengthBase[sym-257] + d.bits(lengthExtra[sym-257])
			ds := d.decode(dist)
			if ds >= len(distBase) {
				return errors.New("invalid distance code")
			}
			far := distBase[ds] + d.bits(distExtra[ds])
			if far > len(d.out) {
				return fmt.Errorf("a reference %d bytes back, %d decoded", far, len(d.out))
			}
			d.far = max(d.far, far)
			for range n {
				d.out = append(d.out, d.out[len(d.out)-far])
			}
		}
	}
	return d.err
}

// TestFarthestReference checks the distance check itself on streams of the
// standard library's encoder: it decodes what compress/flate decodes, and
// finds a reference as far back as the repeated data.
func TestFarthestReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 3000)
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	cases := []struct {
		name     string
		hist     []byte
		msg      []byte
		min, max int
	}{
		{"no repeat", nil, block, 0, 0},
		{"repeat 3000 back", nil, append(bytes.Clone(block), block...), 3000, 3000},
		{"repeat into the window", block, block[:1000], 3000, 3000},
		{"text", nil, jsonish(20000, 1), 1, 32 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newDeflatePeer(false, true)
			p.hist = tc.hist
			var z bytes.Buffer
			w, _ := flate.NewWriterDict(&z, flate.BestCompression, tc.hist)
			_, _ = w.Write(tc.msg)
			_ = w.Flush()
			payload := bytes.TrimSuffix(z.Bytes(), syncTail)
			out, far, err := farthestReference(payload, tc.hist)
			if err != nil {
				t.Fatal(err)
			}
			if far < tc.min || far > tc.max {
				t.Errorf("farthest reference %d, want %d to %d", far, tc.min, tc.max)
			}
			want, err := p.inflate(payload)
			if err != nil || !bytes.Equal(out, want) || !bytes.Equal(out, tc.msg) {
				t.Errorf("decoded %s, compress/flate %s (%v), sent %s", brief(out), brief(want), err, brief(tc.msg))
			}
		})
	}
}

// TestConformanceDeflateLimit: MaxMessageSize bounds a compressed message
// by its inflated size. Data that does not compress takes a few more bytes
// compressed (stored blocks; zlib with a narrow window codes bytes in up to
// 9 bits), and a message of the limit must not be refused for that.
func TestConformanceDeflateLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	random := rand.New(rand.NewPCG(12, 6))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(random.Uint32())
		}
		return b
	}
	cases := []struct {
		name     string
		msg      []byte
		fragment int
		tooBig   bool
	}{
		{"incompressible, the limit", noise(limit), 0, false},
		{"incompressible, the limit, in frames of 1000", noise(limit), 1000, false},
		{"incompressible, a byte over", noise(limit + 1), 0, true},
		{"compressible, a byte over", bytes.Repeat([]byte("a"), limit+1), 0, true},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv := startServer(t, tr, engine.Config{Compression: &engine.Compression{}, MaxMessageSize: limit}, echo{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := srv.dial(t, wstest.DialOptions{Header: extensionHeader("permessage-deflate; client_no_context_takeover")})
				p := newDeflatePeer(false, false)
				z := p.compress(tc.msg)
				frames := fragments(wsproto.OpBinary, z, orWhole(tc.fragment, len(z)))
				frames[0].Rsv = 0b100
				if err := c.Write(frames...); err != nil {
					t.Fatal(err)
				}
				if tc.tooBig {
					expectFail(t, c, wsproto.CloseMessageTooBig)
					return
				}
				t.Logf("%d bytes compressed to %d", len(tc.msg), len(z))
				if _, got, _ := p.readMessage(t, c); !bytes.Equal(got, tc.msg) {
					t.Fatalf("echo %s, want %s", brief(got), brief(tc.msg))
				}
				closeCleanly(t, c)
			})
		}
	})
}
