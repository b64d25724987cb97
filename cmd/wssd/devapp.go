package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wssd/wssd/push"
)

// devApp is the development app: generated on first run and kept in a
// file, so that a page or a back end configured with its key keeps working
// across restarts.
type devApp struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// loadDevApp reads the development app from file, or generates one and
// writes it there (0600); with file empty the app lives as long as the
// process.
func loadDevApp(file string) (push.App, error) {
	var d devApp
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &d); err != nil || d.ID == "" || d.Key == "" || d.Secret == "" {
				return push.App{}, fmt.Errorf("development app %s: not an app file (delete it to generate a new app)", file)
			}
			return d.app(), nil
		case !errors.Is(err, fs.ErrNotExist):
			return push.App{}, fmt.Errorf("development app: %w", err)
		}
	}
	d = devApp{ID: randomDigits(6), Key: randomHex(10), Secret: randomHex(10)}
	if file != "" {
		b, _ := json.MarshalIndent(d, "", "  ")
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return push.App{}, fmt.Errorf("development app: %w", err)
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o600); err != nil {
			return push.App{}, fmt.Errorf("development app: %w", err)
		}
	}
	return d.app(), nil
}

// app is the development app as served: client events on, for the demo.
func (d devApp) app() push.App {
	return push.App{ID: d.ID, Key: d.Key, Secret: d.Secret, ClientEvents: true, SubscriptionCount: true}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return hex.EncodeToString(b)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}
