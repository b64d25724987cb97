package tlsconn

import "errors"

var (
	// ErrNotTLS is returned by [Conn.Feed] when the first bytes of a
	// connection are certainly not a TLS handshake record: a plain HTTP
	// request (see [LooksLikeHTTP]), an SSLv2 hello, or random bytes.
	ErrNotTLS = errors.New("tlsconn: first record is not a TLS handshake")

	// ErrHandshakeTimeout is returned by [Conn.HandshakeComplete] when the
	// handshake did not finish within [HandshakerConfig.Timeout].
	ErrHandshakeTimeout = errors.New("tlsconn: handshake timed out")

	// ErrTooManyHandshakes is returned by [Conn.Feed], and then by
	// [Conn.HandshakeComplete], when a handshake is refused because the
	// [Handshaker] already runs and queues as many as it may.
	ErrTooManyHandshakes = errors.New("tlsconn: too many concurrent handshakes")

	// ErrTooManyPerIP is returned by [Conn.Feed], and then by
	// [Conn.HandshakeComplete], when a handshake is refused because its
	// client address already has as many running and queued as
	// [HandshakerConfig.MaxPerIP] allows.
	ErrTooManyPerIP = errors.New("tlsconn: too many concurrent handshakes from one address")

	// ErrHandshakerClosed is returned by [Conn.Feed] and
	// [Conn.HandshakeComplete] when the connection's [Handshaker] was closed
	// before its handshake finished.
	ErrHandshakerClosed = errors.New("tlsconn: handshaker closed")

	// ErrHandshakeIncomplete is returned by [Conn.Write],
	// [Conn.AppendPlaintext] and [Conn.CloseWrite] when they are called before
	// [Conn.HandshakeComplete] has reported a successful handshake.
	ErrHandshakeIncomplete = errors.New("tlsconn: handshake not complete")

	// ErrInputLimit is returned by [Conn.Feed] when more ciphertext would be
	// buffered before the handshake completes than it may hold
	// ([MaxWaitingInput] before its goroutine runs,
	// [HandshakerConfig.MaxInput] after); the handshake then fails with it.
	ErrInputLimit = errors.New("tlsconn: too much input during handshake")
)
