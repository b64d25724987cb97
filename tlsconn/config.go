package tlsconn

import "crypto/tls"

// HardenedConfig returns a new server config with wssd's protocol policy,
// for the caller to add certificates (or GetCertificate) and ALPN to:
//
//   - TLS 1.2 and 1.3 only;
//   - in TLS 1.2, only ECDHE key exchange with an AEAD cipher: AES-GCM or
//     ChaCha20-Poly1305, ECDSA or RSA certificates. Go's default list also
//     offers CBC suites (ECDHE-ECDSA-AES128-SHA and its kin) to old
//     clients; scanners flag those as potentially vulnerable to LUCKY13,
//     and every client that speaks TLS 1.2 has an AEAD suite;
//   - TLS 1.3 as Go ships it: its suites are not configurable, and
//     CurvePreferences is left unset, so Go's default key exchanges,
//     X25519MLKEM768 first, stay on.
//
// crypto/tls still orders the suites by the machine's AES support. Session
// tickets are left as crypto/tls has them: on, with keys that rotate daily
// and open a ticket for seven days. The engine does not apply this config on
// its own: a tls.Config given to it is used as given.
func HardenedConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
