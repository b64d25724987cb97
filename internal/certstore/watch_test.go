package certstore_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/certstore"
	"github.com/wssd/wssd/internal/logtest"
)

const watchInterval = 20 * time.Millisecond

// watch runs st.Watch until the test ends and fails the test if Watch does
// not return promptly once its context is cancelled.
func watch(t *testing.T, st *certstore.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Watch(ctx, watchInterval)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
}

// secretDir lays out files the way Kubernetes mounts a secret:
// dir/tls.crt -> ..data/tls.crt, dir/..data -> ..<version>/, and updates it by
// swapping the ..data symlink.
type secretDir struct {
	dir     string
	version int
}

func (s *secretDir) pair() certstore.Pair {
	return certstore.Pair{CertFile: filepath.Join(s.dir, "tls.crt"), KeyFile: filepath.Join(s.dir, "tls.key")}
}

func (s *secretDir) update(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	s.version++
	version := "..v" + string(rune('0'+s.version))
	if err := os.Mkdir(filepath.Join(s.dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(s.dir, version, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(s.dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup writes the first certificate and returns the pair and the
		// way its files are updated.
		setup func(t *testing.T, dir string, first *testCert) (certstore.Pair, func(t *testing.T, next *testCert))
		// beforeWatch updates the files before Watch starts.
		beforeWatch bool
	}{{
		name: "files replaced by rename",
		setup: func(t *testing.T, dir string, first *testCert) (certstore.Pair, func(*testing.T, *testCert)) {
			return writePair(t, dir, "a", first.certPEM, first.keyPEM), func(t *testing.T, next *testCert) {
				writePair(t, dir, "a", next.certPEM, next.keyPEM)
			}
		},
	}, {
		name: "files rewritten in place",
		setup: func(t *testing.T, dir string, first *testCert) (certstore.Pair, func(*testing.T, *testCert)) {
			p := writePair(t, dir, "a", first.certPEM, first.keyPEM)
			return p, func(t *testing.T, next *testCert) {
				if err := os.WriteFile(p.CertFile, next.certPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.KeyFile, next.keyPEM, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		},
	}, {
		name: "Kubernetes secret symlink swap",
		setup: func(t *testing.T, dir string, first *testCert) (certstore.Pair, func(*testing.T, *testCert)) {
			s := &secretDir{dir: dir}
			s.update(t, first.certPEM, first.keyPEM)
			return s.pair(), func(t *testing.T, next *testCert) { s.update(t, next.certPEM, next.keyPEM) }
		},
	}, {
		name: "change between Load and Watch",
		setup: func(t *testing.T, dir string, first *testCert) (certstore.Pair, func(*testing.T, *testCert)) {
			return writePair(t, dir, "a", first.certPEM, first.keyPEM), func(t *testing.T, next *testCert) {
				writePair(t, dir, "a", next.certPEM, next.keyPEM)
			}
		},
		beforeWatch: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v1, v2 := newServer(t, "a.test"), newServer(t, "a.test")
			p, update := tt.setup(t, t.TempDir(), v1)
			st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{p}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.beforeWatch {
				update(t, v2)
			}
			watch(t, st)
			if !tt.beforeWatch {
				update(t, v2)
			}
			eventually(t, "the watcher serves the new certificate", func() bool {
				return sameSerial(served(t, st).Leaf, v2.cert)
			})
			// And a real handshake agrees.
			addr := serve(t, st.TLSConfig())
			c := mustConnect(t, addr, &tls.Config{ServerName: "a.test", RootCAs: pool(v2)})
			if !sameSerial(peerLeaf(c), v2.cert) {
				t.Errorf("handshake got serial %v, want %v", peerLeaf(c).SerialNumber, v2.cert.SerialNumber)
			}
		})
	}
}

// TestWatchBrokenThenFixed breaks the files while Watch runs: the old
// certificate stays in service until good files arrive.
func TestWatchBrokenThenFixed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakIt func(t *testing.T, p certstore.Pair)
		wantLog string
	}{
		{
			name:    "garbage certificate file",
			breakIt: func(t *testing.T, p certstore.Pair) { writeFile(t, p.CertFile, []byte("garbage")) },
			wantLog: "certificate reload failed",
		},
		{
			name: "key file deleted",
			breakIt: func(t *testing.T, p certstore.Pair) {
				if err := os.Remove(p.KeyFile); err != nil {
					t.Fatal(err)
				}
			},
			wantLog: "watched certificate file unreadable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			v1, v2 := newServer(t, "a.test"), newServer(t, "a.test")
			log, logs := logtest.New()
			p := writePair(t, dir, "a", v1.certPEM, v1.keyPEM)
			st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{p}, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			watch(t, st)
			tt.breakIt(t, p)
			eventually(t, "the watcher notices the broken file", func() bool { return logs.Count(tt.wantLog) > 0 })
			if !sameSerial(served(t, st).Leaf, v1.cert) {
				t.Fatal("the old certificate went out of service")
			}
			if n := logs.Count(tt.wantLog); n != 1 {
				t.Errorf("%q logged %d times, want once", tt.wantLog, n)
			}
			writePair(t, dir, "a", v2.certPEM, v2.keyPEM)
			eventually(t, "the watcher serves the fixed certificate", func() bool {
				return sameSerial(served(t, st).Leaf, v2.cert)
			})
		})
	}
}

// TestWatchUnchangedContent checks that Watch reloads only for new content:
// not for files a Reload (on SIGHUP, say) already loaded, not for a touched
// file, not for a file replaced by an identical copy.
func TestWatchUnchangedContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1, v2, v3 := newServer(t, "a.test"), newServer(t, "a.test"), newServer(t, "a.test")
	log, logs := logtest.New()
	p := writePair(t, dir, "a", v1.certPEM, v1.keyPEM)
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{p}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, "a", v2.certPEM, v2.keyPEM)
	if err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	watch(t, st)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p.KeyFile, future, future); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.CertFile, v2.certPEM) // new inode, same bytes
	// There is no event to wait for when nothing should happen; give the
	// watcher a few intervals to do the wrong thing.
	time.Sleep(5 * watchInterval)
	if n := logs.Count("certificates loaded"); n != 2 {
		t.Errorf("%d loads, want 2 (Load and Reload):\n%s", n, logs)
	}

	// The watcher was running all along.
	writePair(t, dir, "a", v3.certPEM, v3.keyPEM)
	eventually(t, "the watcher serves the new certificate", func() bool {
		return sameSerial(served(t, st).Leaf, v3.cert)
	})
}

func TestWatchStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1 := newServer(t, "a.test")
	st, err := certstore.Load(certstore.Config{Pairs: []certstore.Pair{writePair(t, dir, "a", v1.certPEM, v1.keyPEM)}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		interval time.Duration
		cancelAt time.Duration // after Watch starts; negative: before
	}{
		{"cancelled while running", watchInterval, 3 * watchInterval},
		{"cancelled before it starts", watchInterval, -1},
		{"default interval", 0, watchInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAt < 0 {
				cancel()
			} else {
				time.AfterFunc(tt.cancelAt, cancel)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				st.Watch(ctx, tt.interval)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("Watch did not return after its context was cancelled")
			}
		})
	}
}
