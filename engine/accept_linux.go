package engine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The engine accepts its connections itself, on one goroutine per
// listener, and hands each admitted one to an event loop: gnet's own
// acceptor stops every loop when accept(2) fails with anything but
// EAGAIN-like errors, out of file descriptors or kernel memory included.

// Backoff after an accept error that retrying at once would only repeat.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = 100 * time.Millisecond
)

// enrollment is the gnet context of a connection between enrollLoop and its
// OnOpen, which marks it taken. One per enrollLoop, reused: EnrollContext
// returns after OnOpen.
type enrollment struct{ opened bool }

// acceptLoop accepts connections on ln until Shutdown closes it, or until
// the listener itself fails, which stops the server.
func (s *Server) acceptLoop(ln *net.TCPListener) {
	defer s.acceptors.Done()
	rc, err := ln.SyscallConn()
	if err != nil {
		s.fail(err)
		return
	}
	backoff := time.Duration(0)
	for {
		c, err := s.accept(ln, rc)
		if err == nil {
			backoff = 0
			s.counts.accepted.Add(1)
			s.admit(c)
			continue
		}
		if s.closing.Err() != nil {
			return
		}
		var errno syscall.Errno
		errors.As(err, &errno)
		switch errno {
		case unix.EMFILE, unix.ENFILE:
			if s.refuseOne(rc, err) {
				continue
			}
			s.adm.log.add(refusedError, err) // and nothing could be refused
		case unix.ENOMEM, unix.ENOBUFS:
			s.adm.log.add(refusedNoMemory, err)
		case unix.ECONNABORTED, unix.EPROTO, unix.EPERM, unix.ENETDOWN, unix.ENOPROTOOPT, unix.EHOSTDOWN,
			unix.ENONET, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.ETIMEDOUT:
			// A pending connection failed (accept(2)'s "pending network
			// errors"): the next may be fine.
			s.adm.log.add(refusedError, err)
			continue
		case unix.EBADF, unix.EINVAL, unix.ENOTSOCK, unix.EOPNOTSUPP, 0:
			// The listener itself is broken (0: closed, but not by
			// Shutdown): accepting again would fail the same way.
			s.fail(err)
			return
		default:
			s.adm.log.add(refusedError, err)
		}
		backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
		select {
		case <-time.After(backoff):
		case <-s.closing.Done():
			return
		}
	}
}

// accept is ln.AcceptTCP, unless an injected fault fails this accept: then
// it waits for a connection to be pending, as a real failure would leave
// it, and returns the fault.
func (s *Server) accept(ln *net.TCPListener, rc syscall.RawConn) (*net.TCPConn, error) {
	if f := s.faults.Load(); f != nil {
		if errno := f.fail(opAccept); errno != nil {
			for !pending(rc, 10*time.Millisecond) && s.closing.Err() == nil {
			}
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", errno)}
		}
	}
	return ln.AcceptTCP()
}

// admit counts c against the limits and passes it to an enrollLoop, or
// refuses it.
func (s *Server) admit(c *net.TCPConn) {
	peer := addrPortOf(c.RemoteAddr()).Addr()
	if why := s.adm.take(peer); why != refusedNone {
		_ = c.Close()
		s.adm.log.add(why, nil)
		return
	}
	if !s.adm.wait(s.closing) {
		_ = c.Close()
		s.adm.release(peer)
		return
	}
	s.handoff <- handoff{c, peer}
}

// handoff is an admitted connection on its way to an event loop.
type handoff struct {
	c    *net.TCPConn
	peer netip.Addr
}

// enrollLoop hands the acceptor's connections to the event loops until
// stopAccepting closes s.handoff. A hand-over waits for the loop to run
// OnOpen; with one enrollLoop per event loop, the acceptor goes on
// accepting meanwhile and a loop takes connections in batches, with no
// goroutine per connection.
func (s *Server) enrollLoop() {
	defer s.enrollers.Done()
	en := new(enrollment)
	for h := range s.handoff {
		en.opened = false
		_, err := s.cli.EnrollContext(h.c, en) // closes h.c
		if en.opened {
			continue
		}
		s.adm.release(h.peer)
		switch {
		case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
			s.adm.log.add(refusedNoFiles, err)
		case err != nil:
			s.adm.log.add(refusedError, err)
		case !s.draining.Load():
			// gnet could not add the socket to the loop's poller (epoll's
			// max_user_watches, out of memory); it closed it.
			s.adm.log.add(refusedError, errors.New("engine: event loop did not take the connection"))
		}
	}
}

// refuseOne is the acceptor's answer to running out of file descriptors,
// which leaves the connection in the kernel's accept queue, where the
// listener stays readable and the client waits: it gives up the spare
// descriptor the server holds, accepts with it and closes the connection
// at once, then takes the spare back. With nothing to accept, it waits
// a little for a client rather than spin. It
// returns false when it has no spare and could not refuse anything, so that
// the caller backs off. Refusals are logged with err, accept's error.
func (s *Server) refuseOne(rc syscall.RawConn, err error) bool {
	s.spareMu.Lock()
	if s.spare >= 0 {
		_ = unix.Close(s.spare)
		s.spare = -1
	}
	var aerr error
	_ = rc.Control(func(fd uintptr) {
		var nfd int
		if nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC); aerr == nil {
			_ = unix.Close(nfd)
		}
	})
	s.spare = openSpare()
	s.spareMu.Unlock()
	switch aerr {
	case nil:
		s.adm.log.add(refusedNoFiles, err)
		return true
	case unix.EAGAIN:
		// accept(2) fails with EMFILE before it looks at the queue: wait
		// for a client, lest the acceptor spin.
		pending(rc, maxAcceptBackoff)
		return true
	}
	return false
}

// pending waits up to d for a connection in the accept queue of the
// listener rc, and says whether there is one. A listener's RawConn cannot
// wait for it (Read fails with EINVAL): this blocks a thread in poll(2),
// which only refuseOne and the tests' faults do.
func pending(rc syscall.RawConn, d time.Duration) bool {
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(d/time.Millisecond))
	})
	return n > 0
}

// openSpare opens the descriptor refuseOne gives up, or returns -1.
func openSpare() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}
