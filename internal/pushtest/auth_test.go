package pushtest

import "testing"

// TestAuthVectors: the client signs as Pusher's "Generating authentication
// and authorization strings" does in its worked examples (key
// 278d425bdf160c739803, secret 7ad3773142a6692b25b8, socket 1234.1234),
// the presence one as Pusher's server libraries test it.
func TestAuthVectors(t *testing.T) {
	c := &Client{ID: "1234.1234", o: Options{Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}}
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"private-foobar", c.Auth("private-foobar", ""),
			"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence-foobar", c.Auth("presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`),
			"278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
		{"user authentication", c.userAuth(`{"id":"12345"}`),
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
