package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/deployconf"
	"github.com/wssd/wssd/internal/testpki"
)

// This file starts the real proxies of the deploy/ directory: Debian's
// nginx, Apache httpd and HAProxy, each from its shipped configuration file
// with a few explicit substitutions (ports, paths, certificate, timeout), in
// a directory of the test's own, on free loopback ports.
// Each routes /app/ (the push server's WebSockets) and /apps/ (its HTTP API)
// to wssd and answers everything else itself.

// Timeouts of the proxy processes.
const (
	// proxyProcessTimeout bounds a proxy process's whole life: it is killed
	// then even if the test still runs.
	proxyProcessTimeout = 100 * time.Second
	// proxyStartTimeout bounds the wait for a started proxy to complete a
	// TLS handshake.
	proxyStartTimeout = 15 * time.Second
	// proxyStopTimeout is how long a proxy gets to exit after SIGTERM
	// before its process group is killed.
	proxyStopTimeout = 5 * time.Second
)

// proxyKind is one real reverse proxy that the deploy/ directory has a
// tested configuration for.
type proxyKind struct {
	name string // the subtest's name
	bin  string // the program, looked up in PATH and then /usr/sbin
	pkg  string // the Debian package that installs it
	// edge is how wssd behind the shipped file finds the client's address.
	edge realIPSetup
	// chunkedStatus is what an API request whose body the client sends
	// chunked gets through the shipped file: 200 when the proxy reads it
	// and sends it on with a Content-Length, 411 from wssd when the proxy
	// passes it on chunked.
	chunkedStatus int
	// checksReady says whether the shipped file has the proxy check
	// wssd's /readyz, and stop sending it new clients on a 503.
	checksReady bool
	// configure writes the proxy's configuration for addr into dir, from
	// its shipped file, and returns the arguments that run it with it.
	configure func(t *testing.T, dir string, addr netip.AddrPort, o proxyOptions) []string
}

// proxies are the proxies the tests put in front of wssd.
var proxies = []proxyKind{
	{name: "nginx", bin: "nginx", pkg: "nginx", edge: realIPSetup{header: engine.SourceXRealIP}, chunkedStatus: http.StatusOK, configure: configureNginx},
	{name: "apache", bin: "apache2", pkg: "apache2", edge: realIPSetup{header: engine.SourceXRealIP}, chunkedStatus: http.StatusOK, configure: configureApache},
	{name: "haproxy", bin: "haproxy", pkg: "haproxy", edge: realIPSetup{header: engine.SourceProxyProtocol, proxyProtocol: true}, chunkedStatus: http.StatusLengthRequired, checksReady: true, configure: configureHAProxy},
}

// realIPSetup is how wssd learns the client's address from a proxy: the
// one source it reads (-real-ip-header) and whether a PROXY header is
// required (-proxy-protocol).
type realIPSetup struct {
	header        engine.IPSource
	proxyProtocol bool
}

// xffOnly is wssd behind a proxy that sets no X-Real-IP and appends the
// client to X-Forwarded-For, as AWS ALB, Google's and Cloudflare's load
// balancers and Envoy do (proxyOptions.xffOnly).
var xffOnly = realIPSetup{header: engine.SourceXForwardedFor}

// proxyOptions are what a test chooses about a proxy it starts.
type proxyOptions struct {
	upstream netip.AddrPort // wssd's address
	// idle replaces the shipped idle timeout of upgraded connections (60 s).
	idle time.Duration
	// xffOnly rewrites the shipped file to tell wssd the client's address
	// in X-Forwarded-For alone, and to pass the X-Real-IP a client sends
	// on untouched (see the comments in each file): wssd then runs with
	// -real-ip-header X-Forwarded-For.
	xffOnly bool
}

// when returns rs if cond holds, and nothing otherwise.
func when(cond bool, rs ...rewrite) []rewrite {
	if !cond {
		return nil
	}
	return rs
}

// findProxy returns the path of p's program, or skips the test (fails it
// with CI=true) when it is not installed.
func findProxy(t *testing.T, p proxyKind) string {
	t.Helper()
	bin, err := exec.LookPath(p.bin)
	if err != nil {
		// /usr/sbin is not on every user's PATH.
		bin, err = exec.LookPath(filepath.Join("/usr/sbin", p.bin))
	}
	requireComponent(t, fmt.Sprintf("%s (Debian package %s)", p.bin, p.pkg), err)
	return bin
}

// rewrite is one substitution a test makes in a shipped configuration file:
// old, a placeholder the file documents, becomes new, once outside comments
// (see internal/deployconf).
type rewrite struct{ old, new string }

// shippedConfig returns the file deploy/name with rs applied.
func shippedConfig(t *testing.T, name string, rs ...rewrite) string {
	t.Helper()
	subst := make([]deployconf.Subst, len(rs))
	for i, r := range rs {
		subst[i] = deployconf.Subst{Old: r.old, New: r.new}
	}
	text, err := deployconf.Load(name, subst...)
	if err != nil {
		t.Fatalf("%v: the shipped file and interop/proxy_servers_test.go disagree", err)
	}
	return text
}

// seconds formats d as whole seconds, at least one.
func seconds(d time.Duration) string {
	return strconv.Itoa(max(int(d.Round(time.Second)/time.Second), 1))
}

// writeFile writes data into dir/name and returns the file's path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address whose port was free a moment ago,
// for a program that cannot report the port it picked.
func freeAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// startProxy starts p's program bin with o on a free loopback port and
// returns its address. Another program may take the port between
// freeAddr and the proxy's bind: then it tries again with another port.
func startProxy(t *testing.T, p proxyKind, bin string, o proxyOptions) netip.AddrPort {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		addr := freeAddr(t)
		argv := append([]string{bin}, p.configure(t, dir, addr, o)...)
		err := startProcess(t, dir, addr, argv...)
		if err == nil {
			return addr
		}
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			dumpLogs(t, dir)
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v", attempt, err)
	}
}

// isRoot says whether the tests run as root, where the proxies drop their
// privileges to a user of their own.
func isRoot() bool { return os.Geteuid() == 0 }

// configureNginx includes deploy/nginx/wssd.conf in the http block of a
// minimal nginx.conf whose pid, logs and temporary files live in dir.
func configureNginx(t *testing.T, dir string, addr netip.AddrPort, o proxyOptions) []string {
	t.Helper()
	cert, key, err := testpki.Get().WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	site := shippedConfig(t, "nginx/wssd.conf", append([]rewrite{
		{"listen 443 ssl;", "listen " + addr.String() + " ssl;"},
		{"/etc/ssl/wssd/cert.pem", cert},
		{"/etc/ssl/wssd/key.pem", key},
		{"server 127.0.0.1:8282;", "server " + o.upstream.String() + ";"},
		{"proxy_read_timeout 60s;", "proxy_read_timeout " + seconds(o.idle) + "s;"},
	}, when(o.xffOnly, rewrite{"proxy_set_header X-Real-IP $remote_addr;", ""})...)...)
	sitePath := writeFile(t, dir, "wssd.conf", site)
	// The worker (nobody, when the test runs as root) writes API request
	// bodies larger than its buffer into client_body_temp_path, which it
	// must reach: Debian's is /var/lib/nginx/body, owned by www-data. dir
	// is the test's, mode 0700.
	bodyDir, err := os.MkdirTemp("", "wssd-nginx-body-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bodyDir) })
	if err := os.Chmod(bodyDir, 0o777); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[3]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[2]s;
}
`, dir, sitePath, bodyDir)
	conf := writeFile(t, dir, "nginx.conf", main)
	return []string{"-p", dir, "-c", conf, "-g", "daemon off;"}
}

// apacheModules are the modules deploy/apache/wssd.conf needs, beyond those
// compiled into Debian's apache2 (core, http, log_config, unixd, so).
var apacheModules = []string{"mpm_event", "authz_core", "alias", "env", "headers", "proxy", "proxy_http", "ssl"}

// configureApache includes deploy/apache/wssd.conf in a minimal main
// configuration (what Debian's apache2.conf, ports.conf and a2enmod
// provide) whose pid, logs and runtime files live in dir.
func configureApache(t *testing.T, dir string, addr netip.AddrPort, o proxyOptions) []string {
	t.Helper()
	cert, key, err := testpki.Get().WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	site := shippedConfig(t, "apache/wssd.conf", append([]rewrite{
		{"<VirtualHost *:443>", fmt.Sprintf("<VirtualHost *:%d>", addr.Port())},
		{"/etc/ssl/wssd/cert.pem", cert},
		{"/etc/ssl/wssd/key.pem", key},
		{"http://127.0.0.1:8282/app/", "http://" + o.upstream.String() + "/app/"},
		{"http://127.0.0.1:8282/apps/", "http://" + o.upstream.String() + "/apps/"},
		// The leading space tells Timeout from ProxyTimeout.
		{" Timeout 60", " Timeout " + seconds(o.idle)},
		{"ProxyTimeout 60", "ProxyTimeout " + seconds(o.idle)},
	}, when(o.xffOnly, rewrite{`RequestHeader set X-Real-IP "%{REMOTE_ADDR}s"`, ""})...)...)
	sitePath := writeFile(t, dir, "wssd.conf", site)
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %q\nDefaultRuntimeDir %q\nPidFile %q\n", dir, dir, filepath.Join(dir, "apache2.pid"))
	fmt.Fprintf(&b, "ServerName localhost\nErrorLog %q\nLogLevel warn\n", filepath.Join(dir, "error.log"))
	// ${APACHE_LOG_DIR}, which Debian's /etc/apache2/envvars sets.
	fmt.Fprintf(&b, "Define APACHE_LOG_DIR %q\n", dir)
	b.WriteString(`LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined` + "\n")
	if isRoot() {
		b.WriteString("User www-data\nGroup www-data\n")
	}
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	b.WriteString("StartServers 1\nMinSpareThreads 5\nMaxSpareThreads 30\nThreadsPerChild 25\nMaxRequestWorkers 25\n")
	fmt.Fprintf(&b, "Listen %s\nInclude %q\n", addr, sitePath)
	conf := writeFile(t, dir, "apache2.conf", b.String())
	return []string{"-d", dir, "-f", conf, "-DFOREGROUND"}
}

// configureHAProxy writes deploy/haproxy/haproxy.cfg into dir as it is,
// but for the substitutions, to run in the foreground (-db).
func configureHAProxy(t *testing.T, dir string, addr netip.AddrPort, o proxyOptions) []string {
	t.Helper()
	pki := testpki.Get()
	pem := writeFile(t, dir, "haproxy.pem", string(pki.CertPEM)+string(pki.KeyPEM))
	cfg := shippedConfig(t, "haproxy/haproxy.cfg", append([]rewrite{
		{"bind :443 ", "bind " + addr.String() + " "},
		{"/etc/ssl/wssd/haproxy.pem", pem},
		{" 127.0.0.1:8282 ", " " + o.upstream.String() + " "},
		{"timeout tunnel 60s", "timeout tunnel " + seconds(o.idle) + "s"},
		{"log /dev/log local0", "log stderr format raw local0"},
		{"/run/haproxy/admin.sock", filepath.Join(dir, "admin.sock")},
		// Sockets for 100,000 connections may be more than the test's
		// open-file limit allows.
		{"maxconn 100000", "maxconn 1000"},
		// Dropping privileges needs root, and the chroot a directory
		// that only an installed HAProxy has.
		{"chroot /var/lib/haproxy", ""},
		{"user haproxy", ""},
		{"group haproxy", ""},
	}, when(o.xffOnly,
		// As the file's header says: X-Forwarded-For instead of the PROXY
		// header, and the client's own headers passed on.
		rewrite{"send-proxy-v2 check check-send-proxy", "check"},
		rewrite{"http-request del-header X-Real-IP", ""},
		rewrite{"http-request del-header X-Forwarded-For", "option forwardfor"},
	)...)...)
	conf := writeFile(t, dir, "haproxy.cfg", cfg)
	return []string{"-f", conf, "-db"}
}

// errAddrInUse is startProcess's error for a program that exited at start
// because its port was taken.
var errAddrInUse = errors.New("address already in use")

// startProcess runs argv in dir, in its own process group, with its output
// in dir/console.log, and waits until it completes a TLS handshake with the
// test certificate on addr. It returns an error if the program exits first
// (wrapping errAddrInUse when one of its logs says so). When the test ends
// the process gets SIGTERM, and its whole group SIGKILL if it is still
// there after proxyStopTimeout; on failure, the logs in dir go to the test
// log.
func startProcess(t *testing.T, dir string, addr netip.AddrPort, argv ...string) error {
	t.Helper()
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	ctx, cancel := context.WithTimeout(context.Background(), proxyProcessTimeout)
	cmd := command(ctx, dir, argv...)
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	exitedAtStart := false
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(proxyStopTimeout):
			t.Logf("%s did not exit within %v of SIGTERM: killed", argv[0], proxyStopTimeout)
		}
		cancel() // SIGKILL to the group if it is still running
		<-exited
		// Whatever the leader left behind in its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() && !exitedAtStart {
			dumpLogs(t, dir)
		}
	})

	deadline := time.Now().Add(proxyStartTimeout)
	for {
		select {
		case <-exited:
			exitedAtStart = true
			err := fmt.Errorf("%s exited at start: %v", strings.Join(argv, " "), waitErr)
			if logsSay(dir, "Address already in use") {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return err
		default:
		}
		// A TLS handshake with the test certificate tells the proxy from
		// any other program that might have taken the port meanwhile.
		cfg := clientTLS()
		cfg.ServerName = "localhost"
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 200 * time.Millisecond}, "tcp", addr.String(), cfg)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no TLS handshake on %v after %v: %v", argv[0], addr, proxyStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logsSay reports whether one of the *.log files of dir contains s.
func logsSay(dir, s string) bool {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), s) {
			return true
		}
	}
	return false
}

// dumpLogs writes the *.log files of dir to the test log.
func dumpLogs(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err == nil && len(data) > 0 {
			t.Logf("%s:\n%s", filepath.Base(f), data)
		}
	}
}

// proxyVersion returns the version line that bin prints.
func proxyVersion(t *testing.T, bin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := command(ctx, ".", bin, "-v").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s -v: %v", bin, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
