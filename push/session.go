package push

import (
	"errors"
	"net"
	"strings"
	"time"
)

// errTooManySubscriptions is returned by join past MaxSubscriptions.
var errTooManySubscriptions = errors.New("push: too many subscriptions")

func (s *Server) onSubscribe(sock *Socket, data Data) {
	var d subscribeData
	if err := decodeObject(data, &d); err != nil {
		sock.fail("malformed pusher:subscribe: " + err.Error())
		return
	}
	name, lim := d.Channel, sock.app.Limits
	if strings.HasPrefix(name, prefixUser) { // pusher-js after pusher:signin
		if len(name) > len(prefixUser)+lim.MaxUserID {
			sock.fail(ErrInvalidChannel.Error() + ": user id too long")
			return
		}
		if uid := sock.UserID(); uid == "" || name != prefixUser+uid {
			sock.subscriptionError(name, "AuthError", "not signed in as this user", 403)
			return
		}
		sock.send(wireFrame{Event: evSubscriptionSucceeded, Channel: name, Data: "{}"}.encode())
		return
	}
	if err := validChannel(name, lim.MaxChannelName); err != nil {
		sock.fail(err.Error())
		return
	}
	k, _ := channelKind(name)
	var m *Member
	if k.needsAuth() {
		cd := ""
		if d.ChannelData != nil {
			cd = *d.ChannelData
		}
		if k == kindPresence {
			var err error
			if m, err = s.presenceMember(sock, d.ChannelData, lim); err != nil {
				sock.subscriptionError(name, "AuthError", err.Error(), 400)
				return
			}
		}
		if !sock.app.verify(d.Auth, channelString(sock.id, name, cd)) {
			sock.subscriptionError(name, "AuthError", "Invalid signature", 401)
			return
		}
	}
	switch err := s.join(sock, name, m, true); {
	case errors.Is(err, ErrPresenceFull):
		sock.subscriptionError(name, "LimitReached", "presence channel is full", 403)
	case errors.Is(err, errTooManySubscriptions):
		sock.subscriptionError(name, "LimitReached", "too many subscriptions on this connection", 429)
	}
}

// presenceMember is the member a presence subscription adds: its
// channel_data's, or, without channel_data, the signed-in user's.
func (s *Server) presenceMember(sock *Socket, channelData *string, lim Limits) (*Member, error) {
	if channelData != nil {
		return parseMember(*channelData, lim)
	}
	sock.mu.Lock()
	u := sock.user
	sock.mu.Unlock()
	if u == nil {
		return nil, errors.New("presence channel_data missing and the connection is not signed in")
	}
	return &Member{UserID: u.id, Info: u.info}, nil
}

func (sock *Socket) subscriptionError(channel, typ, msg string, status int) {
	sock.log.Debug("push: subscription refused", "socket_id", sock.id, "app", sock.app.ID, "channel", cut(channel, 64), "error", msg)
	sock.send(wireFrame{Event: evSubscriptionError, Channel: channel,
		Data: dataOf(subscriptionErrorData{Type: typ, Error: msg, Status: status})}.encode())
}

// join subscribes sock to the channel as member m (presence channels) and,
// with notify, sends it subscription_succeeded and, on cache channels, the
// last event or pusher:cache_miss. It is the one way in, for clients and
// for the Go API alike.
func (s *Server) join(sock *Socket, name string, m *Member, notify bool) error {
	k, cache := channelKind(name)
	sock.mu.Lock()
	if sock.closed {
		sock.mu.Unlock()
		return net.ErrClosed
	}
	if sock.channel(name) != nil {
		sock.mu.Unlock()
		if notify {
			s.resendSucceeded(sock, name, k)
		}
		return nil
	}
	if k != kindInternal && sock.publicSubs() >= sock.app.Limits.MaxSubscriptions {
		sock.mu.Unlock()
		return errTooManySubscriptions
	}
	app := sock.app
	missed := false
	// Under the channel's exclusion: the answer, the member event and the
	// hooks in the order of the channel's changes (see State).
	c, err := s.state.Subscribe(sock, name, m, func(tr *Transition) {
		if notify {
			data := Data("{}")
			if k == kindPresence {
				data = presenceOf(tr.Members)
			}
			sock.send(wireFrame{Event: evSubscriptionSucceeded, Channel: name, Data: data}.encode())
			if cache {
				if last, ok := s.state.Last(app.ID, name); ok {
					sock.send(last.frame)
				} else {
					missed = true
					sock.send(wireFrame{Event: evCacheMiss, Channel: name, Data: "{}"}.encode())
				}
			}
		}
		s.transition(app, name, tr, []string{sock.id})
	})
	if err != nil {
		sock.mu.Unlock()
		return err
	}
	sock.channels = append(sock.channels, membership{name: name, member: m})
	sock.mu.Unlock()
	if missed {
		s.emit(HookEvent{Kind: HookCacheMiss, App: app, Channel: name})
	}
	if c.Count > 0 {
		s.countLater(app, name, k)
	}
	return nil
}

// publicSubs counts the channels a client sees itself in. Called with mu.
func (sock *Socket) publicSubs() int {
	n := 0
	for _, m := range sock.channels {
		if !internal(m.name) {
			n++
		}
	}
	return n
}

func (s *Server) resendSucceeded(sock *Socket, name string, k kind) {
	data := Data("{}")
	if k == kindPresence {
		data = presenceOf(s.state.Members(sock.app.ID, name))
	}
	sock.send(wireFrame{Event: evSubscriptionSucceeded, Channel: name, Data: data}.encode())
}

// unsubscribe takes sock out of the channel, if it is in it, and sends and
// reports what that changed.
func (s *Server) unsubscribe(sock *Socket, name string) {
	sock.mu.Lock()
	ok := sock.leave(name)
	sock.mu.Unlock()
	if !ok {
		return
	}
	k, _ := channelKind(name)
	app := sock.app
	_, ok = s.state.Unsubscribe(sock, name, func(tr *Transition) {
		s.transition(app, name, tr, nil)
	})
	if ok {
		s.countLater(app, name, k)
	}
}

// transition sends and reports what a channel's change did: the member
// events, published with tr.Publish to the channel's subscribers except
// those in except (a joining socket, which has the member in its
// subscription_succeeded), and the webhook events, in the order
// occupied, member added, member removed, vacated. Internal channels have
// none. It is the body of Subscribe's and Unsubscribe's callbacks and of
// Transitions.Channel, so called while the channel cannot change.
func (s *Server) transition(app *App, name string, tr *Transition, except []string) {
	if k, _ := channelKind(name); k == kindInternal {
		return
	}
	if tr.Occupied {
		s.emit(HookEvent{Kind: HookChannelOccupied, App: app, Channel: name})
	}
	if tr.MemberAdded {
		tr.Publish(s.message(app, wireFrame{Event: evMemberAdded, Channel: name,
			Data: dataOf(memberData{UserID: tr.Member.UserID, UserInfo: tr.Member.Info})}), except)
		s.emit(HookEvent{Kind: HookMemberAdded, App: app, Channel: name, UserID: tr.Member.UserID})
	}
	if tr.MemberRemoved {
		tr.Publish(s.message(app, wireFrame{Event: evMemberRemoved, Channel: name,
			Data: dataOf(memberData{UserID: tr.Member.UserID})}), nil)
		s.emit(HookEvent{Kind: HookMemberRemoved, App: app, Channel: name, UserID: tr.Member.UserID})
	}
	if tr.Vacated {
		s.emit(HookEvent{Kind: HookChannelVacated, App: app, Channel: name})
	}
}

// countLater sends pusher_internal:subscription_count to the channel's
// subscribers once the app's interval has passed, with the count then: one
// event per interval however many joined or left.
func (s *Server) countLater(app *App, name string, k kind) {
	if !app.SubscriptionCount || k == kindPresence || k == kindInternal {
		return
	}
	key := app.ID + "\x00" + name
	if _, busy := s.counts.LoadOrStore(key, struct{}{}); busy {
		return
	}
	time.AfterFunc(app.Limits.SubscriptionCountInterval, func() {
		s.counts.Delete(key)
		if n := s.state.Channel(app.ID, name).SubscriptionCount; n > 0 {
			s.state.Publish(app.ID, name, s.message(app, wireFrame{Event: evSubscriptionCount, Channel: name,
				Data: dataOf(countData{SubscriptionCount: n})}), nil)
		}
	})
}

func (s *Server) onSignin(sock *Socket, data Data) {
	var d signinData
	if err := decodeObject(data, &d); err != nil {
		sock.fail("malformed pusher:signin: " + err.Error())
		return
	}
	if !sock.app.verify(d.Auth, userString(sock.id, d.UserData)) {
		sock.fail("Invalid signature for pusher:signin")
		return
	}
	u, err := parseUserData(d.UserData, sock.app.Limits)
	if err != nil {
		sock.fail(err.Error())
		return
	}
	if err := s.signIn(sock, &user{id: u.ID, data: d.UserData, info: u.UserInfo}, u.Watchlist, true); err != nil {
		sock.fail(err.Error())
	}
}

// errSignedIn is returned by signIn for a socket signed in as someone else.
var errSignedIn = errors.New("push: the connection is signed in as another user")

// signIn makes sock the user's: it joins #server-to-user-{id}, watches its
// watchlist (telling it who of them is online) and, if it is the user's
// first socket, tells the user's watchers it is online. With notify, sock
// is sent pusher:signin_success first.
func (s *Server) signIn(sock *Socket, u *user, watchlist []string, notify bool) error {
	sock.mu.Lock()
	switch {
	case sock.closed:
		sock.mu.Unlock()
		return net.ErrClosed
	case sock.user != nil && sock.user.id != u.id:
		sock.mu.Unlock()
		return errSignedIn
	case sock.user != nil:
		sock.mu.Unlock()
		if notify {
			sock.send(wireFrame{Event: evSigninSuccess, Data: dataOf(signinSuccessData{UserData: u.data})}.encode())
		}
		return nil
	}
	if notify {
		sock.send(wireFrame{Event: evSigninSuccess, Data: dataOf(signinSuccessData{UserData: u.data})}.encode())
	}
	// Still under mu, so that a close now waits and then signs the user out.
	sock.user = u
	app := sock.app
	s.state.SignIn(sock, u.id, func() { s.presence(app, u.id, true) }) // the user's first socket
	sock.mu.Unlock()
	_ = s.join(sock, prefixUser+u.id, nil, false)
	for _, w := range watchlist {
		_ = s.join(sock, prefixWatch+w, nil, false)
	}
	if len(watchlist) > 0 {
		// Who of them is online is asked off the event loop: in a cluster
		// each UserOnline asks the other nodes (up to a query timeout),
		// and a watchlist may name a hundred users.
		go s.reportOnline(sock, watchlist)
	}
	return nil
}

// reportOnline tells sock which users of its watchlist are online, after
// it has joined their watchlist channels (so that one coming online
// meanwhile is reported, if twice).
func (s *Server) reportOnline(sock *Socket, watchlist []string) {
	var on []string
	for _, w := range watchlist {
		if s.state.UserOnline(sock.app.ID, w) {
			on = append(on, w)
		}
	}
	if len(on) > 0 {
		sock.send(watchlistFrame("online", on))
	}
}

func watchlistFrame(name string, ids []string) []byte {
	return wireFrame{Event: evWatchlistEvents, Data: dataOf(watchlistData{Events: []watchlistEvent{{Name: name, UserIDs: ids}}})}.encode()
}

// signOut ends sock's sign-in at close: the user's watchers hear it went
// offline when it was its last socket.
func (s *Server) signOut(sock *Socket, uid string) {
	app := sock.app
	s.state.SignOut(sock, uid, func() { s.presence(app, uid, false) }) // the user's last socket
}

// presence tells the user's watchers, on every node, that it went online
// or offline: the body of SignIn's and SignOut's callbacks and of
// Transitions.User.
func (s *Server) presence(app *App, uid string, online bool) {
	name := "offline"
	if online {
		name = "online"
	}
	s.state.Publish(app.ID, prefixWatch+uid, NewMessage(app, watchlistFrame(name, []string{uid})), nil)
}

func (s *Server) onClientEvent(sock *Socket, f clientFrame) {
	app := sock.app
	lim := app.Limits
	if !app.ClientEvents {
		sock.fail("client events are not enabled for this app")
		return
	}
	if k, _ := channelKind(f.Channel); k != kindPrivate && k != kindPresence {
		sock.fail("client events are supported on private and presence channels only")
		return
	}
	if err := validEvent(f.Event, lim.MaxEventName); err != nil {
		sock.fail(err.Error())
		return
	}
	if len(f.Data) > lim.MaxEventData {
		sock.fail("event data larger than the app's limit")
		return
	}
	now := time.Now()
	sock.mu.Lock()
	var m *Member
	joined := sock.channel(f.Channel)
	if joined != nil {
		m = joined.member
	}
	allowed, over := sock.take(now, lim.ClientEventsPerSecond)
	sock.mu.Unlock()
	switch {
	case joined == nil:
		sock.fail("client event on a channel the connection has not joined")
		return
	case over:
		refuse(sock.conn, CodeClientEventRateLimited, CodeClientEventRateLimited.String())
		return
	case !allowed:
		sock.send(encodeError(CodeClientEventRateLimited, CodeClientEventRateLimited.String()))
		return
	}
	out := wireFrame{Event: f.Event, Channel: f.Channel, Data: f.Data}
	if m != nil {
		out.UserID = m.UserID
	}
	s.state.Publish(app.ID, f.Channel, s.message(app, out), []string{sock.id})
	s.emit(HookEvent{Kind: HookClientEvent, App: app, Channel: f.Channel, UserID: out.UserID,
		Event: f.Event, Data: f.Data, SocketID: sock.id})
}

// take spends one client event of the socket's budget: rate a second, in
// bursts of rate. allowed is false when none is left; over is true once a
// second's worth of events in a row have been refused, and the connection
// is closed with 4301. Called with mu.
func (sock *Socket) take(now time.Time, rate int) (allowed, over bool) {
	at := now.UnixNano()
	elapsed := max(time.Duration(at-sock.refill), 0) // the wall clock may step back
	sock.tokens = min(float64(rate), sock.tokens+elapsed.Seconds()*float64(rate))
	sock.refill = at
	if sock.tokens >= 1 {
		sock.tokens--
		sock.rejected = 0
		return true, false
	}
	sock.rejected++
	return false, int(sock.rejected) > rate
}
