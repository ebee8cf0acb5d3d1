package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestKilledText checks what {{killed .outcome.kill}} says for each
// outcome of a kill: only what was really done is called killed.
func TestKilledText(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill *KillOutcome
		want string
	}{
		{"no kill ran", nil, "Not killed"},
		{"monitor", &KillOutcome{Mode: ModeMonitor, Signal: "SIGKILL", Planned: 25},
			"Would kill 25 processes (monitor mode: nothing was signalled)"},
		{"dry run of one", &KillOutcome{Mode: ModeDryRun, Signal: "SIGKILL", Planned: 1},
			"Would kill 1 process (dry run: nothing was signalled)"},
		{"all killed", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 25, Signalled: seq(1, 25)},
			"Killed 25 of 25 processes (SIGKILL)"},
		{"more than planned", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 25, Signalled: seq(1, 31)},
			"Killed 31 of 31 processes (SIGKILL)"},
		{"some gone", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 3, Signalled: []int{1, 2}, Gone: []int{3}},
			"Killed 2 of 3 processes (SIGKILL); 1 had already exited"},
		{"partly refused", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 2, Signalled: []int{7}, Refused: []int{8},
			Reasons: []string{"pid 8: pid reused (start time differs)"}},
			"Killed 1 of 2 processes (SIGKILL); 1 refused: pid 8: pid reused (start time differs)"},
		{"whole kill refused", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 1,
			Reasons: []string{"target user on root (uid 0) is refused"}},
			"Kill refused: target user on root (uid 0) is refused"},
		{"every process refused", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 1, Refused: []int{1},
			Reasons: []string{"pid 1: never signalled"}},
			"Kill refused: pid 1: never signalled"},
		{"all gone", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Planned: 2, Gone: []int{1, 2}},
			"Not killed: all 2 processes had already exited"},
		{"nothing to signal", &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL"},
			"Not killed: no process was left to signal"},
		{"TERM with escalation", &KillOutcome{Mode: ModeEnforce, Signal: "SIGTERM", Planned: 3, Signalled: []int{1, 2, 3}, Escalated: []int{2}},
			"Signalled 3 of 3 processes (SIGTERM), then SIGKILL to 1 still alive after the grace period"},
		{"expression failed", &KillOutcome{Mode: ModeEnforce, Error: "the kill action failed: if: no such key"},
			"Not killed: the kill action failed: if: no such key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := killedText(outcomeData(&Outcome{Kill: tc.kill}).(map[string]any)["kill"]); got != tc.want {
				t.Errorf("killed = %q, want %q", got, tc.want)
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestRenderAlertAfter checks that alert templates read the outcome they
// are given as .outcome, and that a template reading .outcome without one
// sees no kill and no run.
func TestRenderAlertAfter(t *testing.T) {
	m := matchOf(t, ruleText("a", "process", "", "proc.pid == 4300",
		`[{kill: {}}, {run: {command: /bin/true}}, {alert: {subject: "{{killed .outcome.kill}}", message: "{{with .outcome.kill}}{{.mode}} {{.signal}} {{.target}} {{.planned}} {{.signalled}}{{end}}{{with .outcome.run}}; {{.mode}} {{.command}} {{.result}} {{.exit_code}}{{end}}"}}]`), sampleSnapshot())
	o := &Outcome{
		Kill: &KillOutcome{Mode: ModeEnforce, Signal: "SIGKILL", Target: "process 4300", Planned: 1, Signalled: []int{4300}},
		Run:  &RunOutcome{Mode: ModeEnforce, Command: "/bin/true", Result: "ok"},
	}
	s, msg, err := m.RenderAlertAfter(m.Actions[2], NoEnricher{}, o)
	if err != nil || s != "Killed 1 of 1 process (SIGKILL)" || msg != "enforce SIGKILL process 4300 1 [4300]; enforce /bin/true ok 0" {
		t.Errorf("RenderAlertAfter = %q, %q, %v", s, msg, err)
	}
	s, msg, err = m.RenderAlert(m.Actions[2], NoEnricher{})
	if err != nil || s != "Not killed" || msg != "" {
		t.Errorf("RenderAlert with no outcome = %q, %q, %v", s, msg, err)
	}
}

// TestOutcomeTemplateCheck checks that templates reading .outcome load,
// and that a misspelt outcome field is a load error like any other.
func TestOutcomeTemplateCheck(t *testing.T) {
	_, errs := evalOne(t, ruleText("a", "user", "", "true", `[alert: {subject: "{{killed .outcome.kill}} {{with .outcome.kill}}{{len .signalled}}{{end}}"}]`), sampleSnapshot())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, ps := LoadRules([]File{yamlFile("r.yaml", ruleText("a", "user", "", "true", `[alert: {subject: "{{.outcome.kill.signaled}}"}]`))})
	if len(ps) != 1 || !strings.Contains(ps[0].Error(), `map has no entry for key "signaled"`) {
		t.Errorf("problems %v, want the misspelt outcome field reported", ps)
	}
}

// TestDecideMonitor checks the marks of monitor_repeat: recorded by
// HoldInMonitor under the rule and the entity's identity, read by
// DecideMonitor only, named as the key that silenced the match, and
// independent of the rule's own suppress marks.
func TestDecideMonitor(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.exe == "/usr/bin/php"`, "[kill: {}, alert: {}]")))
	store := NewMemStore()
	statuses := func(ds []Decision) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%d %s %s %v", d.Proc.PID, d.Status, d.SuppressedBy, d.ByMonitor))
		}
		return strings.Join(s, ", ")
	}
	snap := sampleSnapshot()
	ms, _ := rs.Evaluate(snap, nil)
	ds := DecideMonitor(ms, store, snap.Time)
	ds[0].HoldInMonitor(snap.Time.Add(time.Hour))
	ds[0].Commit(store)
	if _, ok := store.Until("a", ds[0].Key); ok {
		t.Error("HoldInMonitor marked the rule's own key: enforce mode would read it")
	}
	later := snap.Time.Add(59 * time.Minute)
	if got, want := statuses(DecideMonitor(ms, store, later)), "4300 suppressed "+ds[0].Key+" true, 4301 fired  false"; got != want {
		t.Errorf("monitor mode: %s, want %s", got, want)
	}
	if got, want := statuses(Decide(ms, store, later)), "4300 fired  false, 4301 fired  false"; got != want {
		t.Errorf("enforce mode: %s, want %s", got, want)
	}
	if got, want := statuses(DecideMonitor(ms, store, snap.Time.Add(time.Hour))), "4300 fired  false, 4301 fired  false"; got != want {
		t.Errorf("after monitor_repeat: %s, want %s", got, want)
	}
}

// TestDecideSuppressedBy checks that a match silenced by the mark of
// another entity's match names that key.
func TestDecideSuppressedBy(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("a", "process", "", `proc.exe == "/usr/bin/php"`, `[alert: {}, suppress: {for: 1h, key: '"php"'}]`)))
	snap := sampleSnapshot()
	ms, _ := rs.Evaluate(snap, nil)
	ds := Decide(ms, NewMemStore(), snap.Time)
	if len(ds) != 2 || ds[1].Status != StatusSuppressed || ds[1].SuppressedBy != "php" || ds[1].ByMonitor || ds[0].SuppressedBy != "" {
		t.Errorf("decisions %+v, want the second suppressed by key php", ds)
	}
}
