package cluster

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Subjects. Every subject starts with Config.Prefix; app ids and channel
// names are each one token, encoded with token:
//
//	{prefix}.hb                 heartbeats of every node
//	{prefix}.hb.{instance}      heartbeats to one instance (a greeting)
//	{prefix}.alive.{instance}   liveness probes of one instance
//	{prefix}.ch.{app}.{channel} a channel's events (nodes with subscribers there)
//	{prefix}.all.{app}          PublishAll (every node)
//	{prefix}.cache.{app}        cache channels' events (every node keeps the last)
//	{prefix}.q.{app}            queries, answered to the request's reply inbox
//	{prefix}.node.{n}           operations on node n's sockets (remote.go)
const (
	kindChannel = "ch"
	kindAll     = "all"
	kindCache   = "cache"
	kindQuery   = "q"
	heartbeat   = "hb"
	kindAlive   = "alive"
	kindNode    = "node"
)

// enc turns any bytes into a subject token: base64url has neither '.'
// (the token separator) nor '*' or '>' (the wildcards), nor the spaces and
// control bytes NATS forbids, so no name can escape its token or match
// another's; without padding the token is shorter and has one spelling
// (Strict refuses non-zero trailing bits), so decoding is the inverse.
var enc = base64.RawURLEncoding.Strict()

// token encodes a non-empty name as one subject token.
func token(name string) string { return enc.EncodeToString([]byte(name)) }

// errSubject is returned by parseSubject for a subject that is not one of
// this layout's.
var errSubject = errors.New("cluster: malformed subject")

// untoken decodes a token; the empty name has no token.
func untoken(t string) (string, error) {
	if t == "" {
		return "", errSubject
	}
	b, err := enc.DecodeString(t)
	if err != nil {
		return "", errSubject
	}
	return string(b), nil
}

// subjects builds and parses the subjects under one prefix.
type subjects struct{ prefix string }

func (s subjects) heartbeat() string { return s.prefix + "." + heartbeat }

// greeting returns the subject of heartbeats to one instance only.
func (s subjects) greeting(id string) string { return s.heartbeat() + "." + token(id) }

// alive returns the subject an instance answers liveness probes on.
func (s subjects) alive(id string) string { return s.prefix + "." + kindAlive + "." + token(id) }

// node returns the subject of node n's socket operations.
func (s subjects) node(n uint16) string {
	return s.prefix + "." + kindNode + "." + strconv.Itoa(int(n))
}

// perApp returns the subject kind ("all", "cache", "q") of the app.
func (s subjects) perApp(kind, app string) string { return s.prefix + "." + kind + "." + token(app) }

// channel returns the channel's subject; app and channel must not be empty.
func (s subjects) channel(app, channel string) string {
	return s.prefix + "." + kindChannel + "." + token(app) + "." + token(channel)
}

// parse splits a subject of this layout into its kind, app and (for a
// channel's) channel.
func (s subjects) parse(subj string) (kind, app, channel string, err error) {
	kind, appTok, chTok, err := s.split(subj)
	if err != nil {
		return "", "", "", err
	}
	if app, err = untoken(appTok); err != nil {
		return "", "", "", err
	}
	if kind == kindChannel {
		if channel, err = untoken(chTok); err != nil {
			return "", "", "", err
		}
	}
	return kind, app, channel, nil
}

// split cuts a subject of this layout into its kind and its tokens, not
// decoded: the app's token is looked up as it is on the hot path.
func (s subjects) split(subj string) (kind, appTok, chTok string, err error) {
	rest, ok := strings.CutPrefix(subj, s.prefix+".")
	if !ok {
		return "", "", "", errSubject
	}
	kind, rest, _ = strings.Cut(rest, ".")
	appTok, chTok, hasCh := strings.Cut(rest, ".")
	switch {
	case kind == kindChannel && hasCh && chTok != "":
	case (kind == kindAll || kind == kindCache || kind == kindQuery) && !hasCh:
	default:
		return "", "", "", errSubject
	}
	if appTok == "" {
		return "", "", "", errSubject
	}
	return kind, appTok, chTok, nil
}

// validPrefix says whether p can start subjects: dot-separated non-empty
// tokens without wildcards, spaces or control bytes.
func validPrefix(p string) bool {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}
