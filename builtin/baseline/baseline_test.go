package baseline

import (
	"slices"
	"strings"
	"testing"
	"time"

	"ptrule/engine"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// site is a process rule that reports every non-root process not ignored,
// and a user rule that reports every user with a process, so each case
// is reported once per scope.
const site = `rules:
  - name: every-proc
    scope: process
    condition: proc.uid != 0 && !ignored
    subject: s
    actions: [{alert: {}}]
  - name: every-user
    scope: user
    params: {max: 0}
    condition: user.uid != 0 && !ignored
    subject: s
    actions: [{alert: {}}]
`

func load(t *testing.T, extra ...engine.File) *engine.RuleSet {
	t.Helper()
	rs, ps := engine.LoadRules(append([]engine.File{{Path: "site.yaml", Data: []byte(site)}}, extra...))
	if len(ps) > 0 {
		t.Fatalf("loading rules: %v", ps)
	}
	return rs
}

func proc(pid int, exe string, cmdline ...string) engine.Process {
	return engine.Process{PID: pid, PPID: 1, PGID: pid, SID: pid, UID: 1001, User: "bob", Exe: exe, Cmdline: cmdline, Cmd: strings.Join(cmdline, " "), State: "S"}
}

func TestProposeLine(t *testing.T) {
	deleted := proc(1, "/usr/sbin/agent", "agent")
	deleted.ExeDeleted = true
	mismatch := proc(1, "/usr/sbin/nginx", "nginx: worker")
	mismatch.ExeMismatch = true
	unitShell := proc(1, "/bin/bash", "bash")
	unitShell.Unit = "backup.service"
	scopeShell := proc(1, "/bin/bash", "bash")
	scopeShell.Unit = "session-3.scope"
	unitPython := proc(1, "/usr/bin/python3.12", "/usr/bin/python3", "/srv/x.py")
	unitPython.Unit = "x.service"
	for _, tc := range []struct {
		name string
		p    engine.Process
		line string // "" = none proposed
		risk string // a word the risk comment holds
	}{
		{"daemon", proc(1, "/opt/agent/bin/agent", "/opt/agent/bin/agent", "-d"), "exe:/opt/agent/bin/agent", ""},
		{"daemon with a hostile name", proc(1, "/opt/a\nexe:/usr/sbin/sshd", "a"), `pexe:/opt/a\x{a}exe:/usr/sbin/sshd`, ""},
		{"deleted daemon", deleted, "", "deleted"},
		{"exe mismatch", mismatch, "", "view"},
		{"unreadable exe", proc(1, "", "x"), "", "could not be read"},
		{"python script", proc(1, "/usr/bin/python3.11", "/usr/bin/python3", "/srv/app/sync.py"), "cmd:/usr/bin/python3 /srv/app/sync.py", "whoever runs it"},
		{"python script in a unit: still its command line", unitPython, "cmd:/usr/bin/python3 /srv/x.py", "whoever runs it"},
		{"php-fpm title", proc(1, "/usr/sbin/php-fpm8.2", "php-fpm: pool www"), "cmd:php-fpm: pool www", "process title"},
		{"perl with a hostile script name", proc(1, "/usr/bin/perl", "perl", "/tmp/a\tb"), `pcmd:perl /tmp/a\x{9}b`, "whoever runs it"},
		{"bare login shell", proc(1, "/bin/bash", "-bash"), "", "names no script"},
		{"bare shell in a session scope", scopeShell, "", "names no script"},
		{"bare shell in a service", unitShell, "unit:backup.service", "every process of the service"},
		{"bare python", proc(1, "/usr/bin/python3", "python3"), "", "names no script"},
		{"no command line", proc(1, "/usr/bin/node"), "", "names no script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, why := propose(&tc.p)
			if e.Line != tc.line {
				t.Errorf("line %q, want %q", e.Line, tc.line)
			}
			if got := e.Risk + why; !strings.Contains(got, tc.risk) || (tc.risk == "" && got != "") {
				t.Errorf("risk %q, want it to say %q", got, tc.risk)
			}
		})
	}
}

// TestProposalHidesExactlyTheProposed loads the rendered proposal as an
// ignore list and evaluates again: the proposed processes are no longer
// reported, the others still are, and no text from a process name became
// an entry of its own.
func TestProposalHidesExactlyTheProposed(t *testing.T) {
	deleted := proc(30, "/tmp/.x", "[kworker/0:1]")
	deleted.ExeDeleted = true
	mismatch := proc(40, "/usr/sbin/nginx", "nginx: worker")
	mismatch.ExeMismatch = true
	unitShell := proc(50, "/bin/bash", "bash")
	unitShell.Unit = "backup.service"
	root := proc(1, "/sbin/init", "/sbin/init")
	root.UID, root.User = 0, "root"
	procs := []engine.Process{
		root,
		proc(10, "/opt/agent/bin/agent", "/opt/agent/bin/agent", "--master"),
		proc(11, "/opt/agent/bin/agent", "/opt/agent/bin/agent", "--worker"),
		proc(20, "/usr/bin/python3.11", "/usr/bin/python3", "/srv/sync.py"),
		deleted, mismatch, unitShell,
		proc(60, "/bin/bash", "-bash"),
		proc(70, "/opt/evil\nexe:/opt/x", "evil\ncmd:-bash"),
	}
	snap := engine.NewSnapshot(now, engine.Host{Name: "web1"}, engine.Load{}, procs)
	rs := load(t)
	matches, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := Propose(snap, matches, Options{Now: now, Expires: "2027-03-01"})
	var b strings.Builder
	if _, err := p.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()

	var lines []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSuffix(l, "\n"); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var want []string
	var proposed []int
	for _, e := range p.Entries {
		want = append(want, e.Line)
		proposed = append(proposed, e.PIDs...)
		if e.Users[0].User != "bob" || e.Rules[0] != "every-proc" {
			t.Errorf("entry %q: users %v rules %v, want bob and every-proc", e.Line, e.Users, e.Rules)
		}
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("entry lines of the file %q, want exactly the proposed %q\n%s", lines, want, out)
	}
	slices.Sort(proposed)
	if wantPIDs := []int{10, 11, 20, 50, 70}; !slices.Equal(proposed, wantPIDs) {
		t.Errorf("proposed pids %v, want %v\n%s", proposed, wantPIDs, out)
	}
	if got := strings.Count(out, "# ptrule: reason=\"baseline 2026-12-01: every-proc would fire\" owner=baseline expires=2027-03-01\n"); got != len(p.Entries) {
		t.Errorf("%d annotations for %d entries:\n%s", got, len(p.Entries), out)
	}
	if len(p.Findings) != 1 || p.Findings[0].Entity != "user bob" {
		t.Errorf("findings %+v, want one for user bob", p.Findings)
	}

	again, ps := engine.LoadRules([]engine.File{{Path: "site.yaml", Data: []byte(site)}, {Path: "baseline.pignore", Data: []byte(out)}})
	if len(ps) > 0 {
		t.Fatalf("the proposal does not load cleanly: %v\n%s", ps, out)
	}
	after, _ := again.Evaluate(snap, nil)
	var still []int
	for _, m := range after {
		if m.Proc != nil {
			still = append(still, m.Proc.PID)
		}
	}
	if wantStill := []int{30, 40, 60}; !slices.Equal(still, wantStill) {
		t.Errorf("after loading the proposal, reported %v, want %v (deleted, exe_mismatch, login shell)", still, wantStill)
	}
}

func TestNothingToPropose(t *testing.T) {
	snap := engine.NewSnapshot(now, engine.Host{Name: "web1"}, engine.Load{}, nil)
	var b strings.Builder
	Propose(snap, nil, Options{Now: now, Expires: "2027-03-01"}).WriteTo(&b)
	if !strings.Contains(b.String(), "# Nothing would be reported now") {
		t.Errorf("an empty proposal does not say so:\n%s", b.String())
	}
}

func TestAnnotationOwner(t *testing.T) {
	snap := engine.NewSnapshot(now, engine.Host{Name: "web1"}, engine.Load{}, []engine.Process{proc(10, "/opt/a", "a")})
	matches, _ := load(t).Evaluate(snap, nil)
	var b strings.Builder
	Propose(snap, matches, Options{Now: now, Expires: "2027-01-01T00:00:00Z", Owner: "web team"}).WriteTo(&b)
	want := "# ptrule: reason=\"baseline 2026-12-01: every-proc would fire\" owner=\"web team\" expires=2027-01-01T00:00:00Z\nexe:/opt/a\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("want %q in:\n%s", want, b.String())
	}
	for _, bad := range []string{"", `a"b`, `a\b`, "a=b", "a\nb"} {
		if ValidOwner(bad) == nil {
			t.Errorf("owner %q accepted", bad)
		}
	}
	if err := ValidOwner("web team"); err != nil {
		t.Error(err)
	}
}

func TestParseExpiry(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = an error
	}{
		{"90d", "2027-03-01"},
		{"1d", "2026-12-02"},
		{"0d", ""},
		{"-5d", ""},
		{"3651d", ""},
		{"d", ""},
		{"2027-03-01", "2027-03-01"},
		{"2026-12-01", "2026-12-01"}, // the end of today is still ahead
		{"2026-11-30", ""},
		{"2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"2026-12-01T11:59:59Z", ""},
		{"tomorrow", ""},
		{"2027-02-30", ""},
	} {
		got, err := ParseExpiry(tc.in, now)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseExpiry(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestRecheckNamesRulesThatIgnoreNothing: a rule that does not consult
// ignore lists still reports a proposed process, and the entry says so.
func TestRecheckNamesRulesThatIgnoreNothing(t *testing.T) {
	blind := engine.File{Path: "blind.yaml", Data: []byte(`rules:
  - name: blind
    scope: process
    condition: proc.exe == "/opt/agent"
    subject: s
    actions: [{alert: {}}]
`)}
	snap := engine.NewSnapshot(now, engine.Host{Name: "web1"}, engine.Load{}, []engine.Process{proc(10, "/opt/agent", "agent"), proc(11, "/opt/other", "other")})
	rs := load(t, blind)
	matches, _ := rs.Evaluate(snap, nil)
	p := Propose(snap, matches, Options{Now: now, Expires: "2027-03-01"})
	if errs := p.Recheck(rs, snap); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(p.Entries) != 2 {
		t.Fatalf("entries %+v, want two", p.Entries)
	}
	for _, e := range p.Entries {
		want := []string(nil)
		if e.Line == "exe:/opt/agent" {
			want = []string{"blind"}
		}
		if !slices.Equal(e.StillReported, want) {
			t.Errorf("%s: still reported by %v, want %v", e.Line, e.StillReported, want)
		}
	}
	var b strings.Builder
	p.WriteTo(&b)
	if !strings.Contains(b.String(), "# Not enough: blind still reports these with this line loaded") {
		t.Errorf("the file does not say the line is not enough:\n%s", b.String())
	}
	if rs.Ignore.Len() != 0 {
		t.Errorf("Recheck changed the rule set's ignore list: %d entries", rs.Ignore.Len())
	}
}
