package push

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credentials are an app's HTTP API credentials: what signs and verifies
// its requests and webhooks. Key is public; Secret never leaves the server
// and the app's backend.
type Credentials struct {
	ID     string
	Key    string
	Secret string
}

// AuthVersion is the only auth_version of the Pusher HTTP API.
const AuthVersion = "1.0"

// MaxClockSkew is how far an auth_timestamp may be from the server's clock,
// either way.
const MaxClockSkew = 600 * time.Second

// Reasons VerifyRequest refuses a request, each inside an *AuthError.
var (
	// ErrAuthQuery: the query string does not parse (a bad escape, a
	// parameter given twice). Status 400.
	ErrAuthQuery = errors.New("push: malformed query string")
	// ErrAuthKey: auth_key is missing or is not the app's key. Status 401.
	ErrAuthKey = errors.New("push: auth_key missing or not this app's key")
	// ErrAuthVersion: auth_version is missing or not 1.0. Status 401.
	ErrAuthVersion = errors.New("push: auth_version missing or not " + AuthVersion)
	// ErrAuthTimestamp: auth_timestamp is missing, not a number of seconds,
	// or more than MaxClockSkew from the server's clock. Status 401.
	ErrAuthTimestamp = errors.New("push: auth_timestamp missing or more than 600 s from the server's clock")
	// ErrBodyMD5: the body is not empty and body_md5 is missing, or
	// body_md5 is not the MD5 of the body received. Status 401.
	ErrBodyMD5 = errors.New("push: body_md5 missing or not the MD5 of the body")
	// ErrAuthSignature: auth_signature is missing or wrong. Status 401.
	ErrAuthSignature = errors.New("push: auth_signature missing or wrong")
)

// AuthError is a request VerifyRequest refused: Status is the HTTP status
// to answer (400 for a malformed query, 401 otherwise), Err one of the
// ErrAuth* and ErrBodyMD5 sentinels.
type AuthError struct {
	Status int
	Err    error
}

func (e *AuthError) Error() string { return e.Err.Error() }

func (e *AuthError) Unwrap() error { return e.Err }

func authError(err error) *AuthError {
	status := http.StatusUnauthorized
	if err == ErrAuthQuery {
		status = http.StatusBadRequest
	}
	return &AuthError{Status: status, Err: err}
}

// Parameters of the signature.
const (
	paramKey       = "auth_key"
	paramTimestamp = "auth_timestamp"
	paramVersion   = "auth_version"
	paramBodyMD5   = "body_md5"
	paramSignature = "auth_signature"
)

// VerifyRequest checks a Pusher HTTP API request signed with c, as the
// Pusher HTTP API reference defines it: the HMAC-SHA256 of
// "METHOD\nPATH\nQUERY", where QUERY is every parameter but auth_signature,
// keys lowercased, sorted by key, joined as key=value with "&", unescaped;
// auth_key must be c.Key, auth_version 1.0, auth_timestamp within
// MaxClockSkew of now, and a non-empty body must come with a body_md5 equal
// to its MD5. method is the request's, path its decoded path (r.URL.Path),
// rawQuery its query as received (r.URL.RawQuery), body its bytes as
// received. Escapes in rawQuery are decoded; a "+" stays a plus, as the
// server SDKs send their parameters unescaped.
//
// It returns the query's parameters, keys lowercased, or an *AuthError.
// It may be called concurrently.
func (c Credentials) VerifyRequest(method, path, rawQuery string, body []byte, now time.Time) (url.Values, error) {
	params, err := parseSignedQuery(rawQuery)
	if err != nil {
		return nil, authError(err)
	}
	get := func(k string) string {
		if v := params[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	if key := get(paramKey); key == "" || !hmac.Equal([]byte(key), []byte(c.Key)) {
		return nil, authError(ErrAuthKey)
	}
	if get(paramVersion) != AuthVersion {
		return nil, authError(ErrAuthVersion)
	}
	ts, err := strconv.ParseInt(get(paramTimestamp), 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > MaxClockSkew {
		return nil, authError(ErrAuthTimestamp)
	}
	if sum, ok := params[paramBodyMD5]; ok || len(body) > 0 {
		want := md5.Sum(body)
		got, err := hex.DecodeString(strings.Join(sum, ""))
		if err != nil || !hmac.Equal(got, want[:]) {
			return nil, authError(ErrBodyMD5)
		}
	}
	sig, err := hex.DecodeString(get(paramSignature))
	if err != nil || len(sig) != sha256.Size {
		return nil, authError(ErrAuthSignature)
	}
	want := c.mac(stringToSign(method, path, params))
	if !hmac.Equal(sig, want) {
		return nil, authError(ErrAuthSignature)
	}
	delete(params, paramSignature)
	return params, nil
}

// VerifyHTTPRequest is VerifyRequest for r, whose body the caller has read
// into body.
func (c Credentials) VerifyHTTPRequest(r *http.Request, body []byte, now time.Time) (url.Values, error) {
	return c.VerifyRequest(r.Method, r.URL.Path, r.URL.RawQuery, body, now)
}

// SignQuery returns the query string of a request to the Pusher HTTP API
// signed with c at now: params (keys lowercased), auth_key,
// auth_timestamp, auth_version, body_md5 when body is not empty, and
// auth_signature, each escaped. params is not modified. It may be called
// concurrently.
func (c Credentials) SignQuery(method, path string, params url.Values, body []byte, now time.Time) string {
	all := make(url.Values, len(params)+5)
	for k, vs := range params {
		k = strings.ToLower(k)
		all[k] = append(all[k], vs...)
	}
	all.Set(paramKey, c.Key)
	all.Set(paramTimestamp, strconv.FormatInt(now.Unix(), 10))
	all.Set(paramVersion, AuthVersion)
	all.Del(paramBodyMD5)
	all.Del(paramSignature)
	if len(body) > 0 {
		sum := md5.Sum(body)
		all.Set(paramBodyMD5, hex.EncodeToString(sum[:]))
	}
	sig := hex.EncodeToString(c.mac(stringToSign(method, path, all)))
	var b strings.Builder
	for _, k := range sortedKeys(all) {
		for _, v := range all[k] {
			b.WriteString(escape(k))
			b.WriteByte('=')
			b.WriteString(escape(v))
			b.WriteByte('&')
		}
	}
	b.WriteString(paramSignature + "=" + sig)
	return b.String()
}

// escape percent-encodes s for a query, a space as %20 (not "+", which
// VerifyRequest reads as a plus).
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// parseSignedQuery reads a raw query into parameters with lowercased keys.
// A key given twice, in any case, or a bad escape, is ErrAuthQuery.
func parseSignedQuery(raw string) (url.Values, error) {
	params := make(url.Values)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.PathUnescape(k)
		v, err2 := url.PathUnescape(v)
		if err1 != nil || err2 != nil || k == "" {
			return nil, ErrAuthQuery
		}
		k = strings.ToLower(k)
		if _, dup := params[k]; dup {
			return nil, ErrAuthQuery
		}
		params[k] = []string{v}
	}
	return params, nil
}

// stringToSign is "METHOD\nPATH\nk=v&k=v…" over params without
// auth_signature, sorted by key.
func stringToSign(method, path string, params url.Values) []byte {
	b := make([]byte, 0, 256)
	b = append(b, strings.ToUpper(method)...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	first := true
	for _, k := range sortedKeys(params) {
		if k == paramSignature {
			continue
		}
		for _, v := range params[k] {
			if !first {
				b = append(b, '&')
			}
			first = false
			b = append(b, k...)
			b = append(b, '=')
			b = append(b, v...)
		}
	}
	return b
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mac is the HMAC-SHA256 of data with c's secret.
func (c Credentials) mac(data []byte) []byte {
	m := hmac.New(sha256.New, []byte(c.Secret))
	m.Write(data)
	return m.Sum(nil)
}

// Sign returns the hex HMAC-SHA256 of data with c's secret: a webhook's
// X-Pusher-Signature, and the signature part of channel and user
// authentication strings.
func (c Credentials) Sign(data []byte) string {
	return hex.EncodeToString(c.mac(data))
}

// ValidSignature reports, in constant time, whether sig is the hex
// HMAC-SHA256 of data with c's secret.
func (c Credentials) ValidSignature(data []byte, sig string) bool {
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, c.mac(data))
}
