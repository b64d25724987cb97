// Package tlsconn drives the standard library's crypto/tls server from an
// event loop: bytes in, plaintext and ciphertext out, and no goroutine per
// open connection.
//
// It is modelled on crypto/tls's own non-blocking driver, [tls.QUICConn], and
// never forks or reimplements any of crypto/tls: each [Conn] wraps a real
// [tls.Conn] running over an in-memory transport, so TLS features and
// security fixes arrive with the Go toolchain.
//
// Nothing here knows about sockets or event-loop libraries. The caller reads
// ciphertext from the socket and hands it to [Conn.Feed], takes decrypted
// application data from [Conn.AppendPlaintext], encrypts with [Conn.Write],
// and writes whatever [Conn.Outbound] returns to the socket before releasing
// it with [Conn.DiscardOutbound].
//
// # The handshake
//
// crypto/tls runs a handshake as one sequential function, and its handshake
// and write errors are sticky, so a handshake cannot be paused when input
// runs out and resumed later. Each handshake therefore runs on a goroutine
// of its own while it lasts, as [tls.QUICConn.Start] does. That goroutine is
// found (or started) only once the first complete TLS record has arrived, so
// a peer that connects and sends nothing, or half a ClientHello, costs no
// goroutine. A goroutine whose handshake is over runs the next one, or exits
// after a second without one.
//
// A [Handshaker], shared by all connections of a server, bounds how many
// handshake goroutines run at once and how many handshakes may wait for one;
// past that, handshakes are refused with [ErrTooManyHandshakes]. One client
// address (given to [Server]) may hold only a share of those slots
// ([HandshakerConfig.MaxPerIP], [ErrTooManyPerIP]), so that a peer that
// sends ClientHellos and then nothing cannot lock everyone else out. It also
// bounds the time a handshake may take ([ErrHandshakeTimeout]) and the
// input it may buffer: [MaxWaitingInput], one first record and a little
// more, until its goroutine runs, [HandshakerConfig.MaxInput] after
// ([ErrInputLimit]). [Handshaker.Close] aborts every handshake without
// waiting; [Handshaker.Wait] waits for their goroutines as long as its
// context allows (one blocked in a tls.Config callback ends when the
// callback returns).
//
// While the handshake runs, the Conn calls the wake function given to
// [Server] whenever it has news for the event loop: ciphertext to send, or
// the handshake's outcome. wake is expected to schedule work on the loop,
// which then calls [Conn.Outbound] and [Conn.HandshakeComplete]. Once the
// handshake has finished, its goroutine lets go of the connection (and moves
// on to another handshake, or exits), and every later use of the [tls.Conn]
// happens on the caller's goroutine. Application data that
// arrived together with the client's Finished message is already buffered
// at that point: [Conn.AppendPlaintext] returns it at once, without waiting
// for the next [Conn.Feed].
//
// # Configuration
//
// [Server] uses the tls.Config it is given as it is. [HardenedConfig]
// returns wssd's policy to start from: TLS 1.2 with ECDHE and AEAD suites
// only, TLS 1.3 as Go ships it.
//
// # Concurrency
//
// A Conn is not safe for concurrent use: all its methods must be called
// from one goroutine at a time (typically the event loop that owns the
// socket), except where a method's documentation says otherwise. A
// [Handshaker] is safe for concurrent use.
//
// # Memory
//
// Inbound and outbound ciphertext live in pooled buffers that are returned
// to the pool as soon as they are empty, and no goroutine or timer remains
// after the handshake, so an idle Conn costs about as much as an idle
// [tls.Conn].
package tlsconn
