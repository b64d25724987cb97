package certstore

import "time"

// SetTicketClock makes s's session ticket key rotation read the time from
// now. It panics if s issues no tickets.
func SetTicketClock(s *Store, now func() time.Time) {
	s.tickets.mu.Lock()
	defer s.tickets.mu.Unlock()
	s.tickets.now = now
}
