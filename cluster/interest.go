package cluster

import (
	"sync"

	"github.com/nats-io/nats.go"
)

// interest is the channel subjects this node wants and the NATS
// subscriptions it has for them. Subscribe and Unsubscribe record what is
// wanted, under the channel's lock, without touching NATS; interestLoop
// brings the subscriptions in line with it, so the last word for a subject
// wins whatever the order the goroutines ran in.
type interest struct {
	busy    sync.Mutex // one reconcile at a time: the loop's or followNow's
	mu      sync.Mutex
	subs    map[string]*want // subject → what is wanted and had
	pending map[string]struct{}
	wake    chan struct{}
	active  int    // subscriptions held
	dropped uint64 // dropped by subscriptions since removed
}

type want struct {
	on  bool
	sub *nats.Subscription
}

func (in *interest) init() {
	in.subs = make(map[string]*want)
	in.pending = make(map[string]struct{})
	in.wake = make(chan struct{}, 1)
}

// set records whether subj is wanted. It never blocks.
func (in *interest) set(subj string, on bool) {
	in.mu.Lock()
	w := in.subs[subj]
	if w == nil {
		w = &want{}
		in.subs[subj] = w
	}
	w.on = on
	in.pending[subj] = struct{}{}
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// interestLoop subscribes and unsubscribes as set asked.
func (s *State) interestLoop() {
	defer s.wg.Done()
	in := &s.interest
	for {
		select {
		case <-s.done:
			return
		case <-in.wake:
		}
		in.mu.Lock()
		batch := in.pending
		in.pending = make(map[string]struct{})
		in.mu.Unlock()
		for subj := range batch {
			s.reconcile(subj)
		}
	}
}

// reconcile makes the subscription of subj what is wanted now. A change of
// mind meanwhile marks subj pending again, for the next round.
func (s *State) reconcile(subj string) {
	in := &s.interest
	in.busy.Lock()
	defer in.busy.Unlock()
	in.mu.Lock()
	w := in.subs[subj]
	if w == nil {
		in.mu.Unlock()
		return
	}
	on, sub := w.on, w.sub
	in.mu.Unlock()
	switch {
	case on && sub == nil:
		sub, err := s.nc.ChanSubscribe(subj, s.shard(subj))
		if err != nil {
			s.log.Error("cluster: cannot subscribe to a channel", "subject", subj, "error", err)
			return
		}
		in.mu.Lock()
		w.sub = sub
		in.active++
		in.mu.Unlock()
	case !on && sub != nil:
		n, _ := sub.Dropped()
		_ = sub.Unsubscribe() // fails only on a closed connection, which has let go of it
		in.mu.Lock()
		w.sub = nil
		in.active--
		in.dropped += uint64(n)
		if !w.on {
			delete(in.subs, subj)
		}
		in.mu.Unlock()
	case !on:
		in.mu.Lock()
		if !w.on && w.sub == nil {
			delete(in.subs, subj)
		}
		in.mu.Unlock()
	}
}

// counts returns the subscriptions held and the events their queues
// dropped. It walks every subscription.
func (in *interest) counts() (active int, dropped uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	dropped = in.dropped
	for _, w := range in.subs {
		if w.sub != nil {
			if n, err := w.sub.Dropped(); err == nil {
				dropped += uint64(n)
			}
		}
	}
	return in.active, dropped
}

// has says whether subj is subscribed to.
func (in *interest) has(subj string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	w := in.subs[subj]
	return w != nil && w.sub != nil
}

// unsubscribeAll drops every subscription, outside the lock: an UNSUB may
// wait for the network.
func (in *interest) unsubscribeAll() {
	in.mu.Lock()
	var subs []*nats.Subscription
	for subj, w := range in.subs {
		if w.sub != nil {
			subs = append(subs, w.sub)
		}
		delete(in.subs, subj)
	}
	in.active = 0
	in.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
}
