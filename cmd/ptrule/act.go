package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"

	"ptrule/builtin"
	"ptrule/builtin/attach"
	"ptrule/engine"
	"ptrule/notify"
)

// Action results of contract §5.
const (
	resultDryRun  = "dry-run"
	resultOK      = "ok"
	resultError   = "error"
	resultRefused = "refused"
)

// actionResult is what one action of a decision did.
type actionResult struct {
	Kind   string `json:"kind"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// Detail says what was or would be done, for people.
	Detail string `json:"-"`
	// Kill is what a performed kill did; nil for other actions and for a
	// kill that was not attempted.
	Kill *builtin.KillResult `json:"kill,omitempty"`
}

// outcome is a decision after the act step: rendered, and with the result
// of each action.
type outcome struct {
	engine.Decision
	Subject, Message string
	Actions          []actionResult
}

// actor performs the actions of decisions: the last step of a tick.
type actor struct {
	// perform is false for a dry run (`scan` without --act): nothing leaves
	// the host and nothing is signalled or run.
	perform bool
	// monitor is the config's `mode: monitor`: kill and run are reported,
	// never done.
	monitor  bool
	killer   *builtin.Killer
	notifier *notify.Dispatcher
	enricher engine.Enricher
	log      *slog.Logger
	// foreign, when not "", is why kill and run are refused: the processes
	// were read from a tree that is not the procfs of ptrule's own PID
	// namespace, where a pid may name an unrelated process.
	foreign string
}

// newActor returns the actor for a config: alerts to its channels, kills
// and runs on the host of procRoot, in its mode. perform false is a dry run.
func newActor(cfg *Config, procRoot string, log *slog.Logger, perform bool) *actor {
	return &actor{
		perform:  perform,
		monitor:  cfg.Mode == modeMonitor,
		killer:   builtin.NewKiller(),
		notifier: notify.NewDispatcher(map[string]notify.Channel{"log": notify.NewLogChannel(log)}, cfg.DefaultChannels),
		enricher: attach.NewHostEnricher(procRoot),
		log:      log,
		foreign:  foreignProcfs(procRoot),
	}
}

// foreignProcfs returns why kill and run may not act on what procRoot
// shows, or "" when procRoot is the procfs of ptrule's own PID namespace.
func foreignProcfs(procRoot string) string {
	if err := builtin.CheckProcfs(procRoot); err != nil {
		return fmt.Sprintf("the processes were read from %s, and %v: a pid there may name an unrelated process on this host, so kill and run act only on the procfs of ptrule's own PID namespace", procRoot, err)
	}
	return ""
}

// act renders a decision and runs its actions in order. A suppressed
// decision runs none; it is rendered only when render is true (scan shows
// it; the daemon does not pay for it).
func (a *actor) act(ctx context.Context, d engine.Decision, renderSuppressed bool) outcome {
	o := outcome{Decision: d}
	if d.Status == engine.StatusSuppressed {
		if renderSuppressed {
			o.Subject, o.Message = a.render(d, nil)
		}
		return o
	}
	o.Subject, o.Message = a.render(d, nil)
	for _, pa := range d.Actions {
		o.Actions = append(o.Actions, a.do(ctx, d, pa, o.Subject, o.Message))
	}
	return o
}

// render renders the rule's (or an alert action's) subject and message. A
// template that fails at run time still yields an alert: the error text
// takes the place of the message, so nothing is lost.
func (a *actor) render(d engine.Decision, pa *engine.PlannedAction) (string, string) {
	subject, message, err := d.RenderAlert(pa, a.enricher)
	if err != nil {
		a.log.Error("rendering alert", "rule", d.Rule.Name, "entity", d.Entity(), "err", err)
		return d.Rule.Name + ": " + d.Entity(), "(the alert text could not be rendered: " + err.Error() + ")"
	}
	return subject, message
}

func (a *actor) do(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, subject, message string) actionResult {
	r := actionResult{Kind: string(pa.Kind)}
	if pa.Err != nil {
		// The action's if, key or for failed for this entity: reported
		// as an error; it does not run unless it is a suppress falling
		// back to the entity's identity.
		a.log.Error("action expression failed", "rule", d.Rule.Name, "entity", d.Entity(), "action", string(pa.Kind), "err", pa.Err)
		if !pa.Runs() {
			r.Result, r.Error, r.Detail = resultError, pa.Err.Error(), "not run"
			return r
		}
	}
	switch pa.Kind {
	case engine.ActSuppress:
		r.Result = resultOK
		r.Detail = fmt.Sprintf("quiet for %s (key %s)", pa.SuppressFor, displayKey(pa.SuppressKey))
		if pa.Err != nil {
			r.Result, r.Error = resultError, pa.Err.Error()
		}
	case engine.ActAlert:
		a.alert(ctx, d, pa, subject, message, &r)
	case engine.ActKill:
		a.kill(ctx, d, pa, &r)
	case engine.ActRun:
		a.run(ctx, d, pa, &r)
	}
	return r
}

func displayKey(k string) string {
	if k == "" {
		return `""`
	}
	return engine.Display(k)
}

func (a *actor) alert(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, subject, message string, r *actionResult) {
	if pa.OverridesText() {
		subject, message = a.render(d, pa)
	}
	channels := pa.Channels
	if len(channels) == 0 {
		channels = a.notifier.Defaults()
	}
	r.Detail = "to " + strings.Join(channels, ", ")
	if !a.perform {
		r.Result = resultDryRun
		return
	}
	al := notify.Alert{
		Rule: d.Rule.Name, Severity: string(d.Rule.Severity), Subject: subject, Message: message,
		Host: d.Snapshot().Host.Name, Key: d.Key, Time: d.Snapshot().Time,
	}
	switch {
	case d.Proc != nil:
		al.PID, al.User = d.Proc.PID, d.Proc.User
	case d.User != nil:
		al.User = d.User.Name
	case d.Session != nil:
		al.SID = d.Session.SID
	}
	var errs []string
	for _, res := range a.notifier.Dispatch(ctx, al, channels) {
		if res.Err != nil {
			errs = append(errs, res.Channel+": "+res.Err.Error())
		}
	}
	r.Result = resultOK
	if len(errs) > 0 {
		r.Result, r.Error = resultError, strings.Join(errs, "; ")
	}
}

// killRequest turns a kill action into what to signal, with the members
// of the group or session the snapshot saw, which tie its number to the
// one the rule matched. refusal is set when the kill must not happen
// whatever the processes do now.
func killRequest(d engine.Decision, pa *engine.PlannedAction) (req builtin.KillRequest, refusal string) {
	req = builtin.KillRequest{Signal: syscall.Signal(pa.Signal), Grace: pa.Grace, Target: string(pa.Target)}
	snap := d.Snapshot()
	ident := func(pids []int) []builtin.ProcID {
		var ids []builtin.ProcID
		for _, pid := range pids {
			if p := snap.Proc(pid); p != nil {
				ids = append(ids, builtin.ProcID{PID: p.PID, StartTicks: p.StartTicks})
			}
		}
		return ids
	}
	// members are every process the snapshot saw with in(p), ignored ones
	// included: any of them still there proves the id was not reused.
	members := func(in func(p *engine.Process) bool) []builtin.ProcID {
		var ids []builtin.ProcID
		for i := range snap.Procs {
			if p := &snap.Procs[i]; in(p) {
				ids = append(ids, builtin.ProcID{PID: p.PID, StartTicks: p.StartTicks})
			}
		}
		return ids
	}
	switch pa.Target {
	case engine.TargetProcess:
		req.Procs = ident([]int{d.Proc.PID})
		req.Target = "process " + strconv.Itoa(d.Proc.PID)
	case engine.TargetGroup:
		// In session scope, the group whose id is the session id.
		req.PGID = d.Session.GetSID()
		if d.Proc != nil {
			req.PGID = d.Proc.PGID
		}
		req.Seen = members(func(p *engine.Process) bool { return p.PGID == req.PGID })
		req.Target = "process group " + strconv.Itoa(req.PGID)
	case engine.TargetSession:
		req.SID = d.Session.GetSID()
		if d.Proc != nil {
			req.SID = d.Proc.SID
		}
		req.Seen = members(func(p *engine.Process) bool { return p.SID == req.SID })
		req.Target = "session " + strconv.Itoa(req.SID)
	case engine.TargetUser:
		u := d.User
		if u == nil && d.Proc != nil {
			u = snap.UserOf(d.Proc.UID)
		}
		if u == nil {
			return req, "the user is not in the snapshot"
		}
		req.Procs = ident(u.PIDs)
		req.Target = fmt.Sprintf("user %s (%d processes)", engine.Display(u.Name), len(req.Procs))
		if u.UID == 0 && !pa.AllowRoot {
			return req, "target user on root (uid 0) is refused unless the kill action says allow_root: true"
		}
	}
	return req, ""
}

// killPlan says in words what a kill action will do, for dry runs.
func killPlan(req builtin.KillRequest) string {
	s := fmt.Sprintf("%s to %s", builtin.SignalName(req.Signal), req.Target)
	if req.Grace > 0 {
		s += fmt.Sprintf(", then SIGKILL to what is still alive after %s", req.Grace)
	}
	return s
}

// kill performs a kill action. Its result is ok when every target process
// was signalled, refused when any was refused (a partial kill says which
// were signalled, gone and refused), and error when nothing was signalled
// because everything was already gone.
func (a *actor) kill(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, r *actionResult) {
	req, refusal := killRequest(d, pa)
	r.Detail = killPlan(req)
	if refusal != "" {
		r.Detail += " (would be refused: " + refusal + ")"
	}
	if !a.perform || a.monitor {
		r.Result = resultDryRun
		return
	}
	if refusal == "" {
		refusal = a.foreign
	}
	if refusal != "" {
		r.Result, r.Error = resultRefused, refusal
		a.log.Warn("kill", "rule", d.Rule.Name, "entity", d.Entity(), "signal", builtin.SignalName(req.Signal),
			"target", req.Target, "result", r.Result, "err", refusal)
		return
	}
	res := a.killer.Kill(ctx, req)
	r.Kill = &res
	r.Detail = res.String()
	notes := func(ns []builtin.KillNote) string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = fmt.Sprintf("%d: %s", n.PID, n.Reason)
		}
		return strings.Join(s, "; ")
	}
	switch {
	case len(res.Refused) > 0:
		r.Result, r.Error = resultRefused, "refused "+notes(res.Refused)
	case res.Escalation != nil && len(res.Escalation.Failed) > 0:
		r.Result, r.Error = resultRefused, "SIGKILL after the grace period failed for "+notes(res.Escalation.Failed)
	case len(res.Signalled) > 0:
		r.Result = resultOK
	case len(res.Gone) > 0:
		r.Result, r.Error = resultError, "nothing was signalled: gone "+notes(res.Gone)
	default:
		r.Result, r.Error = resultError, "nothing was signalled: the snapshot named no process to signal"
	}
	attrs := []any{"rule", d.Rule.Name, "entity", d.Entity(), "signal", res.Signal, "target", res.Target,
		"result", r.Result, "signalled", res.Signalled, "gone", res.Gone, "refused", res.Refused}
	if res.Escalation != nil {
		attrs = append(attrs, "escalation", *res.Escalation)
	}
	a.log.Info("kill", append(attrs, "summary", res.String())...)
}

// runEnv gives a program the facts of the match. builtin.Run caps each
// value (builtin.MaxEnvValue), so that a long command line cannot make
// the program fail to start.
func runEnv(d engine.Decision) map[string]string {
	env := map[string]string{
		"PTRULE_RULE":     d.Rule.Name,
		"PTRULE_SEVERITY": string(d.Rule.Severity),
		"PTRULE_SCOPE":    string(d.Rule.Scope),
		"PTRULE_KEY":      d.Key,
		"PTRULE_HOST":     d.Snapshot().Host.Name,
	}
	join := func(pids []int) string {
		s := make([]string, len(pids))
		for i, p := range pids {
			s[i] = strconv.Itoa(p)
		}
		return strings.Join(s, ",")
	}
	switch {
	case d.Proc != nil:
		p := d.Proc
		for k, v := range map[string]string{
			"PTRULE_PID": strconv.Itoa(p.PID), "PTRULE_PPID": strconv.Itoa(p.PPID),
			"PTRULE_PGID": strconv.Itoa(p.PGID), "PTRULE_SID": strconv.Itoa(p.SID),
			"PTRULE_UID": strconv.Itoa(p.UID), "PTRULE_USER": p.User,
			"PTRULE_EXE": p.Exe, "PTRULE_EXE_DELETED": strconv.FormatBool(p.ExeDeleted),
			"PTRULE_EXE_MISMATCH": strconv.FormatBool(p.ExeMismatch),
			"PTRULE_CMD":          p.Cmd,
		} {
			env[k] = v
		}
	case d.User != nil:
		env["PTRULE_USER"], env["PTRULE_UID"], env["PTRULE_PIDS"] = d.User.Name, strconv.Itoa(d.User.UID), join(d.User.PIDs)
	case d.Session != nil:
		env["PTRULE_SID"], env["PTRULE_PIDS"] = strconv.Itoa(d.Session.SID), join(d.Session.PIDs)
	}
	return env
}

func (a *actor) run(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, r *actionResult) {
	command, args, err := d.RenderRun(pa, a.enricher)
	if err != nil {
		r.Result, r.Error = resultError, err.Error()
		return
	}
	r.Detail = strings.Join(append([]string{command}, args...), " ")
	if !a.perform || a.monitor {
		r.Result = resultDryRun
		return
	}
	if a.foreign != "" {
		r.Result, r.Error = resultRefused, a.foreign
		return
	}
	res := builtin.Run(ctx, builtin.RunRequest{Command: command, Args: args, Env: runEnv(d), Timeout: pa.Timeout})
	// A program that was refused, did not start, failed or timed out is
	// an error an operator must see; a clean run is information.
	level := slog.LevelInfo
	if res.Err != nil {
		level = slog.LevelError
	}
	a.log.Log(ctx, level, "run", "rule", d.Rule.Name, "command", command, "args", args, "exit", res.ExitCode,
		"duration", res.Duration.String(), "output", res.Output, "err", res.Err)
	switch {
	case errors.Is(res.Err, builtin.ErrRefused):
		r.Result, r.Error = resultRefused, res.Err.Error()
	case res.Err != nil:
		r.Result, r.Error = resultError, res.Err.Error()
	default:
		r.Result = resultOK
	}
}
