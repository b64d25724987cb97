package cluster

import (
	"strings"
	"testing"
)

// nameSeeds are app ids and channel names, with the bytes subjects give a
// meaning to; they feed TestSubject and FuzzSubject.
var nameSeeds = []struct {
	name, app, channel string
}{
	{"plain", "1", "news"},
	{"dots", "1", "a.b.c"},
	{"star", "1", "*"},
	{"gt", "1", ">"},
	{"wildcards in a name", "1", "a.*.>"},
	{"pusher bytes", "app-1", "private-a_b-c=d@e,f.g;h"},
	{"internal", "1", "#server-to-user-42"},
	{"space and control", "a b", "x\r\n\x00\t y"},
	{"unicode", "☃", "ü.ß"},
	{"base64 lookalike", "YQ", "YS5i"},
	{"dot app", "a.b", "c"},
}

func TestSubject(t *testing.T) {
	s := subjects{prefix: "wssd.test"}
	for _, tc := range nameSeeds {
		t.Run(tc.name, func(t *testing.T) { checkSubject(t, s, tc.app, tc.channel) })
	}
	for _, subj := range []string{"", "wssd.test", "wssd.test.ch.MQ", "wssd.test.ch.MQ.", "wssd.test.ch..YQ",
		"wssd.test.ch.MQ.YQ.YQ", "wssd.test.all.MQ.YQ", "wssd.test.ch.MQ.Y", "wssd.test.ch.MQ.YR", "wssd.test.ch.MQ.YQ==",
		"wssd.test.xx.MQ", "other.ch.MQ.YQ", "wssd.test.ch.M*.YQ"} {
		if k, app, ch, err := s.parse(subj); err == nil {
			t.Errorf("parse(%q) = %q %q %q, want an error", subj, k, app, ch)
		}
	}
}

// checkSubject checks that the subjects of app and channel are of four
// (or three) plain tokens after the prefix and parse back to them.
func checkSubject(t *testing.T, s subjects, app, channel string) {
	t.Helper()
	subj := s.channel(app, channel)
	rest, _ := strings.CutPrefix(subj, s.prefix+".")
	if toks := strings.Split(rest, "."); len(toks) != 3 {
		t.Fatalf("%q has %d tokens after the prefix, want 3", subj, len(toks))
	}
	if strings.ContainsAny(rest, "*> \t\r\n\x00") {
		t.Fatalf("%q has a wildcard or a space", subj)
	}
	k, gotApp, gotCh, err := s.parse(subj)
	if err != nil || k != kindChannel || gotApp != app || gotCh != channel {
		t.Fatalf("parse(%q) = %q %q %q %v", subj, k, gotApp, gotCh, err)
	}
	for _, kind := range []string{kindAll, kindCache, kindQuery} {
		k, gotApp, gotCh, err := s.parse(s.perApp(kind, app))
		if err != nil || k != kind || gotApp != app || gotCh != "" {
			t.Fatalf("parse(%q) = %q %q %q %v", s.perApp(kind, app), k, gotApp, gotCh, err)
		}
	}
}

// FuzzSubject: every non-empty name has a subject of its own that parses
// back to it, and whatever parses is a subject as we would build it.
func FuzzSubject(f *testing.F) {
	for _, tc := range nameSeeds {
		f.Add(tc.app, tc.channel)
	}
	s := subjects{prefix: "wssd"}
	f.Fuzz(func(t *testing.T, app, channel string) {
		if app != "" && channel != "" {
			checkSubject(t, s, app, channel)
		}
		// Taken as a subject, what parses must be canonical.
		subj := app + "." + channel
		if k, a, ch, err := s.parse(subj); err == nil {
			again := s.perApp(k, a)
			if k == kindChannel {
				again = s.channel(a, ch)
			}
			if again != subj {
				t.Fatalf("%q parses to %q %q %q, which builds %q", subj, k, a, ch, again)
			}
		}
	})
}
