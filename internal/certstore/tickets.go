package certstore

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// Session ticket key schedule: a new key every ticketKeyRotation, each kept
// for opening tickets until ticketKeyLifetime after it was made. A ticket
// therefore opens at most ticketKeyLifetime after it was issued; crypto/tls's
// automatic keys rotate daily and open tickets for seven days.
const (
	ticketKeyRotation = 12 * time.Hour
	ticketKeyLifetime = 24 * time.Hour
)

// ticketKeys keeps a tls.Config's session ticket keys on the schedule above.
// It rotates them lazily, when a handshake asks for its config, rather than
// from a goroutine of its own: no goroutine to start and stop with the
// Store, and a key never outlives its time even when the process was
// stopped or suspended past a rotation. Its methods are safe for concurrent
// use.
type ticketKeys struct {
	cfg *tls.Config
	now func() time.Time

	mu   sync.Mutex
	keys []ticketKey // newest first
	due  time.Time   // when keys must change next
}

type ticketKey struct {
	key     [32]byte
	created time.Time
}

// refresh makes a new key if the newest is due for rotation and drops the
// keys past their lifetime, then installs the set in cfg. It costs a lock and
// a clock read when nothing is due.
func (k *ticketKeys) refresh() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if len(k.keys) > 0 && now.Before(k.due) {
		return
	}
	keep := make([]ticketKey, 0, len(k.keys)+1)
	if len(k.keys) == 0 || now.Sub(k.keys[0].created) >= ticketKeyRotation {
		key := ticketKey{created: now}
		_, _ = rand.Read(key.key[:]) // never fails (crypto/rand)
		keep = append(keep, key)
	}
	for _, key := range k.keys {
		if now.Sub(key.created) < ticketKeyLifetime {
			keep = append(keep, key)
		}
	}
	k.keys = keep
	raw := make([][32]byte, len(keep))
	for i, key := range keep {
		raw[i] = key.key
	}
	k.cfg.SetSessionTicketKeys(raw)
	k.due = keep[0].created.Add(ticketKeyRotation)
	if oldest := keep[len(keep)-1].created.Add(ticketKeyLifetime); oldest.Before(k.due) {
		k.due = oldest
	}
}
