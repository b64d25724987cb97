package certstore

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// defaultWatchInterval replaces a non-positive interval given to Watch.
const defaultWatchInterval = 10 * time.Second

// Watch checks the store's files every interval (10 seconds if interval is
// not positive) and calls [Store.Reload] when their content differs from the
// set being served. It blocks until ctx
// is done and returns promptly then, leaving no goroutine behind. Watch may
// run alongside calls to Reload (on SIGHUP, say); a change already loaded by
// such a call is not loaded again.
//
// A check costs one os.Stat per file. A file is read and hashed only when
// its identity (device and inode), size, mode or modification time changed,
// and a reload follows only when some file's content differs from what was
// loaded last; touching a file or rewriting it with the same bytes does
// nothing. os.Stat follows symbolic links, so a file replaced by rename (as
// editors and cert-manager do) and a symlink swapped to a new target (as
// Kubernetes does for mounted secrets) both show up as a new inode. The first
// check happens at once, so changes made between [Load] and Watch are seen.
//
// While a file is missing no reload is attempted: an updater that deletes
// before it writes would otherwise cause a failed reload per tick. A reload
// that fails (a pair updated one file at a time may fail in between) is not
// retried until a file changes again; the failure is logged by Reload.
// Files rewritten in place are noticed once their size or modification time
// changes; writing a temporary file and renaming it over the old one is
// always noticed.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultWatchInterval
	}
	w := watcher{s: s, files: make(map[string]*watchedFile, len(s.files))}
	for _, path := range s.files {
		w.files[path] = &watchedFile{}
	}
	w.check()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check()
		}
	}
}

// watcher is the state of one Watch call; only its goroutine uses it.
type watcher struct {
	s     *Store
	files map[string]*watchedFile
}

type watchedFile struct {
	info    os.FileInfo // from the last successful Stat and read; nil before it or while missing
	sum     [sha256.Size]byte
	missing bool // logged as missing; reset when the file is back
}

func (w *watcher) check() {
	changed, missing := false, false
	for _, path := range w.s.files {
		f := w.files[path]
		fi, err := os.Stat(path)
		if err == nil && f.info != nil && sameStat(f.info, fi) {
			continue
		}
		var data []byte
		if err == nil {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			if !f.missing {
				w.s.log.Warn("watched certificate file unreadable; waiting for it to come back", "err", err)
				f.missing = true
			}
			f.info = nil
			missing = true
			continue
		}
		f.info, f.sum, f.missing = fi, sha256.Sum256(data), false
		changed = true
	}
	if !changed || missing {
		return
	}
	loaded := w.s.cur.Load().sums
	for path, f := range w.files {
		if f.sum != loaded[path] {
			w.s.Reload() // logs its own error; the old set stays in service
			return
		}
	}
}

// sameStat reports whether two Stat results describe the same, unchanged
// file. os.SameFile compares device and inode numbers.
func sameStat(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.Mode() == b.Mode() && a.ModTime().Equal(b.ModTime())
}
