package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ruleText is a one-rule file with the given scope, params (a YAML flow
// mapping or ""), condition (single-quoted) and actions.
func ruleText(name, scope, params, condition, actions string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rules:\n  - name: %s\n    scope: %s\n", name, scope)
	if params != "" {
		fmt.Fprintf(&b, "    params: %s\n", params)
	}
	fmt.Fprintf(&b, "    condition: '%s'\n    actions: %s\n", strings.ReplaceAll(condition, "'", "''"), actions)
	return b.String()
}

// sampleSnapshot is a small host: root's init and sshd, bob's shell and
// two php workers in one session, alice's ignored daemon and her shell,
// uid 1003 without a name.
func sampleSnapshot() *Snapshot {
	p := func(pid, ppid, sid, uid int, user, exe string, age time.Duration, vm int64, cmdline ...string) Process {
		if cmdline == nil {
			cmdline = []string{exe}
		}
		return Process{
			PID: pid, PPID: ppid, PGID: pid, SID: sid, UID: uid, User: user, Exe: exe,
			Comm: exe[strings.LastIndex(exe, "/")+1:], Cmdline: cmdline, Cmd: strings.Join(cmdline, " "),
			State: "S", Start: t0.Add(-age), Age: age, VMSize: vm, RSS: vm / 4, Threads: 1,
			// Boot is 48h before t0; the kernel counts 100 ticks a second.
			StartTicks: uint64((48*time.Hour - age) / (10 * time.Millisecond)),
		}
	}
	// Deliberately out of order: NewSnapshot sorts by pid.
	procs := []Process{
		p(4300, 4200, 4200, 1001, "bob", "/usr/bin/php", 2*time.Hour, 600<<20, "php", "worker.php"),
		p(1, 0, 1, 0, "root", "/sbin/init", 48*time.Hour, 10<<20),
		p(4200, 800, 4200, 1001, "bob", "/bin/bash", 3*time.Hour, 8<<20, "-bash"),
		p(800, 1, 800, 0, "root", "/usr/sbin/sshd", 47*time.Hour, 12<<20, "sshd: /usr/sbin/sshd -D"),
		p(4301, 4200, 4200, 1001, "bob", "/usr/bin/php", 30*time.Minute, 100<<20, "php", "worker.php"),
		p(5000, 1, 5000, 1002, "alice", "/opt/agent/agent", 10*time.Hour, 50<<20),
		p(5100, 800, 5100, 1002, "alice", "/bin/bash", time.Hour, 8<<20, "-bash"),
		p(6000, 1, 6000, 1003, "1003", "/tmp/x", time.Minute, 1<<20),
	}
	procs[0].Connections = []Socket{{Proto: "tcp", LocalIP: "10.0.0.1", LocalPort: 40000, RemoteIP: "198.51.100.7", RemotePort: 6667, State: "ESTABLISHED"}}
	procs[3].Listening = []Socket{{Proto: "tcp6", LocalIP: "::", LocalPort: 22, State: "LISTEN"}}
	procs[7].ExeDeleted = true
	return NewSnapshot(t0,
		Host{Name: "web1", CPUs: 4, Uptime: 48 * time.Hour, Boot: t0.Add(-48 * time.Hour)},
		Load{Avg1: 2.5, Avg5: 1.5, Avg15: 0.5, Running: 2, Total: 8},
		procs)
}

// evalOne loads one rule and evaluates it against snap.
func evalOne(t testing.TB, text string, snap *Snapshot, extra ...File) ([]*Match, []error) {
	t.Helper()
	rs := loadOK(t, append(extra, yamlFile("r.yaml", text))...)
	return rs.Evaluate(snap, nil)
}

func matchKeys(ms []*Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Key
	}
	return out
}

func matchPIDs(ms []*Match) []int {
	out := []int{}
	for _, m := range ms {
		out = append(out, m.Proc.PID)
	}
	return out
}

// Each condition is evaluated on bob's php worker 4300 and must hold.
func TestCELFeatures(t *testing.T) {
	conditions := []string{
		// strings extension
		`"a,b,c".split(",").size() == 3`,
		`proc.exe.lastIndexOf("/") == 8 && proc.exe.substring(9) == "php"`,
		`proc.cmd.upperAscii() == "PHP WORKER.PHP" && " x ".trim() == "x"`,
		`proc.cmdline.join(" ") == proc.cmd`,
		`"%s-%d".format(["a", 1]) == "a-1"`,
		`proc.exe.startsWith("/usr/") && proc.exe.endsWith("php") && proc.exe.contains("bin")`,
		`!proc.exe_deleted && !proc.exe_mismatch && user.sessions == 1`,
		`"a.b".replace(".", "/") == "a/b" && "abc".reverse() == "cba"`,
		// lists extension
		`lists.range(3) == [0, 1, 2]`,
		`[3, 1, 2].sort() == [1, 2, 3] && [1, 1, 2].distinct() == [1, 2]`,
		`[[1], [2, 3]].flatten() == [1, 2, 3] && [1, 2, 3].slice(1, 2) == [2]`,
		`user.pids.sort() == user.pids`,
		// sets extension
		`sets.contains([1, 2, 3], [2]) && sets.intersects(session.pids, [4301]) && sets.equivalent([1, 2], [2, 1])`,
		// math extension
		`math.greatest(1, 5, 3) == 5 && math.least([4, 2]) == 2 && math.abs(-3) == 3`,
		`math.ceil(1.2) == 2.0 && math.bitOr(1, 2) == 3`,
		// optional types
		`proc.?exe.orValue("") == "/usr/bin/php"`,
		`optional.of(1).hasValue() && !optional.none().hasValue()`,
		`{"a": 1}.?b.orValue(7) == 7 && [1, 2][?5].orValue(0) == 0`,
		// cross-type numeric comparisons
		`proc.pid > 1.5 && proc.pid < 5000u && load.avg1 > 2 && host.cpus < 4.5`,
		// bytes()
		`bytes("512MiB") == 536870912 && bytes("200MB") == 200000000`,
		`bytes("1.5GiB") == 1610612736 && bytes("4096") == 4096 && bytes("1kib") == 1024`,
		`proc.vmsize > bytes("512MiB") && proc.vmsize < bytes("1GB")`,
		`bytes(4096) == 4096`,
		// regular expressions
		`proc.exe.matches("^/usr/bin/ph") && matches(proc.cmd, "worker\\.php$") && !proc.exe.matches("^bin")`,
		// timestamps and durations
		`now - proc.start == proc.age && proc.age > duration("1h") && proc.age < duration("3h")`,
		`now == timestamp("2026-03-01T12:00:00Z") && proc.start == timestamp("2026-03-01T10:00:00Z")`,
		`host.uptime == duration("48h") && host.boot + host.uptime == now && proc.cpu == duration("0s")`,
		`now.getHours() == 12 && proc.age.getMinutes() == 120`,
		// facts of every kind
		`proc.ppid == 4200 && proc.pgid == 4300 && proc.sid == 4200 && proc.uid == 1001 && proc.user == "bob"`,
		`proc.comm == "php" && proc.state == "S" && proc.threads == 1 && proc.rss == proc.vmsize / 4`,
		`proc.parent_exe == "/bin/bash" && !proc.parent_exe_deleted && proc.pgrp_exe == "/usr/bin/php" && !proc.exe_deleted`,
		`proc.unit == "" && proc.cgroup == "" && proc.listening.size() == 0`,
		`proc.connections.exists(c, c.remote_ip == "198.51.100.7" && c.remote_port == 6667 && c.proto == "tcp" && c.state == "ESTABLISHED" && c.local_port == 40000 && c.local_ip == "10.0.0.1")`,
		`user.name == "bob" && user.uid == 1001 && user.count == 3 && user.count_all == 3 && user.pids == [4200, 4300, 4301]`,
		`user.vmsize == (600 + 8 + 100) * 1048576 && user.rss == user.vmsize / 4`,
		`session.sid == 4200 && session.count == 3 && session.count_all == 3 && session.users == ["bob"] && session.leader_exe == "/bin/bash"`,
		`host.name == "web1" && host.procs == 8 && load.avg5 == 1.5 && load.avg15 == 0.5 && load.running == 2 && load.total == 8`,
		`!ignored`,
		// macros
		`[1, 2, 3].map(x, x * 2) == [2, 4, 6] && [1, 2, 3].filter(x, x > 1).size() == 2 && [1].exists_one(x, x == 1)`,
		`proc.cmdline.all(a, a.size() > 0) && "php" in proc.cmdline`,
		`has(proc.exe)`,
	}
	snap := sampleSnapshot()
	for i, cond := range conditions {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			ms, errs := evalOne(t, ruleText("a", "process", "", "proc.pid == 4300 && ("+cond+")", "[alert: {}]"), snap)
			if len(errs) > 0 {
				t.Fatalf("%s: %v", cond, errs)
			}
			if len(ms) != 1 {
				t.Errorf("%s: does not hold (%d matches)", cond, len(ms))
			}
		})
	}
}

func TestCELRuntimeErrors(t *testing.T) {
	// The cost limit is under test here: the time limit must not stop a
	// slow machine first.
	withEvalTimeout(t, time.Hour)
	tests := []struct {
		name      string
		condition string
		params    string
		want      string // in the error text
	}{
		{"bad bytes", `bytes(proc.exe) > 0`, "", `bad size "/usr/bin/php": write a number with an optional unit, like 4096, 200MB or 512MiB`},
		{"bad bytes param", `proc.vmsize > bytes(params.limit)`, `{limit: 512XB}`, `bad size "512XB"`},
		{"bytes too large", `bytes(params.s) > 0`, `{s: 9999999TiB}`, `bad size "9999999TiB": too large`},
		{"bad duration", `proc.age > duration(params.d)`, `{d: "1 hour"}`, `evaluating "proc.age > duration(params.d)"`},
		{"bad regex", `proc.exe.matches(params.re)`, `{re: "("}`, "missing closing )"},
		{"division by zero", `proc.pid / (proc.pid - proc.pid) > 0`, "", "division by zero"},
		{"index out of range", `proc.cmdline[5] == ""`, "", "index out of bounds: 5"},
		{"cost limit: nested ranges", `lists.range(100000).all(a, lists.range(100000).size() > 0)`, "", "cost limit exceeded"},
		{"cost limit: nested comprehensions over a list", `params.l.all(a, params.l.all(b, params.l.all(c, a + b + c >= 0)))`, "{l: [" + numberList(1000) + "]}", "cost limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := &Snapshot{Time: t0, Procs: []Process{{PID: 7, Exe: "/usr/bin/php", Cmdline: []string{"php"}}}}
			// The bound is proven by the error below, never by a timing:
			// the machine running the tests may be slow and shared.
			ms, errs := evalOne(t, ruleText("a", "process", tt.params, tt.condition, "[alert: {}]"), snap)
			if len(ms) != 0 {
				t.Errorf("a failed evaluation matched")
			}
			if len(errs) != 1 {
				t.Fatalf("errors = %v, want one", errs)
			}
			var ee *EvalError
			if !errors.As(errs[0], &ee) {
				t.Fatalf("%T is not an *EvalError", errs[0])
			}
			if ee.Rule != "a" || ee.Entity != "pid 7" {
				t.Errorf("EvalError rule %q entity %q", ee.Rule, ee.Entity)
			}
			if !strings.Contains(ee.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", ee.Error(), tt.want)
			}
			if !strings.HasPrefix(ee.Error(), "rule a, pid 7: r.yaml:") {
				t.Errorf("error %q does not name the rule, entity and place", ee.Error())
			}
			if errors.Unwrap(ee) == nil {
				t.Error("EvalError does not unwrap")
			}
		})
	}
}

func numberList(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return strings.Join(s, ", ")
}

// An error in one entity does not stop the others, nor other rules.
func TestEvaluateErrorsAreLocal(t *testing.T) {
	snap := sampleSnapshot()
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.cmdline[1] == "worker.php"`, "[alert: {}]")+
		"  - {name: b, scope: host, condition: 'true', actions: [alert: {}]}\n"))
	ms, errs := rs.Evaluate(snap, nil)
	// Processes with a one-word command line fail; the two php workers match.
	if len(errs) != 6 {
		t.Errorf("%d errors, want 6: %v", len(errs), errs)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Rule.Name+" "+m.Key)
	}
	want := []string{"a 4300@16560000", "a 4301@17100000", "b "}
	if !slices.Equal(got, want) {
		t.Errorf("matches %q, want %q", got, want)
	}

}

// An action whose expression fails for one entity does not drop the match:
// the match fires, the failing action carries the CEL error and does not
// run, the others run; a suppress whose key fails falls back to the
// entity's identity, so a process with a one-word argv cannot dodge a rule
// whose key reads proc.cmdline[1].
func TestEvaluateActionErrors(t *testing.T) {
	tests := []struct {
		name, actions string
		// want is each planned action: kind, runs, error field, key.
		want []string
	}{
		{"if fails", `[alert: {if: 'proc.cmdline[1] == "x"'}, kill: {}]`,
			[]string{`alert runs=false err=if key=""`, `kill runs=true err= key=""`}},
		{"key fails", `[alert: {}, suppress: {for: 1h, key: 'proc.cmdline[1]'}]`,
			[]string{`alert runs=true err= key=""`, `suppress runs=true err=key key="6000@17274000"`}},
		{"for fails", `[alert: {}, suppress: {for: 'duration(proc.cmdline[1])'}]`,
			[]string{`alert runs=true err= key=""`, `suppress runs=false err=for key="6000@17274000"`}},
		{"suppress if fails", `[alert: {}, suppress: {for: 1h, if: 'proc.cmdline[1] == ""'}]`,
			[]string{`alert runs=true err= key=""`, `suppress runs=false err=if key=""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, errs := evalOne(t, ruleText("a", "process", "", "proc.pid == 6000", tt.actions), sampleSnapshot())
			if len(errs) != 0 || len(ms) != 1 {
				t.Fatalf("%d matches, errors %v: an action's error must not drop the match", len(ms), errs)
			}
			var got []string
			for _, a := range ms[0].Actions {
				field := ""
				if a.Err != nil {
					field = a.Err.Field
					if !strings.Contains(a.Err.Error(), "no such key") && !strings.Contains(a.Err.Error(), "index") {
						t.Errorf("%s error %q does not carry the CEL message", a.Kind, a.Err)
					}
				}
				got = append(got, fmt.Sprintf("%s runs=%v err=%s key=%q", a.Kind, a.Runs(), field, a.SuppressKey))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("planned %q\nwant    %q", got, tt.want)
			}
		})
	}
}

// A rule whose suppress key reads proc.cmdline[1] still suppresses a
// process whose argv has one element, under its identity, and the match
// with a two-element argv keeps its own key.
func TestDecideKeyFallback(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.exe == "/tmp/x" || proc.exe == "/usr/bin/php"`, "[alert: {}, suppress: {for: 1h, key: 'proc.cmdline[1]'}]")))
	store := NewMemStore()
	for i, want := range []string{"4300 fired, 4301 suppressed, 6000 fired", "4300 suppressed, 4301 suppressed, 6000 suppressed"} {
		snap := sampleSnapshot()
		snap.Time = t0.Add(time.Duration(i) * time.Minute)
		ms, errs := rs.Evaluate(snap, nil)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		var got []string
		for _, d := range Decide(ms, store, snap.Time) {
			got = append(got, fmt.Sprintf("%d %s", d.Proc.PID, d.Status))
			d.Commit(store)
		}
		if strings.Join(got, ", ") != want {
			t.Errorf("evaluation %d: %s, want %s", i+1, strings.Join(got, ", "), want)
		}
	}
	if _, ok := store.Until("a", "6000@17274000"); !ok {
		t.Error("no mark under the identity of the process whose key failed")
	}
	if _, ok := store.Until("a", "worker.php"); !ok {
		t.Error("no mark under the key of the process whose key evaluated")
	}
}

// A suppress whose for fails records nothing: the rule fires again at its
// next evaluation rather than going quiet for a duration nobody chose.
func TestDecideForErrorRecordsNothing(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", "proc.pid == 6000", "[alert: {}, suppress: {for: 'duration(proc.cmdline[1])'}]")))
	store := NewMemStore()
	for i := range 2 {
		snap := sampleSnapshot()
		ms, _ := rs.Evaluate(snap, nil)
		ds := Decide(ms, store, snap.Time)
		if len(ds) != 1 || ds[0].Status != StatusFired {
			t.Fatalf("evaluation %d: %+v, want fired", i+1, ds)
		}
		ds[0].Commit(store)
	}
	if len(store.marks) != 0 {
		t.Errorf("marks %v, want none", store.marks)
	}
}

func TestEvaluateEntitiesAndKeys(t *testing.T) {
	tests := []struct {
		scope    string
		want     []string
		entities []string
	}{
		{"process", []string{"1@0", "800@360000", "4200@16200000", "4300@16560000", "4301@17100000", "5000@13680000", "5100@16920000", "6000@17274000"},
			[]string{"pid 1 (root)", "pid 800 (root)", "pid 4200 (bob)", "pid 4300 (bob)", "pid 4301 (bob)", "pid 5000 (alice)", "pid 5100 (alice)", "pid 6000 (1003)"}},
		{"user", []string{"root", "bob", "alice", "1003"}, []string{"user root", "user bob", "user alice", "user 1003"}},
		{"session", []string{"1@0", "800@360000", "4200@16200000", "5000@13680000", "5100@16920000", "6000@17274000"},
			[]string{"session 1", "session 800", "session 4200", "session 5000", "session 5100", "session 6000"}},
		{"host", []string{""}, []string{"host web1"}},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			ms, errs := evalOne(t, ruleText("a", tt.scope, "", "true", "[alert: {}]"), sampleSnapshot())
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := matchKeys(ms); !slices.Equal(got, tt.want) {
				t.Errorf("keys %q\nwant %q", got, tt.want)
			}
			var ents []string
			for _, m := range ms {
				ents = append(ents, m.Entity())
			}
			if !slices.Equal(ents, tt.entities) {
				t.Errorf("entities %q\nwant %q", ents, tt.entities)
			}
			for _, m := range ms {
				switch tt.scope {
				case "process":
					if m.Proc == nil || m.User != nil || m.Session != nil {
						t.Errorf("process match with entity %v %v %v", m.Proc, m.User, m.Session)
					}
				case "user":
					if m.Proc != nil || m.User == nil || m.Session != nil {
						t.Errorf("user match with entity %v %v %v", m.Proc, m.User, m.Session)
					}
				case "session":
					if m.Proc != nil || m.User != nil || m.Session == nil {
						t.Errorf("session match with entity %v %v %v", m.Proc, m.User, m.Session)
					}
				case "host":
					if m.Proc != nil || m.User != nil || m.Session != nil {
						t.Errorf("host match with an entity")
					}
				}
				if m.Snapshot() == nil {
					t.Error("match without its snapshot")
				}
			}
		})
	}
}

// A process's key is its pid and start in ticks since boot: a reused pid
// is a new key, and the wall-clock start (which a clock step moves) plays
// no part.
func TestProcessKeyChangesWithStart(t *testing.T) {
	a := Process{PID: 42, StartTicks: 12345, Start: time.Date(2026, 1, 1, 0, 0, 0, 500, time.UTC)}
	b := Process{PID: 42, StartTicks: 12346, Start: a.Start}
	stepped := a
	stepped.Start = a.Start.Add(time.Hour)
	if a.Key() != "42@12345" || b.Key() != "42@12346" || stepped.Key() != a.Key() {
		t.Errorf("keys %q %q %q", a.Key(), b.Key(), stepped.Key())
	}
}

func TestEvaluateAggregatesAndIgnored(t *testing.T) {
	ignore := yamlFile("i.pignore", "exe:/opt/agent/agent\nuser:1003\n")
	snap := sampleSnapshot()

	// In user scope, user.count leaves out ignored processes; ignored says
	// whether the user itself is listed.
	ms, errs := evalOne(t, ruleText("a", "user", "", "true", "[alert: {}]"), snap, ignore)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, m := range ms {
		u := m.User
		got = append(got, fmt.Sprintf("%s count=%d all=%d pids=%v vm=%d ignored=%v", u.Name, u.Count, u.CountAll, u.PIDs, u.VMSize>>20, m.vars.ignored))
	}
	want := []string{
		"root count=2 all=2 pids=[1 800] vm=22 ignored=false",
		"bob count=3 all=3 pids=[4200 4300 4301] vm=708 ignored=false",
		"alice count=1 all=2 pids=[5100] vm=8 ignored=false",
		"1003 count=0 all=1 pids=[] vm=0 ignored=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("users:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	ms, _ = evalOne(t, ruleText("a", "user", "", "!ignored && user.count >= 1", "[alert: {}]"), sampleSnapshot(), ignore)
	if got := matchKeys(ms); !slices.Equal(got, []string{"root", "bob", "alice"}) {
		t.Errorf("!ignored users: %v", got)
	}

	// In process scope, ignored is the process's own listing; user and
	// session are its aggregates.
	ms, _ = evalOne(t, ruleText("a", "process", "", "ignored", "[alert: {}]"), sampleSnapshot(), ignore)
	if got := matchPIDs(ms); !slices.Equal(got, []int{5000, 6000}) {
		t.Errorf("ignored processes: %v", got)
	}
	ms, _ = evalOne(t, ruleText("a", "process", "", `user.count == 1 && user.count_all == 2 && session.count == 0 && session.count_all == 1`, "[alert: {}]"), sampleSnapshot(), ignore)
	if got := matchPIDs(ms); !slices.Equal(got, []int{5000}) {
		t.Errorf("aggregates seen from a process: %v", got)
	}

	// Sessions count what is not ignored, list every user, and know their leader.
	snap = sampleSnapshot()
	snap.Procs = append(snap.Procs,
		Process{PID: 4400, PPID: 4200, PGID: 4400, SID: 4200, UID: 1002, User: "alice", Exe: "/opt/agent/agent", Start: t0, StartTicks: 17280000},
		// A session whose leader is gone: its key uses its oldest process.
		Process{PID: 7001, PPID: 1, PGID: 7001, SID: 7000, UID: 1001, User: "bob", Exe: "/bin/sleep", Start: t0.Add(-time.Minute), StartTicks: 17274000},
		Process{PID: 7002, PPID: 1, PGID: 7001, SID: 7000, UID: 1001, User: "bob", Exe: "/bin/sleep", Start: t0.Add(-2 * time.Minute), StartTicks: 17268000},
	)
	ms, errs = evalOne(t, ruleText("a", "session", "", "session.sid >= 4200", "[alert: {}]"), snap, ignore)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got = nil
	for _, m := range ms {
		s := m.Session
		got = append(got, fmt.Sprintf("%s count=%d all=%d pids=%v users=%v leader=%q", m.Key, s.Count, s.CountAll, s.PIDs, s.Users, s.LeaderExe))
	}
	want = []string{
		`4200@16200000 count=3 all=4 pids=[4200 4300 4301] users=[alice bob] leader="/bin/bash"`,
		`5000@13680000 count=0 all=1 pids=[] users=[alice] leader="/opt/agent/agent"`,
		`5100@16920000 count=1 all=1 pids=[5100] users=[alice] leader="/bin/bash"`,
		`6000@17274000 count=0 all=1 pids=[] users=[1003] leader="/tmp/x"`,
		`7000@17268000 count=2 all=2 pids=[7001 7002] users=[bob] leader=""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sessions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEvaluateHostScope(t *testing.T) {
	ms, errs := evalOne(t, ruleText("a", "host", "{level: 2}", "load.avg1 >= params.level && host.procs == 8 && now == timestamp(\"2026-03-01T12:00:00Z\")", "[alert: {}, suppress: {for: 1h}]"), sampleSnapshot())
	if len(errs) > 0 || len(ms) != 1 {
		t.Fatalf("%d matches, errors %v", len(ms), errs)
	}
	if ms[0].Key != "" || ms[0].Actions[1].SuppressKey != "" || ms[0].Actions[1].SuppressFor != time.Hour {
		t.Errorf("host match key %q, suppress %q for %v", ms[0].Key, ms[0].Actions[1].SuppressKey, ms[0].Actions[1].SuppressFor)
	}
	ms, _ = evalOne(t, ruleText("a", "host", "", "load.avg1 > 3.0", "[alert: {}]"), sampleSnapshot())
	if len(ms) != 0 {
		t.Error("a false host condition matched")
	}
	// An empty snapshot still has a host.
	ms, _ = evalOne(t, ruleText("a", "host", "", "host.procs == 0", "[alert: {}]"), &Snapshot{})
	if len(ms) != 1 {
		t.Error("host scope on an empty snapshot")
	}
}

func TestEvaluateDueAndEnabled(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", `rules:
  - {name: a, scope: host, condition: 'true', actions: [alert: {}]}
  - {name: b, scope: host, condition: 'true', actions: [alert: {}], every: 5m}
  - {name: c, scope: host, condition: 'true', actions: [alert: {}], enabled: false}
`))
	names := func(ms []*Match) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Rule.Name)
		}
		return out
	}
	ms, _ := rs.Evaluate(sampleSnapshot(), nil)
	if got := names(ms); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("all due: %v", got)
	}
	ms, _ = rs.Evaluate(sampleSnapshot(), func(r *Rule) bool { return r.Every == 5*time.Minute })
	if got := names(ms); !slices.Equal(got, []string{"b"}) {
		t.Errorf("due b: %v", got)
	}
	ms, _ = rs.Evaluate(sampleSnapshot(), func(r *Rule) bool { return r.Name == "c" })
	if len(ms) != 0 {
		t.Errorf("a disabled rule ran: %v", names(ms))
	}
}

func TestEvaluatePlannedActions(t *testing.T) {
	ms, errs := evalOne(t, ruleText("a", "process", "{kill: false, repeat: 2h}", "proc.pid == 4300", `
      - kill: {if: params.kill}
      - alert: {if: "!params.kill"}
      - run: {command: /bin/true, if: "false"}
      - suppress: {for: duration(params.repeat), if: proc.uid == 1001}
      - suppress: {for: 1m, key: '"exe:" + proc.exe'}
      - suppress: {for: 1m, if: "false"}`), sampleSnapshot())
	if len(errs) > 0 || len(ms) != 1 {
		t.Fatalf("%d matches, errors %v", len(ms), errs)
	}
	var got []string
	for _, a := range ms[0].Actions {
		got = append(got, fmt.Sprintf("%s %q %v", a.Kind, a.SuppressKey, a.SuppressFor))
	}
	want := []string{`alert "" 0s`, `suppress "4300@16560000" 2h0m0s`, `suppress "exe:/usr/bin/php" 1m0s`}
	if !slices.Equal(got, want) {
		t.Errorf("planned %q\nwant    %q", got, want)
	}
}

func TestDecideSuppressionWindow(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", "proc.pid == 4300", "[alert: {}, suppress: {for: 1h}]")))
	store := NewMemStore()
	var until time.Time
	step := func(at time.Duration) Status {
		t.Helper()
		snap := sampleSnapshot()
		snap.Time = t0.Add(at)
		ms, errs := rs.Evaluate(snap, nil)
		if len(errs) > 0 || len(ms) != 1 {
			t.Fatalf("at %v: %d matches, errors %v", at, len(ms), errs)
		}
		ds := Decide(ms, store, snap.Time)
		if len(ds) != 1 {
			t.Fatalf("%d decisions", len(ds))
		}
		ds[0].Commit(store)
		switch ds[0].Status {
		case StatusSuppressed:
			if !ds[0].Until.Equal(until) {
				t.Errorf("at %v: suppressed until %v, want %v", at, ds[0].Until, until)
			}
		case StatusFired:
			until = snap.Time.Add(time.Hour)
		}
		return ds[0].Status
	}
	for _, c := range []struct {
		at   time.Duration
		want Status
	}{
		{0, StatusFired},
		{time.Second, StatusSuppressed},
		{59 * time.Minute, StatusSuppressed},
		{time.Hour - time.Nanosecond, StatusSuppressed},
		{time.Hour, StatusFired}, // exactly set-time + for: fires again
		{time.Hour + time.Second, StatusSuppressed},
		{2*time.Hour - 1, StatusSuppressed},
		{2 * time.Hour, StatusFired},
	} {
		if got := step(c.at); got != c.want {
			t.Errorf("at %v: %s, want %s", c.at, got, c.want)
		}
	}
	// The store holds the mark under the rule and the process key.
	until, ok := store.Until("a", "4300@16560000")
	if !ok || !until.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("mark %v %v", until, ok)
	}
}

// A key: proc.exe suppression recorded by the lowest pid applies at once
// to the later matches of the same rule in the same evaluation, and not
// to other rules.
func TestDecideKeyAcrossEntities(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.exe == "/usr/bin/php" || proc.exe == "/bin/bash"`, "[alert: {}, suppress: {for: 1h, key: proc.exe}]")+
		"  - {name: b, scope: process, condition: 'proc.exe == \"/usr/bin/php\"', actions: [alert: {}, suppress: {for: 1h, key: proc.exe}]}\n"))
	snap := sampleSnapshot()
	ms, _ := rs.Evaluate(snap, nil)
	ds := Decide(ms, NewMemStore(), snap.Time)
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s %d %s", d.Rule.Name, d.Proc.PID, d.Status))
	}
	want := []string{"a 4200 fired", "a 4300 fired", "a 4301 suppressed", "a 5100 suppressed", "b 4300 fired", "b 4301 suppressed"}
	if !slices.Equal(got, want) {
		t.Errorf("decisions %q\nwant %q", got, want)
	}
}

// Decide leaves the store alone: only Commit, which the caller does after
// acting, records marks. A decision that was never committed (its tick was
// abandoned) suppresses nothing at the next evaluation.
func TestDecideCommitsNothing(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.exe == "/usr/bin/php"`, "[alert: {}, suppress: {for: 1h, key: proc.exe}]")))
	store := NewMemStore()
	snap := sampleSnapshot()
	ms, _ := rs.Evaluate(snap, nil)
	ds := Decide(ms, store, snap.Time)
	if len(ds) != 2 || ds[0].Status != StatusFired || ds[1].Status != StatusSuppressed || !ds[1].Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("decisions %+v: want 4300 fired and 4301 suppressed by it in the same evaluation", ds)
	}
	if len(store.marks) != 0 {
		t.Fatalf("Decide wrote marks %v", store.marks)
	}
	// Abandoned: the next evaluation fires again.
	ds = Decide(ms, store, snap.Time.Add(time.Minute))
	if ds[0].Status != StatusFired {
		t.Fatalf("after an abandoned decision: %s, want fired", ds[0].Status)
	}
	ds[0].Commit(store)
	ds[1].Commit(store) // suppressed: records nothing
	if u, ok := store.Until("a", "/usr/bin/php"); !ok || !u.Equal(t0.Add(time.Hour+time.Minute)) || len(store.marks) != 1 {
		t.Errorf("after commit: marks %v", store.marks)
	}
}

func TestDecideIfFalse(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", "proc.pid == 4300", `[alert: {if: "false"}, suppress: {for: 1h, if: "false"}]`)))
	store := NewMemStore()
	for i := range 3 {
		snap := sampleSnapshot()
		snap.Time = t0.Add(time.Duration(i) * time.Minute)
		ms, _ := rs.Evaluate(snap, nil)
		ds := Decide(ms, store, snap.Time)
		if len(ds) != 1 || ds[0].Status != StatusFired || len(ds[0].Actions) != 0 {
			t.Fatalf("step %d: %+v", i, ds)
		}
		ds[0].Commit(store)
	}
	if _, ok := store.Until("a", "4300@16560000"); ok {
		t.Error("a suppress whose if is false recorded a mark")
	}
	if len(store.marks) != 0 {
		t.Errorf("marks: %v", store.marks)
	}
}

// A match with two suppressions is silenced by either, and a firing one
// records both.
func TestDecideTwoSuppressions(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", "proc.pid == 4300", `[alert: {}, suppress: {for: 1h}, suppress: {for: 10m, key: '"all"'}]`)))
	store := NewMemStore()
	snap := sampleSnapshot()
	ms, _ := rs.Evaluate(snap, nil)
	ds := Decide(ms, store, t0)
	if ds[0].Status != StatusFired {
		t.Fatal("first evaluation did not fire")
	}
	ds[0].Commit(store)
	if u, ok := store.Until("a", "all"); !ok || !u.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("mark of key all: %v %v", u, ok)
	}
	if ds := Decide(ms, store, t0.Add(30*time.Minute)); ds[0].Status != StatusSuppressed || !ds[0].Until.Equal(t0.Add(time.Hour)) {
		t.Errorf("at 30m: %s until %v", ds[0].Status, ds[0].Until)
	} else {
		ds[0].Commit(store)
	}
	// A suppressed match records nothing: the 10m key stays expired.
	if u, _ := store.Until("a", "all"); !u.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("a suppressed match moved a mark to %v", u)
	}
}

func TestNewSnapshotFillsRelations(t *testing.T) {
	s := NewView(NewSnapshot(t0, Host{}, Load{}, []Process{
		{PID: 30, PPID: 20, PGID: 20, Exe: "/c"},
		{PID: 20, PPID: 10, PGID: 20, Exe: "/b", ExeDeleted: true},
		{PID: 10, PPID: 10, PGID: 10, Exe: "/a"},
		{PID: 40, PPID: 99, PGID: 99, Exe: "/d", ParentExe: "/given", PgrpExe: "/given-too"},
	}), nil)
	if s.Host.Procs != 4 {
		t.Errorf("host.procs = %d, want the 4 processes", s.Host.Procs)
	}
	got := fmt.Sprintln(s.Proc(30).ParentExe, s.Proc(30).ParentExeDeleted, s.Proc(30).PgrpExe, "|",
		s.Proc(20).ParentExe, s.Proc(20).PgrpExe, "|", s.Proc(10).ParentExe, s.Proc(10).PgrpExe, "|",
		s.Proc(40).ParentExe, s.Proc(40).PgrpExe)
	if want := "/b true /b | /a /b |  /a | /given /given-too\n"; got != want {
		t.Errorf("derived %q, want %q", got, want)
	}
	if s.Procs[0].PID != 10 || s.Proc(99) != nil || s.UserOf(5) != nil || s.SessionOf(5) != nil {
		t.Error("lookups")
	}
	var nilSession *Session
	if nilSession.GetSID() != 0 || s.SessionOf(0).GetSID() != 0 {
		t.Error("GetSID")
	}
}

// benchRules are the typical conditions of the default rules, written
// here so the benchmark does not depend on rules.d.
const benchRules = `rules:
  - name: bench-resources
    scope: process
    params: {vmsize: 512MiB, rss: 256MiB, time: 1800s, kill: false, kill_alert: true, action: "", repeat: 1h}
    condition: >-
      proc.uid != 0 && proc.user != "nobody" && !ignored &&
      !proc.exe_deleted && proc.state != "Z" && (
        (bytes(params.vmsize) > 0 && proc.vmsize > bytes(params.vmsize)) ||
        (bytes(params.rss) > 0 && proc.rss > bytes(params.rss)) ||
        (duration(params.time) > duration("0s") && proc.age > duration(params.time)))
    subject: "Excessive resource usage: {{.proc.user}} ({{.proc.pid}})"
    message: |
      Virtual Memory Size: {{size .proc.vmsize}} (limit {{.params.vmsize}})
      Command Line: {{.proc.cmd}}
    actions:
      - kill: {if: params.kill}
      - alert: {if: "!params.kill || params.kill_alert"}
      - run: {command: "{{.params.action}}", args: ["{{.proc.pid}}"], if: 'params.action != ""'}
      - suppress: {for: duration(params.repeat), if: "!params.kill"}
  - name: bench-suspicious
    scope: process
    params: {min_age: 60s, skip_http: false, repeat: 1h}
    condition: >-
      proc.uid != 0 && !ignored && !proc.exe_deleted &&
      (duration(params.min_age) <= duration("0s") || proc.age > duration(params.min_age)) &&
      proc.connections.exists(c,
        !(c.remote_ip in ["", "0.0.0.0", "::", "::ffff:0.0.0.0"])) &&
      !(params.skip_http && (
        (proc.pid != proc.pgid && proc.pgrp_exe in ["/usr/sbin/httpd", "/usr/sbin/apache2"]) ||
        proc.connections.exists(c, c.local_port in [80, 443])))
    actions:
      - alert: {}
      - suppress: {for: duration(params.repeat)}
  - name: bench-deleted
    scope: process
    params: {min_age: 60s, repeat: 1h}
    condition: >-
      proc.exe_deleted && proc.uid != 0 && !ignored &&
      (duration(params.min_age) <= duration("0s") || proc.age > duration(params.min_age))
    actions:
      - alert: {}
      - suppress: {for: duration(params.repeat), key: proc.exe}
  - name: bench-sshd-hung
    scope: process
    condition: >-
      proc.cmd in ["sshd: unknown [net]", "sshd: unknown [priv]"] &&
      proc.age > duration("60s")
    actions: [kill: {}, alert: {}]
  - name: bench-user-procs
    scope: user
    params: {max: 100}
    condition: >-
      user.uid != 0 && user.name != "nobody" && !ignored &&
      params.max > 0 && user.count > params.max
    actions: [alert: {}, suppress: {for: 1h}]
  - name: bench-forkbomb
    scope: session
    params: {max: 250}
    condition: session.sid > 1 && params.max > 0 && session.count >= params.max
    actions: [kill: {target: session}, alert: {}]
  - name: bench-load
    scope: host
    params: {avg: 5, level: 6.0}
    condition: >-
      (params.avg == 1 ? load.avg1 : params.avg == 15 ? load.avg15 : load.avg5) >= params.level
    actions: [alert: {}, suppress: {for: 1h}]
`

// benchSnapshot is a busy host: n processes of 50 users in n/10 sessions,
// a few of them large, old, connected or running a deleted binary.
func benchSnapshot(n int) *Snapshot {
	s := &Snapshot{Time: t0, Host: Host{Name: "bench", CPUs: 16}, Load: Load{Avg1: 3, Avg5: 2, Avg15: 1, Total: n}}
	for i := range n {
		pid := 1000 + i
		uid := 1000 + i%50
		p := Process{
			PID: pid, PPID: 1, PGID: pid, SID: 1000 + i - i%10, UID: uid, User: "user" + strconv.Itoa(uid),
			Exe: "/usr/bin/php", Comm: "php", Cmdline: []string{"php-fpm: pool www"}, Cmd: "php-fpm: pool www",
			State: "S", Start: t0.Add(-time.Duration(i) * time.Second), Age: time.Duration(i) * time.Second,
			VMSize: 100 << 20, RSS: 20 << 20, Threads: 1,
		}
		switch {
		case i%100 == 0:
			p.VMSize = 1 << 30
		case i%100 == 1:
			p.ExeDeleted = true
		case i%10 == 2:
			p.Connections = []Socket{{Proto: "tcp", LocalIP: "10.0.0.1", LocalPort: 40000 + i, RemoteIP: "203.0.113.9", RemotePort: 443, State: "ESTABLISHED"}}
		}
		s.Procs = append(s.Procs, p)
	}
	return s
}

// BenchmarkEvaluate runs the typical rules over 1000 processes; ns/proc is
// the cost of one process under all the rules.
func BenchmarkEvaluate(b *testing.B) {
	rs := loadOK(b, yamlFile("bench.yaml", benchRules), yamlFile("ignore.pignore", "exe:/usr/sbin/sshd\npcmd:php-fpm: pool (admin|status)\nuser:nobody\n"))
	const n = 1000
	snap := benchSnapshot(n)
	ms, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 || len(ms) == 0 {
		b.Fatalf("%d matches, errors %v", len(ms), errs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs.Evaluate(snap, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/proc")
}

// BenchmarkDecide decides the matches of one evaluation of the busy host.
func BenchmarkDecide(b *testing.B) {
	rs := loadOK(b, yamlFile("bench.yaml", benchRules))
	snap := benchSnapshot(1000)
	ms, _ := rs.Evaluate(snap, nil)
	b.ReportAllocs()
	for b.Loop() {
		Decide(ms, NewMemStore(), snap.Time)
	}
}
