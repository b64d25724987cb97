package engine

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// listen opens the server's listening socket with Go's net package: ":port"
// is dual-stack, "[::1]:port" IPv6. SO_REUSEADDR is set, as Go always does,
// so that a restart does not wait for old connections in TIME_WAIT; a port
// another socket listens on is "address already in use" unless both set
// SO_REUSEPORT, which reusePort does.
func listen(addr string, reusePort bool) (*net.TCPListener, error) {
	// No TCP keep-alive: pings find dead peers, and the probes' settings
	// would cost four system calls per accepted connection. Go sets
	// TCP_NODELAY on every accepted connection itself.
	lc := net.ListenConfig{KeepAlive: -1}
	if reusePort {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return os.NewSyscallError("setsockopt SO_REUSEPORT", serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// openFiles counts the file descriptors the process has open.
func openFiles() (int, error) {
	d, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(d) - 1, nil // less the directory ReadDir had open
}

// fileLimit is the process's open-file limit, or 0 if it has none.
func fileLimit() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur == unix.RLIM_INFINITY || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}
