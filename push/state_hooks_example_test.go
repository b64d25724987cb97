package push_test

import (
	"fmt"
	"time"

	"github.com/wssd/wssd/push"
)

// Which channels keep their last event: the four cache prefixes.
func ExampleCacheChannel() {
	for _, name := range []string{"cache-prices", "private-cache-x", "presence-cache-room", "private-encrypted-cache-y", "prices", "presence-room"} {
		fmt.Println(name, push.CacheChannel(name))
	}
	// Output:
	// cache-prices true
	// private-cache-x true
	// presence-cache-room true
	// private-encrypted-cache-y true
	// prices false
	// presence-room false
}

// A cluster State hands a starting node the last events a LocalState
// keeps.
func ExampleLocalState_LastEvents() {
	l := push.NewLocalState()
	l.PublishLast("1", "cache-prices", push.NewMessage(nil, []byte(`{"event":"tick","channel":"cache-prices","data":"42"}`)), nil)
	l.LastEvents("1", func(channel string, m *push.Message, _ time.Time) {
		fmt.Println(channel, string(m.Frame()))
	})
	// Output: cache-prices {"event":"tick","channel":"cache-prices","data":"42"}
}
