package load

import "testing"

func TestCentrifugoPub(t *testing.T) {
	cases := []struct {
		name       string
		line       string
		data       string
		isPush, ok bool
	}{
		{"publication", `{"push":{"channel":"c-0","pub":{"data":"3,17,xx","offset":4}}}`, "3,17,xx", true, true},
		{"join, no pub", `{"push":{"channel":"c-0","join":{"info":{}}}}`, "", true, false},
		{"subscribe reply", `{"id":2,"subscribe":{}}`, "", false, false},
		{"ping", `{}`, "", false, false},
		{"cut short", `{"push":{"channel":"c-0","pub":{"data":"3,1`, "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, isPush, ok := centrifugoPub([]byte(c.line))
			if string(data) != c.data || isPush != c.isPush || ok != c.ok {
				t.Fatalf("got %q, %v, %v; want %q, %v, %v", data, isPush, ok, c.data, c.isPush, c.ok)
			}
		})
	}
}
