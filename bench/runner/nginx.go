package runner

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wssd/wssd/internal/deployconf"
)

// The "nginx" server of a run is wssd's ws behind nginx terminating TLS:
// the deployment that wssd's own wss is meant to replace. nginx runs from
// the very file deploy/nginx/wssd.conf that the interop tests check, with
// the substitutions below, two workers (one per core) and enough
// connections per worker for the idle scenario.

// nginxPath is a path nginx proxies as a WebSocket, as the shipped file
// has it: the push server's /app/{key}, which the echo servers behind it
// serve like any other path.
const nginxPath = "/app/bench"

// nginxWorkers is the number of worker processes: one per core of the
// machine the numbers are for.
const nginxWorkers = 2

// nginxProc is a running nginx.
type nginxProc struct {
	cmd    *exec.Cmd
	dir    string
	addr   string
	exited chan struct{} // closed once the master has exited and been reaped
}

// findNginx returns the nginx program: from PATH, or /usr/sbin, which is
// not on every user's PATH.
func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return exec.LookPath("/usr/sbin/nginx")
}

// startNginx starts nginx on a free loopback port, terminating TLS with the
// run's certificate and proxying to upstream, and waits until it completes
// a TLS handshake.
func (r *run) startNginx(ctx context.Context, upstream string) (*nginxProc, error) {
	bin, err := findNginx()
	if err != nil {
		return nil, fmt.Errorf("nginx is not installed (Debian package nginx): %w", err)
	}
	var lastErr error
	for range 3 { // another program may take the free port first
		n, err := r.tryNginx(ctx, bin, upstream)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, lastErr
}

func (r *run) tryNginx(ctx context.Context, bin, upstream string) (*nginxProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wssd-bench-nginx-")
	if err != nil {
		return nil, err
	}
	site, err := deployconf.Load("nginx/wssd.conf",
		// reuseport: one listening socket per worker, so that the kernel
		// spreads connections evenly and neither worker runs out of files.
		deployconf.Subst{Old: "listen 443 ssl;", New: "listen " + addr + " ssl reuseport;"},
		deployconf.Subst{Old: "/etc/ssl/wssd/cert.pem", New: r.certFile},
		deployconf.Subst{Old: "/etc/ssl/wssd/key.pem", New: r.keyFile},
		deployconf.Subst{Old: "server 127.0.0.1:8282;", New: "server " + upstream + ";"},
	)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sitePath := filepath.Join(dir, "wssd.conf")
	// Each connection is two sockets in a worker (client and upstream); the
	// open-file limit is 20,000 per process.
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_processes %[3]d;
worker_rlimit_nofile 20000;
events { worker_connections 19000; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[2]s;
}
`, dir, sitePath, nginxWorkers)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = r.logWriter("nginx")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &nginxProc{cmd: cmd, dir: dir, addr: addr, exited: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-n.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			n.stop()
			err := fmt.Errorf("nginx exited at start: %v: %s", waitErr, strings.TrimSpace(string(log)))
			if strings.Contains(string(log), "Address already in use") {
				err = fmt.Errorf("%w: %w", syscall.EADDRINUSE, err)
			}
			return nil, err
		default:
		}
		if tlsReady(addr) {
			return n, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.stop()
			return nil, errors.New("nginx did not complete a TLS handshake within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tlsReady says whether a TLS handshake with addr completes.
func tlsReady(addr string) bool {
	d := &net.Dialer{Timeout: time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// pids returns nginx's master and workers.
func (n *nginxProc) pids() []int {
	master := n.cmd.Process.Pid
	pids := []int{master}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return pids
	}
	for f := range strings.FieldsSeq(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// stop ends nginx: SIGTERM (fast shutdown), then SIGKILL to its whole
// process group if the master is still there after a few seconds.
func (n *nginxProc) stop() {
	pgid := n.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-n.exited
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // workers left behind, if any
	os.RemoveAll(n.dir)
}
