package load

import (
	"bytes"
	"errors"
	"fmt"
)

// The client's side of Centrifugo's JSON protocol (client protocol v2), as
// little of it as the push scenarios need: a connect command after the
// upgrade and its reply, a subscribe command and its reply, the
// publications pushed on the channel, and the server's ping (an empty
// object) answered with an empty object. The server may send several
// replies in one message, one a line.

// CentrifugoPath is where Centrifugo serves its bidirectional WebSocket.
const CentrifugoPath = "/connection/websocket"

var (
	centrifugoConnect = appendFrame(nil, opText, []byte(`{"id":1,"connect":{}}`))
	centrifugoPong    = appendFrame(nil, opText, []byte(`{}`))
)

// errCentrifugo is returned when the server does not answer the connect
// command with a connect reply.
var errCentrifugo = errors.New("load: no Centrifugo connect reply")

// centrifugoSubscribe appends a subscribe command to channel, a masked
// frame.
func centrifugoSubscribe(dst []byte, channel string) []byte {
	return appendFrame(dst, opText, fmt.Appendf(nil, `{"id":2,"subscribe":{"channel":%q}}`, channel))
}

// awaitConnected sends the connect command and reads frames until its
// reply.
func awaitConnected(c interface{ Write([]byte) (int, error) }, fr *frameReader) error {
	if _, err := c.Write(centrifugoConnect); err != nil {
		return err
	}
	for {
		op, _, prefix, err := fr.next()
		if err != nil {
			return err
		}
		if op != opText {
			continue // the WebSocket ping is answered once the connection runs
		}
		if _, ok := jsonField(firstLine(prefix), "connect"); ok {
			return nil
		}
		return fmt.Errorf("%w: %q", errCentrifugo, prefix)
	}
}

func firstLine(p []byte) []byte {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return p[:i]
	}
	return p
}

// centrifugoData acts on one data message of a Centrifugo connection, each
// whole line of it: a ping is answered, the subscribe reply goes to a
// subscribe task, and a publication's data to the session's task as its
// payload.
func (c *conn) centrifugoData(n int, prefix []byte) {
	whole := n <= len(prefix)
	for len(prefix) > 0 {
		line := prefix
		i := bytes.IndexByte(prefix, '\n')
		if i >= 0 {
			line, prefix = prefix[:i], prefix[i+1:]
		} else {
			prefix = nil
			if !whole {
				c.s.errs.Add(1) // longer than the client keeps
				return
			}
		}
		c.centrifugoReply(line)
	}
}

func (c *conn) centrifugoReply(line []byte) {
	if len(bytes.TrimSpace(line)) == 2 && bytes.Equal(bytes.TrimSpace(line), []byte("{}")) {
		_ = c.write(centrifugoPong)
		return
	}
	if data, isPush, ok := centrifugoPub(line); isPush {
		if ok {
			c.data(len(data), data)
		}
		return
	}
	if _, ok := jsonField(line, "error"); ok {
		c.s.errs.Add(1)
		return
	}
	if _, ok := jsonField(line, "subscribe"); ok && c.s.task.Load().kind == taskSubscribe {
		c.data(len(line), line)
	}
}

// centrifugoPub returns the data of a publication pushed to a channel,
// {"push":{"channel":...,"pub":{"data":...}}}: isPush says whether line is
// a push, ok whether it is a publication with data.
func centrifugoPub(line []byte) (data []byte, isPush, ok bool) {
	push, isPush := jsonField(line, "push")
	if !isPush {
		return nil, false, false
	}
	pub, ok := jsonField(push, "pub")
	if !ok {
		return nil, true, false
	}
	data, ok = jsonField(pub, "data")
	return data, true, ok
}
