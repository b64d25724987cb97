package engine

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// reservation holds the chosen port while gnet binds one listener per loop.
type reservation struct {
	addr netip.AddrPort
	fd   int
}

// reservePort resolves addr to a concrete address and port. Every gnet loop
// binds its own SO_REUSEPORT listener, so port 0 must be chosen once, here,
// and held until they are bound: by a socket that is bound but does not
// listen, and so takes no connections. Without reusePort the reservation is
// exclusive and released before gnet binds, so that a port another process
// serves is reported instead of silently shared.
func reservePort(addr string, reusePort bool) (*reservation, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		ip = netip.IPv4Unspecified()
	}
	ip = ip.Unmap()
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: ta.Port, Addr: ip.As4()})
	if ip.Is6() {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: ta.Port, Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, err
	}
	r := &reservation{fd: fd}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		r.release()
		return nil, err
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			r.release()
			return nil, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		r.release()
		return nil, err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		r.release()
		return nil, err
	}
	port := 0
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		port = b.Port
	case *unix.SockaddrInet6:
		port = b.Port
	}
	r.addr = netip.AddrPortFrom(ip, uint16(port))
	if !reusePort {
		r.release()
	}
	return r, nil
}

func (r *reservation) release() {
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}
