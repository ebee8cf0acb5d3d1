package engine

import (
	"strings"
	"testing"
	"time"
)

func TestIgnoreAnnotationFields(t *testing.T) {
	src := `exe:/usr/sbin/plain
# ptrule: reason="billing daemon" owner=ops expires=2027-03-01
exe:/opt/billing/bin/billd
#ptrule: owner="web team" reason="a \"quoted\" \\ reason"
cmd:spamd child
# ptrule: expires=2027-03-01T12:00:00+02:00
user:bob
`
	l, probs := ParseIgnore("site.pignore", []byte(src), 1, nil)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	want := []struct {
		line          int
		reason, owner string
		expires       time.Time
		annotation    string
	}{
		{1, "", "", time.Time{}, ""},
		{3, "billing daemon", "ops", time.Date(2027, 3, 1, 23, 59, 59, 999999999, time.UTC), `reason="billing daemon" owner=ops expires=2027-03-01`},
		{5, `a "quoted" \ reason`, "web team", time.Time{}, `reason="a \"quoted\" \\ reason" owner="web team"`},
		{7, "", "", time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC), `expires=2027-03-01T12:00:00+02:00`},
	}
	es := l.Entries()
	if len(es) != len(want) {
		t.Fatalf("got %d entries, want %d", len(es), len(want))
	}
	for i, w := range want {
		e := es[i]
		if e.Pos.Line != w.line || e.Reason != w.reason || e.Owner != w.owner || !e.Expires.Equal(w.expires) || e.Annotation() != w.annotation {
			t.Errorf("entry %d = line %d reason %q owner %q expires %v annotation %q; want %+v",
				i, e.Pos.Line, e.Reason, e.Owner, e.Expires, e.Annotation(), w)
		}
	}
}

func TestIgnoreAnnotationProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string // position and message fragment
		entries   int
	}{
		{"unknown key", "# ptrule: colour=blue\nexe:/x\n", `1:11: unknown annotation key "colour"`, 1},
		{"bad date", "# ptrule: expires=2027-02-30\nexe:/x\n", `1:19: bad expires "2027-02-30"`, 1},
		{"not key=value", "# ptrule: reason\nexe:/x\n", `1:11: "reason" is not key=value`, 1},
		{"unterminated", "# ptrule: reason=\"billing\nexe:/x\n", "1:18: unterminated quote in reason", 1},
		{"twice", "# ptrule: owner=a owner=b\nexe:/x\n", "1:19: owner given twice", 1},
		{"empty", "# ptrule: owner=\"\"\nexe:/x\n", "1:17: empty owner", 1},
		{"blank line after", "# ptrule: owner=ops\n\nexe:/x\n", "1:1: annotation followed by a blank line annotates no entry", 1},
		{"comment after", "  # ptrule: owner=ops\n# note\nexe:/x\n", "1:3: annotation followed by a comment", 1},
		{"end of file", "exe:/x\n# ptrule: owner=ops", "2:1: annotation at the end of the file", 1},
		{"two annotations", "# ptrule: owner=a\n# ptrule: owner=b\nexe:/x\n", "1:1: annotation followed by another annotation", 1},
		{"above include", "# ptrule: owner=a\nInclude x.pignore\n", "1:1: annotation above an Include line", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, probs := ParseIgnore("f.pignore", []byte(tc.src), 1, func(string) ([]byte, error) { return nil, nil })
			found := false
			for _, p := range probs {
				if strings.Contains(p.Error(), "f.pignore:"+tc.want) {
					found = true
					if !p.Annotation() {
						t.Errorf("%v is not marked as an annotation problem", p)
					}
				}
			}
			if !found {
				t.Errorf("problems %v; want one containing %q", probs, tc.want)
			}
			if l.Len() != tc.entries {
				t.Errorf("%d entries, want %d", l.Len(), tc.entries)
			}
		})
	}
}

// An expired entry stops matching at the evaluation time; a later entry
// matching the same process decides instead; the zero time expires nothing.
func TestIgnoreExpiredStopsMatching(t *testing.T) {
	src := `# ptrule: reason="old migration" expires=2026-01-31
exe:/usr/bin/mig
# ptrule: expires=2026-01-31
pcmd:mig.*
cmd:mig --all
# ptrule: expires=2026-01-31
user:bob
puser:bo.
`
	l, probs := ParseIgnore("f.pignore", []byte(src), 1, nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	p := &Process{Exe: "/usr/bin/mig", Cmd: "mig --all", User: "alice"}
	lastDay := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	after := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		line int
	}{{time.Time{}, 2}, {lastDay, 2}, {after, 5}} {
		e, ok := l.MatchAt(p, tc.at)
		if !ok || e.Pos.Line != tc.line {
			t.Errorf("MatchAt(%v) = line %d, %v; want line %d", tc.at, e.Pos.Line, ok, tc.line)
		}
	}
	if _, ok := l.MatchAt(&Process{Exe: "/usr/bin/mig", Cmd: "other"}, after); ok {
		t.Error("expired exe: entry still matches")
	}
	if e, ok := l.MatchUserAt("bob", after); !ok || e.Pos.Line != 8 {
		t.Errorf("MatchUserAt(bob) after expiry = line %d, %v; want 8", e.Pos.Line, ok)
	}
	if e, ok := l.MatchUserAt("bob", lastDay); !ok || e.Pos.Line != 7 {
		t.Errorf("MatchUserAt(bob) before expiry = line %d, %v; want 7", e.Pos.Line, ok)
	}
	if got := l.Expired(after); len(got) != 3 || got[0].Pos.Line != 2 || got[1].Pos.Line != 4 || got[2].Pos.Line != 7 {
		t.Errorf("Expired = %v", got)
	}
	if got := l.Expired(lastDay); len(got) != 0 {
		t.Errorf("Expired on the last day = %v", got)
	}
}

// The View tells which entry hid each process, and an expired entry hides
// nothing from the aggregates.
func TestViewIgnoredBy(t *testing.T) {
	l, _ := ParseIgnore("f.pignore", []byte("# ptrule: expires=2026-01-31\nexe:/old\nexe:/kept\n"), 1, nil)
	procs := func() []Process {
		return []Process{{PID: 10, Exe: "/old", UID: 5, User: "u"}, {PID: 11, Exe: "/kept", UID: 5, User: "u"}, {PID: 12, Exe: "/other", UID: 5, User: "u"}}
	}
	before := NewView(NewSnapshot(time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), Host{}, Load{}, procs()), l)
	after := NewView(NewSnapshot(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Host{}, Load{}, procs()), l)
	for _, tc := range []struct {
		v     *View
		lines []int // deciding line by process, 0 for none
		count int
	}{{before, []int{2, 3, 0}, 1}, {after, []int{0, 3, 0}, 2}} {
		for i, want := range tc.lines {
			e, ok := tc.v.IgnoredBy(i)
			if ok != (want != 0) || e.Pos.Line != want {
				t.Errorf("at %v IgnoredBy(%d) = line %d, %v; want %d", tc.v.Time, i, e.Pos.Line, ok, want)
			}
		}
		if c := tc.v.UserOf(5).Count; c != tc.count {
			t.Errorf("at %v user count %d, want %d", tc.v.Time, c, tc.count)
		}
	}
}

// wrappedMatcher is an IgnoreMatcher that is not an *IgnoreList.
type wrappedMatcher struct{ l *IgnoreList }

func (w wrappedMatcher) MatchAt(p *Process, t time.Time) (IgnoreEntry, bool) {
	return w.l.MatchAt(p, t)
}

// A View over any IgnoreMatcher tells the same deciding entries as one
// over the list itself.
func TestViewIgnoredByOtherMatcher(t *testing.T) {
	l, _ := ParseIgnore("f.pignore", []byte("# ptrule: owner=ops\nexe:/a\n"), 1, nil)
	s := NewSnapshot(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Host{}, Load{}, []Process{{PID: 1, Exe: "/b"}, {PID: 2, Exe: "/a"}})
	for _, v := range []*View{NewView(s, l), NewView(s, wrappedMatcher{l})} {
		if _, ok := v.IgnoredBy(0); ok {
			t.Error("pid 1 hidden")
		}
		if e, ok := v.IgnoredBy(1); !ok || e.Pos.Line != 2 || e.Owner != "ops" {
			t.Errorf("pid 2: %v, %v; want line 2 owned by ops", e, ok)
		}
		if _, ok := v.IgnoredBy(5); ok {
			t.Error("out of range index hidden")
		}
	}
}
