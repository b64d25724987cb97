package push

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wssd/wssd/engine"
)

// Config configures a Server. It must not be modified after New.
type Config struct {
	// Apps are the apps served. Required.
	Apps *Apps
	// State holds the cross-connection state; nil uses NewLocalState.
	State State
	// Hook receives the webhook-worthy events; nil drops them.
	Hook Hook
	// Logger receives protocol errors at Debug; nil discards them.
	Logger *slog.Logger
	// Node tells this process's socket ids apart from other nodes' in a
	// cluster: the second number of every socket id starts with it.
	Node uint16
	// ActivityTimeout is what connection_established tells clients: how
	// long they stay quiet before they send pusher:ping. Default 120 s.
	ActivityTimeout time.Duration
}

// DefaultActivityTimeout is Config.ActivityTimeout's default.
const DefaultActivityTimeout = 120 * time.Second

// Server speaks the Pusher Channels protocol on an engine.Server: it is
// the engine's Handler. Its Go API (Trigger, SendToUser, the Gateway
// facade, ...) may be called from any goroutine.
type Server struct {
	apps     *Apps
	state    State
	hook     Hook
	log      *slog.Logger
	activity int
	node     uint16
	suffix   string // "." and the node's number
	seq      atomic.Uint64
	counts   sync.Map // app id + "\x00" + channel → pending subscription_count
}

// errConfig is returned by New for a Config without apps.
var errConfig = errors.New("push: Config.Apps is required")

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Apps == nil {
		return nil, errConfig
	}
	s := &Server{apps: cfg.Apps, state: cfg.State, hook: cfg.Hook, log: cfg.Logger, node: cfg.Node}
	if s.state == nil {
		s.state = NewLocalState()
	}
	if r, ok := s.state.(RemoteSockets); ok {
		r.HandleSocketOps(s.applySocketOp)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	at := cfg.ActivityTimeout
	if at <= 0 {
		at = DefaultActivityTimeout
	}
	s.activity = max(1, int(at/time.Second))
	if ts, ok := s.state.(TransitionSetter); ok {
		ts.SetTransitions(Transitions{
			Channel: func(app *App, name string, tr *Transition) { s.transition(app, name, tr, nil) },
			User:    s.presence,
		})
	}
	// The node number, then a number of this process's life, so that ids
	// differ across nodes and restarts; the first number counts sockets.
	s.suffix = "." + strconv.FormatUint(uint64(cfg.Node), 10) + strconv.FormatUint(uint64(rand.Uint32()%1e9+1e9), 10)[1:]
	return s, nil
}

// Bind makes fan-outs use es's prepared messages: each event is framed,
// and compressed when es compresses, once, and handed to each event loop
// once (engine.Server.Prepare and Broadcast). es is the engine.Server s
// is the Handler of. Call it after engine.New and before es.Start; until
// then every connection is sent its own copy with Conn.Send.
func (s *Server) Bind(es *engine.Server) {
	if st, ok := s.state.(senderSetter); ok {
		st.setSender(broadcast{es: es})
	}
}

// Apps returns the apps the server serves.
func (s *Server) Apps() *Apps { return s.apps }

// State returns the server's State.
func (s *Server) State() State { return s.state }

func (s *Server) newSocketID() string { return strconv.FormatUint(s.seq.Add(1), 10) + s.suffix }

// message frames f once for delivery to many sockets.
func (s *Server) message(app *App, f wireFrame) *Message {
	return NewMessage(app, f.encode())
}

// pending is a connection's value between its handshake and OnOpen.
type pending struct {
	path  string
	query map[string][]string
}

// OnHandshake implements engine.Handler: every upgrade is accepted, and
// one that names no app or protocol is refused after it with the
// protocol's close code, as Pusher's clients expect.
func (s *Server) OnHandshake(c *engine.Conn, h *engine.Handshake) error {
	c.SetValue(&pending{path: h.Path, query: h.Query()})
	return nil
}

// OnOpen implements engine.Handler.
func (s *Server) OnOpen(c *engine.Conn) {
	p, _ := c.Value().(*pending)
	if p == nil {
		return
	}
	app, code := s.admit(p)
	if code != 0 {
		s.log.Debug("push: connection refused", "code", int(code), "reason", code.String(), "path", p.path, "client_ip", c.ClientIP())
		refuse(c, code, code.String())
		return
	}
	sock := &Socket{id: s.newSocketID(), app: app, conn: c, log: s.log,
		tokens: float64(app.Limits.ClientEventsPerSecond), refill: time.Now().UnixNano()}
	c.SetValue(sock)
	s.state.Connect(sock)
	sock.send(wireFrame{Event: evConnectionEstablished,
		Data: dataOf(connectionData{SocketID: sock.id, ActivityTimeout: s.activity})}.encode())
}

// admit finds the app of a connection's URL and checks its protocol
// version: 4005 for a path that is not /app/{key}, 4001 for an unknown
// key, 4008 without a protocol parameter, 4007 for a version not spoken.
func (s *Server) admit(p *pending) (*App, Code) {
	key, ok := strings.CutPrefix(p.path, "/app/")
	key = strings.TrimSuffix(key, "/")
	if !ok || key == "" || strings.Contains(key, "/") {
		return nil, CodePathNotFound
	}
	app, ok := s.apps.ByKey(key)
	if !ok {
		return nil, CodeAppNotFound
	}
	v := p.query["protocol"]
	if len(v) == 0 || v[0] == "" {
		return nil, CodeNoProtocol
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < MinProtocolVersion || n > ProtocolVersion {
		return nil, CodeUnsupportedProtocol
	}
	return app, 0
}

// refuse sends pusher:error with the code and closes with it.
func refuse(c *engine.Conn, code Code, msg string) {
	_ = c.Send(engine.Text, encodeError(code, msg))
	_ = c.Close(code.closeCode(), msg)
}

// OnMessage implements engine.Handler.
func (s *Server) OnMessage(c *engine.Conn, typ engine.MessageType, data []byte) {
	sock, _ := c.Value().(*Socket)
	if sock == nil {
		return // refused at open
	}
	if typ != engine.Text {
		sock.fail("binary messages are not supported")
		return
	}
	f, err := decodeClientFrame(data)
	if err != nil {
		sock.fail("malformed message: " + err.Error())
		return
	}
	switch {
	case f.Event == evPing:
		sock.send(wireFrame{Event: evPong, Data: "{}"}.encode())
	case f.Event == evSubscribe:
		s.onSubscribe(sock, f.Data)
	case f.Event == evUnsubscribe:
		var d subscribeData
		if err := decodeObject(f.Data, &d); err != nil {
			sock.fail("malformed pusher:unsubscribe: " + err.Error())
			return
		}
		s.unsubscribe(sock, d.Channel)
	case f.Event == evSignin:
		s.onSignin(sock, f.Data)
	case f.Event == evPong:
		// an answer to a pusher:ping: the engine saw the traffic
	case strings.HasPrefix(f.Event, "client-"):
		s.onClientEvent(sock, f)
	default:
		sock.fail("unsupported event " + strconv.Quote(cut(f.Event, 64)))
	}
}

// fail sends pusher:error without a code: the protocol assigns none to
// malformed or unsupported messages, and the connection stays open.
func (s *Socket) fail(msg string) {
	s.log.Debug("push: protocol error", "socket_id", s.id, "app", s.app.ID, "error", msg)
	s.send(encodeError(0, msg))
}

// cut shortens what is echoed of a client's input.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// OnClose implements engine.Handler: the socket leaves its channels (member
// and vacated events as they fall due) and signs out.
func (s *Server) OnClose(c *engine.Conn, err error) {
	sock, _ := c.Value().(*Socket)
	if sock == nil {
		return
	}
	sock.mu.Lock()
	sock.closed = true
	names := make([]string, 0, len(sock.channels))
	for _, m := range sock.channels {
		names = append(names, m.name)
	}
	u := sock.user
	sock.mu.Unlock()
	for _, name := range names {
		s.unsubscribe(sock, name)
	}
	if u != nil {
		s.signOut(sock, u.id)
	}
	s.state.Disconnect(sock)
}

// OnBufferFull implements engine.Handler: a subscriber that reads slower
// than it is sent to is closed with 4100, so that its client backs off,
// and nobody else waits for it.
func (s *Server) OnBufferFull(c *engine.Conn) {
	_ = c.Close(CodeOverCapacity.closeCode(), CodeOverCapacity.String())
}

// OnBufferDrain implements engine.Handler.
func (s *Server) OnBufferDrain(*engine.Conn) {}

var _ engine.Handler = (*Server)(nil)
