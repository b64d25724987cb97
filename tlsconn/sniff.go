package tlsconn

// TLS record layer constants (RFC 8446, Section 5.1).
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 0x16
	recordVersionMajor  = 0x03    // every TLS version, 1.0 to 1.3
	maxFirstRecordLen   = 1 << 14 // TLSPlaintext.length, at most (RFC 8446, Section 5.1)
)

// checkFirstRecord reports whether b, the first bytes received on a
// connection, may still begin a TLS handshake record (it returns ErrNotTLS if
// not), and whether b holds that whole record.
func checkFirstRecord(b []byte) (complete bool, err error) {
	if len(b) > 0 && b[0] != recordTypeHandshake {
		return false, ErrNotTLS
	}
	if len(b) > 1 && b[1] != recordVersionMajor {
		return false, ErrNotTLS
	}
	if len(b) < recordHeaderLen {
		return false, nil
	}
	n := int(b[3])<<8 | int(b[4])
	if n > maxFirstRecordLen {
		return false, ErrNotTLS
	}
	return len(b) >= recordHeaderLen+n, nil
}

// httpMethods are the request methods [LooksLikeHTTP] recognises, each with
// the space that ends it.
var httpMethods = [...]string{
	"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH ",
}

// LooksLikeHTTP reports whether b, the first bytes received on a connection,
// begin an HTTP/1.x request line: a standard method followed by a space. A
// server that gets [ErrNotTLS] from [Conn.Feed] can use it to answer a plain
// HTTP client on its TLS port with a 400 response, as net/http does, instead
// of silently closing. It reports false when b is too short to tell.
func LooksLikeHTTP(b []byte) bool {
	for _, m := range httpMethods {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// MayBecomeHTTP reports whether b, the first bytes received on a connection,
// is too short to tell but could still grow into what [LooksLikeHTTP]
// recognises: a caller that wants to answer plain HTTP with a 400 waits for
// more bytes (at most eight) before it feeds them to [Conn.Feed].
func MayBecomeHTTP(b []byte) bool {
	for _, m := range httpMethods {
		if len(b) < len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}
