package tlsconn

// Tests run with poisoned buffers: a released buffer is overwritten, so a
// test that uses a slice past its documented lifetime sees garbage.
func init() { poisonReleased = true }

// Counts reports the number of running and queued handshakes.
func (h *Handshaker) Counts() (running, queued int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running.n, h.queued.n
}
