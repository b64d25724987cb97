//go:build !unix

package main

import (
	"os"
	"path/filepath"
)

// lockDir opens dir's wssd.lock file; without flock(2) it does not keep
// another process out.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "wssd.lock"), os.O_RDWR|os.O_CREATE, 0o600)
}
