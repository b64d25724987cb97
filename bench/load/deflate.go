package load

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// deflateOffer is the permessage-deflate offer a Target with Deflate makes:
// Chrome's, so that servers answer as they answer browsers (the client
// keeps its context, the server chooses for its own side).
const deflateOffer = "permessage-deflate; client_max_window_bits"

// deflateParams is what a server accepted of deflateOffer.
type deflateParams struct {
	// serverNoContext: each message the server sends is compressed on its
	// own; otherwise the client keeps a window of what it received.
	serverNoContext bool
	// serverBits and clientBits are the windows' logarithms (15 when the
	// answer does not narrow them).
	serverBits, clientBits int
}

// parseDeflateAnswer reads the Sec-WebSocket-Extensions lines of an upgrade
// response. It returns nil when the server accepted no extension, and an
// error when it answered with something the client did not offer.
func parseDeflateAnswer(resp []byte) (*deflateParams, error) {
	var p *deflateParams
	for line := range strings.SplitSeq(string(resp), "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Sec-WebSocket-Extensions") {
			continue
		}
		for ext := range strings.SplitSeq(value, ",") {
			params := strings.Split(ext, ";")
			if strings.TrimSpace(params[0]) != "permessage-deflate" || p != nil {
				return nil, fmt.Errorf("load: the server answered extension %q", strings.TrimSpace(ext))
			}
			p = &deflateParams{serverBits: 15, clientBits: 15}
			for _, param := range params[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
				v = strings.Trim(strings.TrimSpace(v), `"`)
				switch strings.TrimSpace(k) {
				case "server_no_context_takeover":
					p.serverNoContext = true
				case "client_no_context_takeover": // the client keeps none anyway
				case "server_max_window_bits", "client_max_window_bits":
					bits, err := strconv.Atoi(v)
					if err != nil || bits < 8 || bits > 15 {
						return nil, fmt.Errorf("load: the server answered %q", param)
					}
					if strings.HasPrefix(strings.TrimSpace(k), "server") {
						p.serverBits = bits
					} else {
						p.clientBits = bits
					}
				default:
					return nil, fmt.Errorf("load: the server answered parameter %q", param)
				}
			}
		}
	}
	return p, nil
}

// compressMessage returns payload as the client sends it compressed: on its
// own (the client never uses its context, which every answer allows), with
// distances within 2^bits, the sync-flush tail removed.
func compressMessage(payload []byte, bits int) []byte {
	var buf bytes.Buffer
	w, ok := encoders[bits-8].Get().(*flate.Writer)
	switch {
	case ok:
		w.Reset(&buf)
	case bits < 15:
		w, _ = flate.NewWriterWindow(&buf, 1<<bits)
	default:
		w, _ = flate.NewWriter(&buf, 6) // zlib's default, as browsers compress
	}
	_, _ = w.Write(payload) // a bytes.Buffer does not fail
	_ = w.Flush()
	encoders[bits-8].Put(w)
	return bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

// encoders are compressMessage's, by window bits from 8 to 15.
var encoders [8]sync.Pool

// inflateTail ends every compressed message given to the decoder: the
// sync-flush tail the sender removed, then an empty final block, so that
// the decoder stops at io.EOF.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// decoders are shared by a process's connections, borrowed per message.
var decoders sync.Pool

// inflater is what a connection keeps to read compressed messages: the
// window of what it received, when the server takes its context over.
type inflater struct {
	window []byte
	keep   int // window size; 0: the server takes no context over
	in     bytes.Reader
}

func newInflater(p *deflateParams) *inflater {
	f := &inflater{}
	if !p.serverNoContext {
		f.keep = 1 << p.serverBits
	}
	return f
}

// inflate appends the message msg inflates to dst. msg must have room for
// inflateTail: it is appended to it.
func (f *inflater) inflate(dst, msg []byte) ([]byte, error) {
	f.in.Reset(append(msg, inflateTail...))
	r, ok := decoders.Get().(io.ReadCloser)
	if ok {
		if err := r.(flate.Resetter).Reset(&f.in, f.window); err != nil {
			return dst, err
		}
	} else {
		r = flate.NewReaderDict(&f.in, f.window)
	}
	defer decoders.Put(r)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
		if len(dst)-start > 1<<30 {
			return dst, errFrame
		}
	}
	if f.keep > 0 {
		out := dst[start:]
		if len(out) >= f.keep {
			f.window = append(f.window[:0], out[len(out)-f.keep:]...)
		} else {
			if drop := len(f.window) + len(out) - f.keep; drop > 0 {
				f.window = f.window[:copy(f.window, f.window[drop:])]
			}
			f.window = append(f.window, out...)
		}
	}
	return dst, nil
}
