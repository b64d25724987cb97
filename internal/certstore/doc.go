// Package certstore turns certificate and key files on disk into the
// [tls.Config] behind wssd's wss listener and keeps it current while the
// server runs.
//
// # Loading
//
// [Load] reads every [Pair] of PEM files named in a [Config] (the certificate
// file may carry the intermediates after the leaf) and, when
// [Config.ClientCAFile] is set, the CA certificates client certificates must
// chain to. Errors name the file and what is wrong with it. A certificate
// that has expired or is not yet valid still loads, with a warning in the
// log: refusing it would keep a restarted server from listening at all,
// while clients reject it on their own.
//
// # Serving
//
// [Store.TLSConfig] returns one [tls.Config] for the life of the [Store]. It
// holds no certificates itself: its GetConfigForClient callback hands every
// new handshake the set loaded last, so a reload takes effect for the next
// handshake and never touches an established connection. The certificate is
// chosen by SNI: the first pair, in [Config.Pairs] order, whose leaf covers the
// requested name (exactly or through a wildcard) and which the client can
// use; the first pair when the client sent no name or nothing matches.
//
// # Reloading
//
// [Store.Reload] re-reads every file and swaps the new set in only if all of
// it loads: a half-written, mismatched or unreadable file leaves the old set
// serving. [Store.Watch] polls the files' metadata and content and calls
// Reload when they change; the caller may also call Reload, for instance on
// SIGHUP.
//
// # Development certificates
//
// [DevCertificate] creates, and later reuses, a local CA and a server
// certificate for localhost, for `make run`. [GenerateSelfSigned] makes
// throwaway certificates for tests and tools.
package certstore
