package engine

import "golang.org/x/sys/unix"

// kernelTook returns how many bytes the kernel has taken from writes on
// fd's TCP socket since the connection was established: what the peer
// acknowledged plus what the socket still holds, unsent or unacknowledged
// (a FIN the kernel queued counts one). A reset empties the socket's queue
// but not its sequence numbers, so the answer stays right after one.
func kernelTook(fd int) (int, bool) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, false
	}
	queued, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0, false
	}
	return int(info.Bytes_acked) + queued, true
}

// kernelHolds reports whether fd's socket holds received bytes not yet
// read: the peer sent them, the event loop has not come to them.
func kernelHolds(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return err == nil && n > 0
}
