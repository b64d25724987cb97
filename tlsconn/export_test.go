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

// Buffered reports the ciphertext c holds for its handshake and the
// capacity of the buffer holding it.
func (c *Conn) Buffered() (n, capacity int) {
	c.sh.mu.Lock()
	defer c.sh.mu.Unlock()
	if c.sh.in.buf == nil {
		return 0, 0
	}
	return c.sh.in.len(), cap(*c.sh.in.buf)
}
