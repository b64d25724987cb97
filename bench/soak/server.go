package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// server is a running wssd with a JSON log.
type server struct {
	cmd  *exec.Cmd
	addr netip.AddrPort
	log  *os.File // the whole log, kept for the report

	mu      sync.Mutex
	stats   ServerStats
	statsAt time.Time // when the latest stats line arrived
	lineErr error     // a malformed stats line
	fresh   chan struct{}

	exited chan struct{} // closed when the process is gone
	err    error         // its exit status; read after exited
}

// startServer runs the wssd binary bin with args, JSON logging and a
// stats line every statsEvery, and waits until it listens; it serves echo
// (-mode echo), what the honest clients check. Its log goes to
// logFile.
func startServer(ctx context.Context, bin string, args []string, statsEvery time.Duration, logFile string) (*server, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	args = append([]string{"-mode", "echo", "-listen", "127.0.0.1:0", "-metrics-listen", "127.0.0.1:0", "-log-format", "json", "-stats-interval", statsEvery.String()}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = f
	// wssd must not outlive a soak that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	s := &server{cmd: cmd, log: f, fresh: make(chan struct{}), exited: make(chan struct{})}
	listening := make(chan string, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		s.read(out, listening)
	}()
	go func() {
		<-read
		s.err = cmd.Wait()
		close(s.exited)
	}()
	select {
	case u := <-listening:
		pu, err := url.Parse(u)
		if err == nil {
			s.addr, err = netip.ParseAddrPort("127.0.0.1:" + pu.Port())
		}
		if err != nil {
			s.stop(time.Second)
			return nil, fmt.Errorf("soak: wssd's address %q: %v", u, err)
		}
		return s, nil
	case <-s.exited:
		f.Close()
		return nil, fmt.Errorf("soak: wssd exited before listening (%v); its log: %s", s.err, logFile)
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	s.stop(time.Second)
	return nil, fmt.Errorf("soak: wssd did not listen within 30 s; its log: %s", logFile)
}

// read copies wssd's log to the file, reports the listening URL and keeps
// the latest stats.
func (s *server) read(out io.Reader, listening chan<- string) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = s.log.Write(append(line, '\n'))
		if listening != nil {
			var m struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(line, &m) == nil && m.Msg == "wssd listening" {
				listening <- m.URL
				listening = nil
			}
		}
		st, ok, err := parseStatsLine(line)
		if !ok && err == nil {
			continue
		}
		s.mu.Lock()
		if err != nil {
			s.lineErr = err
		} else {
			s.stats, s.statsAt = st, time.Now()
		}
		close(s.fresh)
		s.fresh = make(chan struct{})
		s.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, out)
}

var errExited = errors.New("soak: wssd exited during the run")

// statsAfter waits for a stats line that arrived after t, up to timeout.
func (s *server) statsAfter(t time.Time, timeout time.Duration) (ServerStats, error) {
	return s.waitStats(func(_ ServerStats, at time.Time) bool { return at.After(t) }, timeout)
}

// waitStats waits up to timeout for a stats line that satisfies ok.
func (s *server) waitStats(ok func(ServerStats, time.Time) bool, timeout time.Duration) (ServerStats, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		st, at, fresh, err := s.stats, s.statsAt, s.fresh, s.lineErr
		s.mu.Unlock()
		if err != nil {
			return st, err
		}
		if ok(st, at) {
			return st, nil
		}
		select {
		case <-fresh:
		case <-s.exited:
			return st, fmt.Errorf("%w: %v", errExited, s.err)
		case <-deadline:
			return st, errors.New("soak: no stats line from wssd in time")
		}
	}
}

// stop sends SIGTERM and waits up to grace for a graceful exit, then
// kills; it returns the exit status of a graceful exit.
func (s *server) stop(grace time.Duration) error {
	defer s.log.Close()
	select {
	case <-s.exited:
		return fmt.Errorf("%w: %v", errExited, s.err)
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.err
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("soak: wssd did not exit within %v of SIGTERM", grace)
	}
}
