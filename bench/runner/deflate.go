package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/wssd/wssd/bench/load"
	"github.com/wssd/wssd/bench/servers"
)

// deflate is how a scenario's connections use permessage-deflate.
type deflate int

const (
	// deflateNone: the server does not compress (every scenario but the
	// -deflate ones).
	deflateNone deflate = iota
	// deflateDeclined: the server compresses, its clients do not offer
	// it: the uncompressed figure beside deflateOn, from the same server.
	deflateDeclined
	// deflateOn: the server compresses and its clients offer it.
	deflateOn
)

// suffix names d in the run's log.
func (d deflate) suffix() string {
	switch d {
	case deflateDeclined:
		return " uncompressed"
	case deflateOn:
		return " compressed"
	}
	return ""
}

func (s *DeflateStats) suffix() string {
	switch {
	case s == nil:
		return ""
	case s.Offered:
		return deflateOn.suffix()
	}
	return deflateDeclined.suffix()
}

// ErrNotCompressed is what Run returns, after the whole run, when a server
// that compresses did not: it declined permessage-deflate on a connection
// that offered it, or sent its messages uncompressed.
var ErrNotCompressed = errors.New("runner: a server that compresses did not")

// check says whether the row's server compressed as it should on conns
// connections: on every one when offered, on none otherwise, and, with
// replies, each message it sent (at least 99 in 100: a server may send a
// message that does not shrink as it is). The idle subscription's answer
// is short enough that a server may rightly send it uncompressed.
func (s *DeflateStats) check(conns int, replies bool) error {
	switch {
	case !s.Offered && (s.Negotiated > 0 || s.Compressed > 0):
		return fmt.Errorf("%w: permessage-deflate on %d connections that did not offer it", ErrNotCompressed, s.Negotiated)
	case !s.Offered:
		return nil
	case s.Negotiated < conns:
		return fmt.Errorf("%w: permessage-deflate accepted on %d of %d connections", ErrNotCompressed, s.Negotiated, conns)
	case !replies:
		return nil
	case s.Received == 0:
		return fmt.Errorf("%w: no message received", ErrNotCompressed)
	case s.Compressed*100 < s.Received*99:
		return fmt.Errorf("%w: %d of %d messages received compressed", ErrNotCompressed, s.Compressed, s.Received)
	}
	return nil
}

// checkDeflate records a row's failure to compress: a problem now, and
// Run's error at the end.
func (r *run) checkDeflate(scenario string, k Key, s *DeflateStats, conns int) {
	if err := s.check(conns, scenario != "idle-deflate"); err != nil {
		err = fmt.Errorf("%s %s %s%s: %w", scenario, k.Server, k.Transport, s.suffix(), err)
		r.problem("%v", err)
		r.mu.Lock()
		r.notCompressed = append(r.notCompressed, err)
		r.mu.Unlock()
	}
}

// echoDeflate echoes Config.DeflateSize-byte JSON chat messages (text) on
// a server that compresses, its clients first not offering
// permessage-deflate, then offering it.
func (r *run) echoDeflate(ctx context.Context, info servers.Info, tr string) error {
	return plainThenCompressed(func(d deflate) error { return r.echoChat(ctx, info, tr, d) })
}

// plainThenCompressed runs f with deflateDeclined, then deflateOn, and joins
// their errors.
func plainThenCompressed(f func(deflate) error) error {
	var errs []error
	for _, d := range []deflate{deflateDeclined, deflateOn} {
		if err := f(d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.suffix(), err))
		}
	}
	return errors.Join(errs...)
}

func (r *run) echoChat(ctx context.Context, info servers.Info, tr string, d deflate) error {
	s, clients, open, done, err := r.hold(ctx, info, tr, r.cfg.EchoConns, 16<<10, d)
	if err != nil {
		return err
	}
	defer done()
	size := r.cfg.DeflateSize
	var prof func()
	if d == deflateOn {
		prof = r.profileEcho(info, s, fmt.Sprintf("profiles/wssd-%s-echo-deflate-%d.pprof", tr, size))
	}
	m := meterCPU(s.pids()...)
	res, err := broadcastCommand(clients, fmt.Sprintf("echo %d %s chat", size, r.cfg.EchoDuration))
	serverCPU := m.cores()
	if prof != nil {
		prof()
	}
	if err != nil {
		return err
	}
	row := r.echoRow(info, tr, size, serverCPU, res)
	total, _ := merge(res)
	row.Deflate = &DeflateStats{Offered: d == deflateOn, Negotiated: open.Deflated, Received: total.Msgs, Compressed: total.Compressed}
	r.logf("    %d of %d connections compressed, %d of %d echoes came compressed", open.Deflated, open.Conns, total.Compressed, total.Msgs)
	r.res.DeflateEcho = append(r.res.DeflateEcho, row)
	r.checkDeflate("echo-deflate", row.Key, row.Deflate, open.Conns)
	if row.Msgs == 0 {
		return fmt.Errorf("%d B: no message came back", size)
	}
	return nil
}

// idleDeflate holds idle connections to a server that compresses, each
// having subscribed with one small message: first without offering
// permessage-deflate, then offering it.
func (r *run) idleDeflate(ctx context.Context, info servers.Info, tr string) error {
	return plainThenCompressed(func(d deflate) error { return r.idleWith(ctx, info, tr, d) })
}

// subscribe has every connection of clients send its subscription and
// wait for the answer, and says how compression went; it fails when a
// connection got no answer.
func subscribe(clients []*client, d deflate, open load.Result) (*DeflateStats, error) {
	res, err := broadcastCommand(clients, "subscribe 30s")
	if err != nil {
		return nil, err
	}
	total, _ := merge(res)
	if total.Msgs < int64(open.Conns) {
		return nil, fmt.Errorf("subscribe: %d of %d connections answered", total.Msgs, open.Conns)
	}
	return &DeflateStats{Offered: d == deflateOn, Negotiated: open.Deflated, Received: total.Msgs, Compressed: total.Compressed}, nil
}

// broadcastDeflate broadcasts Config.DeflateSize-byte JSON chat messages
// from a server that compresses (wssd: Server.Prepare, compressed once, and
// Server.Broadcast), its clients first not offering permessage-deflate,
// then offering it.
func (r *run) broadcastDeflate(ctx context.Context, info servers.Info, tr string) error {
	return plainThenCompressed(func(d deflate) error {
		row, err := r.broadcastWith(ctx, info, tr, d, r.cfg.DeflateSize, r.cfg.BroadcastN, r.cfg.BroadcastRounds)
		if row != nil {
			r.res.DeflateBroadcast = append(r.res.DeflateBroadcast, *row)
			r.checkDeflate("broadcast-deflate", row.Key, row.Deflate, row.Conns)
		}
		return err
	})
}
