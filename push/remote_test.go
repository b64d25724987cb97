package push_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wssd/wssd/push"
)

// TestSocketNode: the node number is what a socket id carries between its
// dot and its last nine digits.
func TestSocketNode(t *testing.T) {
	cases := []struct {
		id   string
		node uint16
		ok   bool
	}{
		{"17.0483920571", 0, true},
		{"3.7123456789", 7, true},
		{"1.65535000000001", 65535, true},
		{"1.65536000000001", 0, false},
		{"1.123456789", 0, false}, // no node digit
		{"1.x123456789", 0, false},
		{"1.-1123456789", 0, false},
		{"nodot", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			node, ok := push.SocketNode(tc.id)
			if node != tc.node || ok != tc.ok {
				t.Fatalf("SocketNode(%q) = %d, %v; want %d, %v", tc.id, node, ok, tc.node, tc.ok)
			}
		})
	}
}

// TestSocketOpErrors: an error carried back from another node matches the
// same sentinel (and so gets the same HTTP status) and keeps its text.
func TestSocketOpErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"unknown socket", fmt.Errorf("%w %q", push.ErrUnknownSocket, "1.2"), push.ErrUnknownSocket},
		{"presence full", push.ErrPresenceFull, push.ErrPresenceFull},
		{"limit", fmt.Errorf("%w: bad uid", push.ErrLimit), push.ErrLimit},
		{"not presence", fmt.Errorf("%w: bind first", push.ErrNotPresence), push.ErrNotPresence},
		{"invalid channel", fmt.Errorf("%w: too long", push.ErrInvalidChannel), push.ErrInvalidChannel},
		{"unknown app", push.ErrUnknownApp, push.ErrUnknownApp},
		{"other", errors.New("disk on fire"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := push.ParseSocketOpError(push.SocketOpError(tc.err))
			if got == nil || got.Error() != tc.err.Error() {
				t.Fatalf("carried %q as %v", tc.err, got)
			}
			if tc.want != nil && !errors.Is(got, tc.want) {
				t.Fatalf("%v does not match %v", got, tc.want)
			}
		})
	}
	if push.ParseSocketOpError(push.SocketOpError(nil)) != nil {
		t.Fatal("nil came back as an error")
	}
}
