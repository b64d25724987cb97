package engine_test

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/testpki"
	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/wsproto"
)

// refusalLines returns the server's log lines with message msg, checking
// that they are at least a second apart, and the sum of their counts.
func refusalLines(t testing.TB, logs string, msg string) (lines []string, total int) {
	t.Helper()
	var last time.Time
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		lines = append(lines, line)
		at, err := time.Parse(time.RFC3339Nano, field(line, "time"))
		if err != nil {
			t.Fatalf("no time in %q: %v", line, err)
		}
		if !last.IsZero() && at.Sub(last) < time.Second {
			t.Errorf("two %q lines %v apart, want a second at least:\n%s", msg, at.Sub(last), logs)
		}
		last = at
		n, err := strconv.Atoi(field(line, "count"))
		if err != nil {
			t.Fatalf("no count in %q", line)
		}
		total += n
	}
	return lines, total
}

// field returns the value of key in a text log line.
func field(line, key string) string {
	_, v, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		_, v, _ = strings.Cut(line, key+"=")
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// waitRefusals waits until the lines with message msg count want refusals.
func (s *testServer) waitRefusals(msg string, want int) []string {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines, total := refusalLines(s.t, s.logs.String(), msg)
		if total == want {
			return lines
		}
		if total > want || time.Now().After(deadline) {
			s.t.Fatalf("%q lines count %d refusals, want %d:\n%s", msg, total, want, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAcceptErrorsKeepServing is the regression test for gnet stopping
// every event loop, and with them the server, when accept fails with
// EMFILE, ENFILE, ENOMEM or ENOBUFS: the server must refuse the
// connections it has no descriptor for (and back off while the kernel is
// out of memory, serving them later), log that once per second with a
// count, and serve old and new clients.
func TestAcceptErrorsKeepServing(t *testing.T) {
	cases := []struct {
		name    string
		errno   syscall.Errno
		msg     string
		refused bool // else served after the failures
	}{
		{name: "EMFILE", errno: syscall.EMFILE, msg: "connections refused: out of file descriptors", refused: true},
		{name: "ENFILE", errno: syscall.ENFILE, msg: "connections refused: out of file descriptors", refused: true},
		{name: "ENOMEM", errno: syscall.ENOMEM, msg: "accept failed: out of kernel memory, backing off"},
		{name: "ENOBUFS", errno: syscall.ENOBUFS, msg: "accept failed: out of kernel memory, backing off"},
	}
	const failing = 3 // accepts 2, 3 and 4 fail
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachTransport(t, func(t *testing.T, tr transport) {
				cfg := engine.WithFault(engine.Config{}, engine.FaultAccept, 2, 1+failing, tc.errno)
				srv := startServer(t, tr, cfg, echo{})
				old := srv.dial(t, wstest.DialOptions{})
				if tc.refused {
					for i := range failing {
						if c, err := srv.tryDial(t, wstest.DialOptions{}); err == nil {
							c.Close()
							t.Fatalf("client %d served though its accept failed", i+2)
						}
					}
				}
				expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "new")
				expectEchoOf(t, old, wsproto.OpText, "old")
				srv.waitRefusals(tc.msg, failing)
				if strings.Contains(srv.logs.String(), "server stopped") {
					t.Fatalf("server stopped:\n%s", srv.logs.String())
				}
				// Stats count them as the log does: refusals, or accept errors.
				st := srv.Stats()
				got, what := st.AcceptErrors, "accept errors"
				if tc.refused {
					got, what = st.Refused[engine.RefusedNoFiles], "no_files refusals"
				}
				if got != failing {
					t.Fatalf("stats: %d %s for %d failed accepts: %+v", got, what, failing, st)
				}
			})
		})
	}
}

// TestAcceptListenerFailureStopsServer: a listener that fails for good
// (here EBADF) stops the server, and Wait says why instead of returning
// nil, so that wssd exits non-zero and a supervisor restarts it.
func TestAcceptListenerFailureStopsServer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cfg := engine.WithFault(engine.Config{}, engine.FaultAccept, 1, 0, syscall.EBADF)
		srv := startServer(t, tr, cfg, echo{})
		if c, err := srv.tryDial(t, wstest.DialOptions{}); err == nil {
			c.Close()
			t.Fatal("served through a failed accept")
		}
		waited := make(chan error, 1)
		go func() { waited <- srv.Wait() }()
		select {
		case err := <-waited:
			if !errors.Is(err, syscall.EBADF) {
				t.Fatalf("Wait = %v, want the accept error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after the listener failed")
		}
	})
}

// TestListenIPv6 is the regression test for Start panicking on IPv6
// addresses ("As4 called on IPv6 address") and for ":port" listening on
// IPv4 only.
func TestListenIPv6(t *testing.T) {
	cases := []struct {
		name   string
		listen string
		dial   []string // hosts that must reach the server
	}{
		{name: "loopback", listen: "[::1]:0", dial: []string{"::1"}},
		{name: "dual stack", listen: ":0", dial: []string{"127.0.0.1", "::1"}},
		{name: "IPv6 any", listen: "[::]:0", dial: []string{"::1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr transport) {
				srv := startServerAt(t, tr, tc.listen, engine.Config{}, echo{})
				for _, host := range tc.dial {
					srv.addr = net.JoinHostPort(host, strconv.Itoa(int(srv.Addr().Port())))
					expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, host)
				}
			})
		})
	}
}

// countOpens counts the connections a server upgraded.
type countOpens struct {
	echo
	n atomic.Int64
}

func (h *countOpens) OnOpen(*engine.Conn) { h.n.Add(1) }

// TestReusePortOptIn is the regression test for every server listening
// with SO_REUSEPORT: a second server on a port must fail with "address
// already in use" unless both set ReusePort, and then both serve.
func TestReusePortOptIn(t *testing.T) {
	cases := []struct {
		name          string
		first, second bool
	}{
		{name: "neither"},
		{name: "first only", first: true},
		{name: "second only", second: true},
		{name: "both", first: true, second: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr transport) {
				var h1, h2 countOpens
				first := startServer(t, tr, engine.Config{ReusePort: tc.first}, &h1)
				cfg := engine.Config{ReusePort: tc.second}
				if tr.TLS {
					cfg.TLS = testpki.Get().ServerConfig()
				}
				second, err := engine.New(cfg, &h2)
				if err != nil {
					t.Fatal(err)
				}
				err = second.Start(first.addr)
				if !(tc.first && tc.second) {
					if !errors.Is(err, syscall.EADDRINUSE) {
						_ = second.Shutdown(t.Context())
						t.Fatalf("second Start = %v, want address already in use", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer second.Shutdown(t.Context())
				for i := 0; i < 200 && (h1.n.Load() == 0 || h2.n.Load() == 0); i++ {
					first.dial(t, wstest.DialOptions{}).Close()
				}
				if h1.n.Load() == 0 || h2.n.Load() == 0 {
					t.Fatalf("connections: %d to the first server, %d to the second; want both to serve", h1.n.Load(), h2.n.Load())
				}
			})
		})
	}
}

// TestAdmissionLimits: MaxConns and MaxConnsPerIP refuse connections
// beyond them before they reach a loop, log the refusals with a count, and
// free their place when a connection closes.
func TestAdmissionLimits(t *testing.T) {
	cases := []struct {
		name  string
		cfg   engine.Config
		other string // another client address, served despite the limit
		msg   string
	}{
		{name: "MaxConns", cfg: engine.Config{MaxConns: 2}, msg: "connections refused: MaxConns reached"},
		{name: "MaxConnsPerIP", cfg: engine.Config{MaxConnsPerIP: 2}, other: "127.0.0.2", msg: "connections refused: MaxConnsPerIP reached"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachTransport(t, func(t *testing.T, tr transport) {
				srv := startServer(t, tr, tc.cfg, echo{})
				first := srv.dial(t, wstest.DialOptions{})
				srv.dial(t, wstest.DialOptions{})
				for range 3 {
					if c, err := srv.tryDial(t, wstest.DialOptions{}); err == nil {
						c.Close()
						t.Fatal("a third connection was served")
					}
				}
				srv.waitRefusals(tc.msg, 3)
				if tc.other != "" {
					expectEchoOf(t, srv.dial(t, wstest.DialOptions{LocalIP: tc.other}), wsproto.OpText, "other")
				}
				expectEchoOf(t, first, wsproto.OpText, "first")
				first.Close()
				deadline := time.Now().Add(5 * time.Second)
				for {
					c, err := srv.tryDial(t, wstest.DialOptions{})
					if err == nil {
						expectEchoOf(t, c, wsproto.OpText, "after close")
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("closing a connection did not free its place: %v", err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		})
	}
}

// TestPerIPKey: MaxConnsPerIP counts IPv4 addresses, IPv6 /64s, and no
// trusted proxy.
func TestPerIPKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	cases := []struct {
		name string
		peer string
		want string // "" when not counted
	}{
		{name: "IPv4", peer: "192.0.2.7", want: "192.0.2.7"},
		{name: "IPv6 by /64", peer: "2001:db8:1:2:aaaa::1", want: "2001:db8:1:2::"},
		{name: "IPv6 same /64", peer: "2001:db8:1:2:bbbb::9", want: "2001:db8:1:2::"},
		{name: "IPv6 next /64", peer: "2001:db8:1:3::1", want: "2001:db8:1:3::"},
		{name: "trusted IPv4 proxy", peer: "10.1.2.3"},
		{name: "trusted IPv6 proxy", peer: "2001:db8:ffff:1::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, counted := engine.PerIPKey(trusted, netip.MustParseAddr(tc.peer))
			if got := key.String(); counted != (tc.want != "") || counted && got != tc.want {
				t.Fatalf("key %v counted %v, want %q", got, counted, tc.want)
			}
		})
	}
}

// TestMaxConnsPerIPTrustedProxy: a trusted proxy carries many clients and
// is not capped.
func TestMaxConnsPerIPTrustedProxy(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cfg := engine.Config{MaxConnsPerIP: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		srv := startServer(t, tr, cfg, echo{})
		for i := range 3 {
			expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, strconv.Itoa(i))
		}
	})
}

// TestAcceptRate: beyond AcceptRate, connections wait (they are not
// refused), the wait is logged with a count, and Shutdown does not wait
// for the next token.
func TestAcceptRate(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Run("served later", func(t *testing.T) {
			// Four clients at once, one connection per 200 ms.
			srv := startServer(t, tr, engine.Config{AcceptRate: 5, AcceptBurst: 1}, echo{})
			clients := make(chan *wstest.Client, 4)
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					c, err := srv.tryDial(t, wstest.DialOptions{})
					if err != nil {
						errs <- err
						return
					}
					clients <- c
				}()
			}
			for i := range 4 {
				select {
				case c := <-clients:
					expectEchoOf(t, c, wsproto.OpText, strconv.Itoa(i))
				case err := <-errs:
					t.Fatal(err)
				}
			}
			srv.waitLog(`msg="connections delayed: AcceptRate reached"`, "accept_rate=5")
			if st := srv.Stats(); st.AcceptDelayed == 0 || st.Accepted != 4 || st.Upgraded != 4 {
				t.Fatalf("stats: %+v, want 4 accepted and upgraded, some delayed", st)
			}
		})
		t.Run("held back", func(t *testing.T) {
			srv := startServer(t, tr, engine.Config{AcceptRate: 0.001, AcceptBurst: 2}, echo{})
			expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "1")
			expectEchoOf(t, srv.dial(t, wstest.DialOptions{}), wsproto.OpText, "2")
			// The next token is 1000 s away: the third connection is
			// accepted by the kernel, and held back.
			if c, err := srv.tryDial(t, wstest.DialOptions{Timeout: 500 * time.Millisecond}); err == nil {
				c.Close()
				t.Fatal("the third connection was served at once")
			}
			srv.waitRefusals("connections delayed: AcceptRate reached", 1)
			if st := srv.Stats(); st.AcceptDelayed != 1 || st.Upgraded != 2 {
				t.Fatalf("stats: %+v, want 1 delayed and 2 upgraded", st)
			}
		})
	})
}
