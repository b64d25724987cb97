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

// scrubbingState is a State that decides some transitions with no socket
// of this node taking part, as a cluster State removing a dead node's
// members does: New hands it what the protocol code does on them.
type scrubbingState struct {
	*push.LocalState
	t push.Transitions
}

func (s *scrubbingState) SetTransitions(t push.Transitions) { s.t = t }

type printHook struct{}

func (printHook) HandleEvent(e push.HookEvent) { fmt.Println(e.Kind, e.Channel, e.UserID) }

// A State that removes a member decided elsewhere has the Server send
// member_removed to the channel's subscribers and report the webhooks.
func ExampleTransitionSetter() {
	apps, _ := push.NewApps(push.App{ID: "1", Key: "k", Secret: "s"})
	st := &scrubbingState{LocalState: push.NewLocalState()}
	if _, err := push.New(push.Config{Apps: apps, State: st, Hook: printHook{}}); err != nil {
		panic(err)
	}
	app, _ := apps.ByID("1")
	st.t.Channel(app, "presence-room", &push.Transition{
		Change:  push.Change{MemberRemoved: true, Vacated: true, Member: push.Member{UserID: "u1"}},
		Publish: func(m *push.Message, except []string) { st.Publish("1", "presence-room", m, except) },
	})
	// Output:
	// member_removed presence-room u1
	// channel_vacated presence-room
}
