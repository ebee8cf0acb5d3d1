package engine

import (
	"fmt"
	"strings"
)

// The modes of a kill or run outcome: what was done with the action.
const (
	// ModeEnforce: the action was performed (or refused by a safety check).
	ModeEnforce = "enforce"
	// ModeMonitor: the config's `mode: monitor` kept the action from
	// running; it was only reported.
	ModeMonitor = "monitor"
	// ModeDryRun: a dry run (`scan` without --act, or a fixture test)
	// performed nothing.
	ModeDryRun = "dry-run"
)

// Outcome is what the kill and run actions of a decision did before an
// alert of the same decision was rendered. Templates read it as .outcome:
// .outcome.kill and .outcome.run are nil when no such action ran before
// the alert, so a template reads their fields inside {{with .outcome.kill}}
// (or calls {{killed .outcome.kill}}, which says "Not killed" for nil).
// When a decision has several kill or run actions, the last one before the
// alert is the one shown.
type Outcome struct {
	Kill *KillOutcome `cel:"kill"`
	Run  *RunOutcome  `cel:"run"`
}

// KillOutcome is what one kill action did, or would have done.
type KillOutcome struct {
	// Mode is ModeEnforce, ModeMonitor or ModeDryRun.
	Mode string `cel:"mode"`
	// Signal is the signal's name, such as "SIGKILL".
	Signal string `cel:"signal"`
	// Target describes the target: "session 812", "process 4242".
	Target string `cel:"target"`
	// Planned is how many processes of the snapshot the kill aimed at.
	Planned int `cel:"planned"`
	// Signalled, Gone and Refused are the processes that got the signal,
	// had exited (or left the target) before it, and were refused; empty
	// unless the kill was performed.
	Signalled []int `cel:"signalled"`
	Gone      []int `cel:"gone"`
	Refused   []int `cel:"refused"`
	// Reasons say why processes were refused, or why the whole kill was
	// (then Refused is empty): "pid 1: pid 1 is never signalled".
	Reasons []string `cel:"reasons"`
	// Escalated are the processes still alive after the grace period that
	// got SIGKILL.
	Escalated []int `cel:"escalated"`
	// Error is set when the action did not run because one of its
	// expressions failed.
	Error string `cel:"error"`
}

// RunOutcome is what one run action did, or would have done.
type RunOutcome struct {
	// Mode is ModeEnforce, ModeMonitor or ModeDryRun.
	Mode    string   `cel:"mode"`
	Command string   `cel:"command"`
	Args    []string `cel:"args"`
	// Result is the action's result: ok, error, refused or dry-run.
	Result   string `cel:"result"`
	ExitCode int    `cel:"exit_code"`
	Error    string `cel:"error"`
}

// killedText says in one line what a kill did, from its template data (a
// KillOutcome as .outcome.kill shows it), for people:
//
//	Killed 25 of 25 processes (SIGKILL)
//	Would kill 25 processes (monitor mode: nothing was signalled)
//	Kill refused: pid 1: pid 1 is never signalled
//	Not killed
//
// It is the template function killed.
func killedText(v any) string {
	k, ok := v.(map[string]any)
	if !ok || k == nil {
		return "Not killed"
	}
	str := func(key string) string { s, _ := k[key].(string); return s }
	ints := func(key string) []int { l, _ := k[key].([]int); return l }
	planned, _ := k["planned"].(int)
	signal := str("signal")
	if e := str("error"); e != "" {
		return "Not killed: " + e
	}
	reasons := func() string {
		var rs []string
		if l, ok := k["reasons"].([]any); ok {
			for _, r := range l {
				rs = append(rs, fmt.Sprint(r))
			}
		}
		return strings.Join(rs, "; ")
	}
	switch str("mode") {
	case ModeMonitor:
		return fmt.Sprintf("Would kill %s (monitor mode: nothing was signalled)", processes(planned))
	case ModeDryRun:
		return fmt.Sprintf("Would kill %s (dry run: nothing was signalled)", processes(planned))
	}
	signalled, gone, refused := ints("signalled"), ints("gone"), ints("refused")
	total := len(signalled) + len(gone) + len(refused)
	if len(signalled) == 0 {
		switch {
		case len(refused) > 0 || total == 0 && reasons() != "":
			return "Kill refused: " + reasons()
		case len(gone) > 0:
			return fmt.Sprintf("Not killed: all %s had already exited", processes(len(gone)))
		}
		return "Not killed: no process was left to signal"
	}
	var b strings.Builder
	if signal == "SIGKILL" {
		fmt.Fprintf(&b, "Killed %d of %s (SIGKILL)", len(signalled), processes(total))
	} else {
		fmt.Fprintf(&b, "Signalled %d of %s (%s)", len(signalled), processes(total), signal)
		if esc := ints("escalated"); len(esc) > 0 {
			fmt.Fprintf(&b, ", then SIGKILL to %d still alive after the grace period", len(esc))
		}
	}
	if len(gone) > 0 {
		fmt.Fprintf(&b, "; %d had already exited", len(gone))
	}
	if len(refused) > 0 {
		fmt.Fprintf(&b, "; %d refused: %s", len(refused), reasons())
	}
	return b.String()
}

// processes says "1 process" or "N processes".
func processes(n int) string {
	if n == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes", n)
}

// outcomeData is the template data .outcome.
func outcomeData(o *Outcome) any {
	if o == nil {
		o = &Outcome{}
	}
	return toData(o)
}

// Data returns the outcome as templates read it (.outcome), for channels
// that carry it as data, such as webhooks.
func (o *Outcome) Data() map[string]any {
	d, _ := outcomeData(o).(map[string]any)
	return d
}

// sampleOutcome is the outcome templates meet when they are checked at
// load, with every field set so that a misspelt one is reported.
var sampleOutcome = &Outcome{
	Kill: &KillOutcome{Mode: ModeDryRun, Signal: "SIGKILL", Target: "process 1", Planned: 1},
	Run:  &RunOutcome{Mode: ModeDryRun, Command: "/bin/true", Result: "dry-run"},
}

// plannedKill returns how many processes of the snapshot a kill action
// aims at, for the outcome of a dry run that signals nothing: the
// process, every process of its group or session, or every process of
// the user.
func (m *Match) plannedKill(a *PlannedAction) int {
	snap := m.vars.snap
	count := func(in func(p *Process) bool) int {
		n := 0
		for i := range snap.Procs {
			if in(&snap.Procs[i]) {
				n++
			}
		}
		return n
	}
	switch a.Target {
	case TargetProcess:
		if m.Proc != nil {
			return 1
		}
	case TargetGroup:
		pgid := m.Session.GetSID()
		if m.Proc != nil {
			pgid = m.Proc.PGID
		}
		return count(func(p *Process) bool { return p.PGID == pgid })
	case TargetSession:
		sid := m.Session.GetSID()
		if m.Proc != nil {
			sid = m.Proc.SID
		}
		return count(func(p *Process) bool { return p.SID == sid })
	case TargetUser:
		u := m.User
		if u == nil && m.Proc != nil {
			u = snap.UserOf(m.Proc.UID)
		}
		if u != nil {
			return len(u.PIDs)
		}
	}
	return 0
}
