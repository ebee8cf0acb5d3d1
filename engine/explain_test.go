package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// stepLines writes an explanation's steps one a line, indented by depth.
func stepLines(ex *Explanation) string {
	var b strings.Builder
	for _, s := range ex.Steps {
		fmt.Fprintf(&b, "%s%s = %s\n", strings.Repeat("  ", s.Depth), s.Text, s.Value)
	}
	return b.String()
}

func TestExplain(t *testing.T) {
	ignore := yamlFile("i.pignore", "# agents\nexe:/opt/agent/agent\nuser:1003\n")
	rules := ruleText("php", "process", "{min: 1000}",
		`!ignored && proc.exe == "/usr/bin/php" && proc.age > duration("1h") && size(proc.cmdline.filter(a, a.endsWith(".php"))) > 0`,
		`[{alert: {}}, {kill: {signal: KILL, if: 'proc.vmsize > 500 * 1024 * 1024'}}, {suppress: {for: 1h, if: 'proc.pid < params.min'}}]`) +
		strings.TrimPrefix(ruleText("many", "user", "", `!ignored && user.count > 2`, `[alert: {}]`), "rules:\n") +
		strings.TrimPrefix(ruleText("sess", "session", "", `session.count > 2`, `[alert: {}]`), "rules:\n") +
		strings.TrimPrefix(ruleText("load", "host", "", `load.avg1 > 2.0`, `[alert: {}]`), "rules:\n")
	rs := loadOK(t, ignore, yamlFile("r.yaml", rules))
	snap := sampleSnapshot()

	tests := []struct {
		name, rule string
		target     Target
		matched    bool
		ignoredBy  string
		steps      string
		actions    []string
	}{
		{
			name: "matching process", rule: "php", target: Target{PID: 4300}, matched: true,
			// The parser balances a chain of &&.
			steps: `!ignored && proc.exe == "/usr/bin/php" && proc.age > duration("1h") && size(proc.cmdline.filter(a, a.endsWith(".php"))) > 0 = true
  !ignored && proc.exe == "/usr/bin/php" = true
    !ignored = true
      ignored = false
    proc.exe == "/usr/bin/php" = true
      proc.exe = "/usr/bin/php"
  proc.age > duration("1h") && size(proc.cmdline.filter(a, a.endsWith(".php"))) > 0 = true
    proc.age > duration("1h") = true
      proc.age = duration("2h0m0s")
    size(proc.cmdline.filter(a, a.endsWith(".php"))) > 0 = true
      size(proc.cmdline.filter(a, a.endsWith(".php"))) = 1
        proc.cmdline.filter(a, a.endsWith(".php")) = ["worker.php"]
          proc.cmdline = ["php", "worker.php"]
`,
			actions: []string{"alert always planned", "kill true planned", "suppress false"},
		},
		{
			name: "young process does not match", rule: "php", target: Target{PID: 4301},
			steps: "proc.age = duration(\"30m0s\")\n",
		},
		{
			name: "ignored process", rule: "php", target: Target{PID: 5000}, ignoredBy: "i.pignore:2: exe:/opt/agent/agent",
			steps: "ignored = true\n",
		},
		{name: "ignored user", rule: "many", target: Target{User: "1003"}, ignoredBy: "i.pignore:3: user:1003", steps: "user.count > 2 = false\n"},
		{name: "matching user", rule: "many", target: Target{User: "bob"}, matched: true, steps: "user.count = 3\n", actions: []string{"alert always planned"}},
		{name: "session", rule: "sess", target: Target{SID: 4200}, matched: true, steps: "session.count = 3\n", actions: []string{"alert always planned"}},
		{name: "host", rule: "load", matched: true, steps: "load.avg1 > 2.0 = true\n  load.avg1 = 2.5\n", actions: []string{"alert always planned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := rs.Explain(snap, tt.rule, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Matched != tt.matched || (ex.Match != nil) != tt.matched {
				t.Errorf("matched = %v, match %v; want %v", ex.Matched, ex.Match, tt.matched)
			}
			got := ""
			if ex.IgnoredBy != nil {
				got = ex.IgnoredBy.String()
			}
			if got != tt.ignoredBy || ex.Ignored != (tt.ignoredBy != "") {
				t.Errorf("ignored = %v by %q, want by %q", ex.Ignored, got, tt.ignoredBy)
			}
			lines := stepLines(ex)
			// A full want is the whole listing; a short one is a part of it.
			if strings.Count(tt.steps, "\n") > 3 {
				if lines != tt.steps {
					t.Errorf("steps:\n%s\nwant:\n%s", lines, tt.steps)
				}
			} else if !strings.Contains(lines, tt.steps) {
				t.Errorf("steps:\n%s\nwant a line %q", lines, tt.steps)
			}
			var acts []string
			for _, a := range ex.Actions {
				s := string(a.Kind) + " " + a.Decided
				if a.Planned {
					s += " planned"
				}
				acts = append(acts, s)
			}
			if strings.Join(acts, "|") != strings.Join(tt.actions, "|") {
				t.Errorf("actions = %q, want %q", acts, tt.actions)
			}
		})
	}
}

func TestExplainWrongEntity(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", "true", "[alert: {}]")+
		strings.TrimPrefix(ruleText("h", "host", "", "true", "[alert: {}]"), "rules:\n")))
	snap := sampleSnapshot()
	for _, tt := range []struct {
		rule   string
		target Target
		want   string
	}{
		{"a", Target{PID: 99}, "no such entity for pid 99"},
		{"a", Target{User: "bob"}, "process scope"},
		{"h", Target{PID: 1}, "takes no --pid"},
		{"nope", Target{}, `no rule "nope"`},
	} {
		_, err := rs.Explain(snap, tt.rule, tt.target)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %+v: err = %v, want %q", tt.rule, tt.target, err, tt.want)
		}
	}
	if _, err := rs.Explain(snap, "a", Target{PID: 99}); !errors.Is(err, ErrNoEntity) {
		t.Errorf("err = %v, want ErrNoEntity", err)
	}
}

// A hostile string in the facts reaches the explanation escaped.
func TestExplainHostileValues(t *testing.T) {
	snap := sampleSnapshot()
	snap.Procs[0].Cmd = "x\x1b[2Jy\n"
	snap.Procs[0].Exe = "/tmp/\u202egnp.sh\xff"
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.cmd != "" && proc.exe != ""`, "[alert: {}]")))
	ex, err := rs.Explain(snap, "a", Target{PID: snap.Procs[0].PID})
	if err != nil {
		t.Fatal(err)
	}
	out := stepLines(ex)
	if strings.ContainsAny(out, "\x1b\u202e") || strings.Contains(out, "\xff") || !strings.Contains(out, `proc.cmd = "x\x1b[2Jy\n"`) || !strings.Contains(out, `proc.exe = "/tmp/\u202egnp.sh\xff"`) {
		t.Errorf("steps not escaped:\n%s", out)
	}
}

// Explain's verdict is Evaluate's, entity by entity, and the whole
// condition's tracked value agrees with it.
func TestExplainAgreesWithEvaluate(t *testing.T) {
	ignore := yamlFile("i.pignore", "exe:/opt/agent/agent\n")
	snap := sampleSnapshot()
	for _, cond := range []string{
		`!ignored && proc.vmsize > bytes("64MiB")`,
		`proc.cmdline.exists(a, a == "worker.php") || proc.exe_deleted`,
		`size(proc.cmdline) > 1 && proc.cmdline[1] == "worker.php"`,
		`user.count > 2 ? proc.age > duration("1h") : proc.pid == 1`,
		`proc.exe in ["/usr/bin/php", "/bin/bash"] && proc.vmsize > bytes("1MiB") && proc.age > duration("1m") && proc.uid > 0`,
	} {
		rs := loadOK(t, ignore, yamlFile("r.yaml", ruleText("a", "process", "", cond, "[alert: {}]")))
		ms, errs := rs.Evaluate(snap, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		matched := map[int]bool{}
		for _, m := range ms {
			matched[m.Proc.PID] = true
		}
		for _, p := range snap.Procs {
			ex, err := rs.Explain(snap, "a", Target{PID: p.PID})
			if err != nil {
				t.Fatal(err)
			}
			if ex.Matched != matched[p.PID] {
				t.Errorf("%s, pid %d: Explain matched %v, Evaluate %v", cond, p.PID, ex.Matched, matched[p.PID])
			}
			for _, st := range ex.Steps {
				// The unparser wraps long text, and constants say nothing
				// about the entity.
				if strings.Contains(st.Text, `\n`) || strings.HasPrefix(st.Text, "[") || strings.HasPrefix(st.Text, "duration(\"") || strings.HasPrefix(st.Text, "bytes(") {
					t.Errorf("%s, pid %d: step %q should not be shown", cond, p.PID, st.Text)
				}
			}
			if len(ex.Steps) == 0 || ex.Steps[0].Depth != 0 || ex.Steps[0].Value != fmt.Sprint(ex.Matched) {
				t.Errorf("%s, pid %d: first step %+v, want the whole condition = %v", cond, p.PID, ex.Steps, ex.Matched)
			}
		}
	}
}

// A condition that fails for an entity is no match with its error, and
// the failing sub-expression shows the error.
func TestExplainConditionError(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.cmdline[3] == "x"`, "[alert: {}]")))
	ex, err := rs.Explain(sampleSnapshot(), "a", Target{PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Matched || ex.Err == nil || !strings.Contains(ex.Err.Error(), "index") {
		t.Errorf("matched %v, err %v; want no match with an index error", ex.Matched, ex.Err)
	}
	if out := stepLines(ex); !strings.Contains(out, "proc.cmdline[3] = error: ") {
		t.Errorf("steps do not show the error:\n%s", out)
	}
}

// FixtureStep replays the earlier steps: their suppressions hold at the
// step explained, and the match there is suppressed.
func TestFixtureStepSuppressed(t *testing.T) {
	rules := yamlFile("r.yaml", ruleText("big", "process", "", `proc.vmsize > 100`, "[alert: {}, suppress: {for: 1h}]"))
	fx := yamlFile("big_test.yaml", `tests:
  - name: quiet
    steps:
      - at: 0s
        snapshot:
          processes: [{pid: 42, uid: 1001, exe: /bin/x, vmsize: 1000}]
        expect: [{rule: big, pid: 42}]
      - at: 30m
        expect: []
      - at: 2h
        expect: [{rule: big, pid: 42}]
`)
	for _, tt := range []struct {
		step int
		want Status
	}{{1, StatusFired}, {2, StatusSuppressed}, {3, StatusFired}} {
		rs, snap, store, err := FixtureStep(fx, []File{rules}, nil, "", tt.step)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := rs.Explain(snap, "big", Target{PID: 42})
		if err != nil || !ex.Matched {
			t.Fatalf("step %d: %v, matched %v", tt.step, err, ex != nil && ex.Matched)
		}
		d := Decide([]*Match{ex.Match}, store, snap.Time)[0]
		if d.Status != tt.want {
			t.Errorf("step %d: %s, want %s", tt.step, d.Status, tt.want)
		}
		if tt.want == StatusSuppressed && !d.Until.Equal(FixtureEpoch.Add(time.Hour)) {
			t.Errorf("step %d: suppressed until %v, want an hour after the first step", tt.step, d.Until)
		}
	}
	for _, tt := range []struct {
		test string
		step int
		want string
	}{
		{"", 4, "steps 1 to 3, not 4"},
		{"", 0, "not 0"},
		{"loud", 1, `no test "loud"`},
	} {
		if _, _, _, err := FixtureStep(fx, []File{rules}, nil, tt.test, tt.step); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("test %q step %d: err = %v, want %q", tt.test, tt.step, err, tt.want)
		}
	}
}

// TestExplainExpiredEntry checks that explain decides `ignored` as the
// evaluation does, at the snapshot's time: an expired exception names no
// entry and hides nothing.
func TestExplainExpiredEntry(t *testing.T) {
	ignore := yamlFile("i.pignore", "# ptrule: reason=\"old\" owner=ops expires=2020-01-31\nexe:/usr/bin/php\n")
	rs := loadOK(t, ignore, yamlFile("r.yaml", ruleText("php", "process", "", `!ignored && proc.exe == "/usr/bin/php"`, `[alert: {}]`)))
	ex, err := rs.Explain(sampleSnapshot(), "php", Target{PID: 4300})
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Matched || ex.Ignored || ex.IgnoredBy != nil {
		t.Errorf("matched %v, ignored %v by %v: an expired entry must hide nothing", ex.Matched, ex.Ignored, ex.IgnoredBy)
	}
}
