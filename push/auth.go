package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// AuthorizeChannel returns the auth string ("key:signature") that lets the
// connection socketID join a private, encrypted or presence channel; for a
// presence channel channelData is the member's JSON ({"user_id":…,
// "user_info":…}), exactly as the client will send it, and "" otherwise.
// It is what an app's authorization endpoint returns; the server checks it
// the same way.
func (a *App) AuthorizeChannel(socketID, channel, channelData string) string {
	return a.Key + ":" + a.sign(channelString(socketID, channel, channelData))
}

// AuthenticateUser returns the auth string of a pusher:signin with
// userData (JSON with at least a non-empty string "id"), exactly as the
// client will send it: what an app's user-authentication endpoint returns.
func (a *App) AuthenticateUser(socketID, userData string) string {
	return a.Key + ":" + a.sign(userString(socketID, userData))
}

// SharedSecret returns the base64 key of an encrypted channel
// (private-encrypted-…) derived from the app's encryption master key, as
// Pusher's server libraries derive it: SHA-256 of the channel name and the
// master key. The authorization endpoint returns it as shared_secret.
func SharedSecret(channel string, masterKey []byte) string {
	h := sha256.New()
	h.Write([]byte(channel))
	h.Write(masterKey)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func channelString(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

func userString(socketID, userData string) string { return socketID + "::user::" + userData }

func (a *App) mac(s string) []byte {
	m := hmac.New(sha256.New, []byte(a.Secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

func (a *App) sign(s string) string { return hex.EncodeToString(a.mac(s)) }

// verify checks an auth string against the string it must sign: the app's
// key, a colon, and the hex HMAC-SHA256, compared in constant time.
func (a *App) verify(auth, signed string) bool {
	key, sig, ok := strings.Cut(auth, ":")
	if !ok || key != a.Key {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, a.mac(signed))
}
