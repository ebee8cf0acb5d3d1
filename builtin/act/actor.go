// Package act applies decisions: it runs the kill, run, alert and suppress
// actions of a fired match, in the rule's order, and returns what each did
// as a Result, from which the caller commits the match's suppression marks.
// It declares the Sender it needs to send an alert; the notify package
// satisfies it through the command's wiring, so that actions and channels
// stay siblings that do not import each other.
package act

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ptrule/builtin"
	"ptrule/engine"
)

// Action results of contract §5.
const (
	ResultDryRun  = "dry-run"
	ResultOK      = "ok"
	ResultError   = "error"
	ResultRefused = "refused"
)

// Alert is one rendered alert, ready for channels.
type Alert struct {
	Rule, Severity   string
	Subject, Message string
	Host             string
	// Key is the identity of the entity that matched.
	Key string
	// Time is the snapshot's time.
	Time time.Time
	// PID, User and SID name the entity when the scope has one; zero
	// values mean unset.
	PID  int
	User string
	SID  int
	// Suppressed is how many matches of the same rule and key were
	// silenced since it last fired (engine.Decision.Quieted).
	Suppressed int
	// Scope is the rule's scope: process, user, session or host.
	Scope string
	// Facts are the matched entity's facts as templates read them.
	Facts map[string]any
	// Outcomes are what the decision's actions before the alert did, as
	// templates read .outcome; nil when none ran.
	Outcomes map[string]any
}

// Delivery is what one channel did with an alert: Err is nil when the
// channel accepted it (delivered it, or queued it for delivery).
type Delivery struct {
	Channel string
	Err     error
	// NotQueued says the alert could not even be queued (the spool is
	// full or cannot be written): the match must not be suppressed, so
	// that the next evaluation alerts again.
	NotQueued bool
}

// Sender hands alerts to named channels. The command wires notify's
// Dispatcher in through a small adapter.
type Sender interface {
	// Send sends a to each of channels and says what each did.
	Send(ctx context.Context, a Alert, channels []string) []Delivery
	// Route says which channels an alert of severity, asked for channels
	// (none: the defaults), goes to, and which it skips for being below
	// their min_severity.
	Route(severity string, channels []string) (send, skip []string)
}

// Follower is a Sender with channels that follow an alert while its match
// holds and resolve it when the match ends (Alertmanager). After each
// evaluation of a rule it is told every match of the rule that holds,
// fired or suppressed alike.
type Follower interface {
	// Follows reports whether any channel follows alerts: when none
	// does, Hold is not worth rendering suppressed matches for.
	Follows() bool
	// Hold hands one evaluation of rule, run every period, to the
	// following channels: held are the matches that hold now.
	Hold(ctx context.Context, rule string, period time.Duration, held []Held, now time.Time) []Delivery
}

// TickEnder is a Sender that batches what it was given in one tick (into
// digests): EndTick says the tick is over.
type TickEnder interface {
	EndTick()
}

// EndTick tells a TickEnder sender that the tick is over.
func (a *Actor) EndTick() {
	if te, ok := a.sender.(TickEnder); ok {
		te.EndTick()
	}
}

// Held is one holding match's alert and the channels its alert action
// names (none: the defaults).
type Held struct {
	Alert    Alert
	Channels []string
}

// ActionResult is what one action of a decision did, as data: the text
// output (Detail) and `scan --format json` are both made from it.
type ActionResult struct {
	Kind   string `json:"kind"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// Detail says what was or would be done, for people. It is made from
	// the detail below by describe.
	Detail string `json:"-"`
	// The detail of the action of its kind; nil for an action that was
	// not run because one of its expressions failed.
	Kill     *KillDetail     `json:"kill,omitempty"`
	Run      *RunDetail      `json:"run,omitempty"`
	Alert    *AlertDetail    `json:"alert,omitempty"`
	Suppress *SuppressDetail `json:"suppress,omitempty"`

	// notQueued is set on an alert that some channel could not queue.
	notQueued bool
}

// KillDetail is what a kill action did or would do. The embedded result
// holds the signal and target and, for a performed kill, the processes
// signalled, gone and refused with reasons and the grace period's
// escalation.
type KillDetail struct {
	// Mode is enforce, monitor (the config's mode kept it from running)
	// or dry-run (scan without --act).
	Mode string `json:"mode"`
	// Grace is the kill's grace period, "" without escalation.
	Grace string `json:"grace,omitempty"`
	// Planned are the processes of the snapshot the kill aims at.
	Planned []int `json:"planned"`
	// Refusal is why the whole kill was, or would be, refused.
	Refusal string `json:"refusal,omitempty"`
	KillResult
}

// RunDetail is what a run action ran or would run.
type RunDetail struct {
	Mode    string   `json:"mode"`
	Command string   `json:"command"`
	Args    []string `json:"args"`
	// ExitCode is the program's exit status, -1 when it did not start or
	// was killed; absent when it was not run.
	ExitCode *int `json:"exit_code,omitempty"`
}

// AlertDetail says where an alert went or would go.
type AlertDetail struct {
	Channels []string `json:"channels"`
	// Skipped are the channels the alert is below the min_severity of.
	Skipped []string `json:"skipped,omitempty"`
}

// text says where the alert goes and which channels it skips.
func (d *AlertDetail) text() string {
	var parts []string
	if len(d.Channels) > 0 {
		parts = append(parts, "to "+strings.Join(d.Channels, ", "))
	}
	if len(d.Skipped) > 0 {
		parts = append(parts, "not to "+strings.Join(d.Skipped, ", ")+": below min_severity")
	}
	return strings.Join(parts, "; ")
}

// SuppressDetail is the mark a suppress action records.
type SuppressDetail struct {
	Key   string    `json:"key"`
	For   string    `json:"for"`
	Until time.Time `json:"until"`
}

// describe returns the text form of the result's detail.
func (r *ActionResult) describe() string {
	switch {
	case r.Kill != nil:
		k := r.Kill
		if k.Mode == engine.ModeEnforce && k.Refusal == "" {
			return k.KillResult.String()
		}
		s := k.Signal + " to " + k.Target
		if k.Grace != "" {
			s += ", then SIGKILL to what is still alive after " + k.Grace
		}
		if k.Refusal != "" && k.Mode != engine.ModeEnforce {
			s += " (would be refused: " + k.Refusal + ")"
		}
		return s
	case r.Run != nil:
		return strings.Join(append([]string{r.Run.Command}, r.Run.Args...), " ")
	case r.Alert != nil:
		return r.Alert.text()
	case r.Suppress != nil:
		return fmt.Sprintf("quiet for %s (key %s)", r.Suppress.For, DisplayKey(r.Suppress.Key))
	}
	return "not run"
}

// Result is a decision after it was applied: rendered, with the result of
// each action. Its Commit records the decision's suppression marks, and in
// monitor mode the mark of monitor_repeat.
type Result struct {
	engine.Decision
	Subject, Message string
	Actions          []ActionResult

	// notQueued is set when an alert of the decision could not be queued
	// for some channel: Commit then records nothing.
	notQueued bool
}

// Commit records the decision's suppression marks, once its actions ran:
// unless one of its alerts could not be queued, since a suppression must
// never hide an alert that will not be delivered.
func (o *Result) Commit(store engine.Store) {
	if o.notQueued {
		return
	}
	o.Decision.Commit(store)
}

// Config says how an Actor acts.
type Config struct {
	// Perform is false for a dry run (`scan` without --act): nothing
	// leaves the host and nothing is signalled or run.
	Perform bool
	// Monitor is the config's `mode: monitor`: kill and run are reported,
	// never done.
	Monitor bool
	// MonitorRepeat is how long, in monitor mode, a match whose kill or
	// run was only reported stays quiet.
	MonitorRepeat time.Duration
	// Sender sends alerts.
	Sender Sender
	// Enricher gives alert templates what they read from the host.
	Enricher engine.Enricher
	// Log receives what kill and run did, and template failures.
	Log *slog.Logger
	// Foreign, when not "", is why kill and run are refused: the
	// processes were read from a tree that is not the procfs of ptrule's
	// own PID namespace (see ForeignProcfs).
	Foreign string
}

// Actor applies decisions: the last step of a tick.
type Actor struct {
	perform, monitor bool
	monitorRepeat    time.Duration
	killer           *Killer
	sender           Sender
	enricher         engine.Enricher
	log              *slog.Logger
	foreign          string
}

// New returns an Actor that acts as c says.
func New(c Config) *Actor {
	return &Actor{
		perform:       c.Perform,
		monitor:       c.Monitor,
		monitorRepeat: c.MonitorRepeat,
		killer:        NewKiller(),
		sender:        c.Sender,
		enricher:      c.Enricher,
		log:           c.Log,
		foreign:       c.Foreign,
	}
}

// ForeignProcfs returns why kill and run may not act on what procRoot
// shows, or "" when procRoot is the procfs of ptrule's own PID namespace.
func ForeignProcfs(procRoot string) string {
	if err := CheckProcfs(procRoot); err != nil {
		return fmt.Sprintf("the processes were read from %s, and %v: a pid there may name an unrelated process on this host, so kill and run act only on the procfs of ptrule's own PID namespace", procRoot, err)
	}
	return ""
}

// Decide decides which matches fire: in monitor mode, the marks of
// monitor_repeat count too.
func (a *Actor) Decide(matches []*engine.Match, store engine.Store, now time.Time) []engine.Decision {
	if a.monitor {
		return engine.DecideMonitor(matches, store, now)
	}
	return engine.Decide(matches, store, now)
}

// mode says what is done with kill and run: performed, reported because
// of monitor mode, or shown by a dry run.
func (a *Actor) mode() string {
	switch {
	case !a.perform:
		return engine.ModeDryRun
	case a.monitor:
		return engine.ModeMonitor
	}
	return engine.ModeEnforce
}

// Apply runs a decision's actions in order. Each alert is rendered when it
// runs, after the actions before it, whose outcome its templates read as
// .outcome; the decision's subject and message are those of its first
// alert, or, without one, rendered after every action. A suppressed
// decision runs none; it is rendered only when renderSuppressed is true
// (scan shows it; the daemon does not pay for it). In monitor mode, a
// fired decision whose kill or run was only reported is held quiet for
// monitor_repeat: the returned Result's Commit records it.
func (a *Actor) Apply(ctx context.Context, d engine.Decision, renderSuppressed bool) Result {
	o := Result{Decision: d}
	if d.Status == engine.StatusSuppressed {
		if renderSuppressed {
			o.Subject, o.Message = a.render(d, nil, nil)
		}
		return o
	}
	var done engine.Outcome
	rendered, held := false, false
	for _, pa := range d.Actions {
		r := a.do(ctx, d, pa, &done)
		if r.Alert != nil && !rendered {
			o.Subject, o.Message, rendered = r.subject, r.message, true
		}
		if (r.Kill != nil && r.Kill.Mode == engine.ModeMonitor) || (r.Run != nil && r.Run.Mode == engine.ModeMonitor) {
			held = true
		}
		o.notQueued = o.notQueued || r.notQueued
		o.Actions = append(o.Actions, r.ActionResult)
	}
	if !rendered {
		o.Subject, o.Message = a.render(d, nil, &done)
	}
	if held && a.monitorRepeat > 0 {
		o.HoldInMonitor(d.Snapshot().Time.Add(a.monitorRepeat))
	}
	return o
}

// Hold tells a Follower sender which matches of rule hold after an
// evaluation whose decisions were applied as results: each alert action
// that would run, of a fired or a suppressed match, is held, so that
// Alertmanager keeps it firing while it holds and resolves it when it
// ends. Only an acting daemon holds: a dry run and a sender that does not
// follow do nothing. It returns what each following channel did.
func (a *Actor) Hold(ctx context.Context, rule *engine.Rule, period time.Duration, results []Result, now time.Time) []Delivery {
	f, ok := a.sender.(Follower)
	if !a.perform || !ok || !f.Follows() {
		return nil
	}
	var held []Held
	for _, o := range results {
		if o.Rule != rule {
			continue
		}
		for _, pa := range o.Decision.Actions {
			if pa.Kind != engine.ActAlert || !pa.Runs() {
				continue
			}
			subject, message := o.Subject, o.Message
			if o.Status == engine.StatusSuppressed || pa.OverridesText() {
				subject, message = a.render(o.Decision, pa, nil)
			}
			held = append(held, Held{Alert: alertOf(o.Decision, subject, message, nil), Channels: pa.Channels})
		}
	}
	return f.Hold(ctx, rule.Name, period, held, now)
}

// render renders the rule's (or an alert action's) subject and message
// after the actions whose outcome done holds. A template that fails at run
// time still yields an alert: the error text takes the place of the
// message, so nothing is lost.
func (a *Actor) render(d engine.Decision, pa *engine.PlannedAction, done *engine.Outcome) (string, string) {
	subject, message, err := d.RenderAlertAfter(pa, a.enricher, done)
	if err != nil {
		a.log.Error("rendering alert", "rule", d.Rule.Name, "entity", d.Entity(), "err", err)
		return d.Rule.Name + ": " + d.Entity(), "(the alert text could not be rendered: " + err.Error() + ")"
	}
	return subject, message
}

// doneAction is an action's result with the text of an alert.
type doneAction struct {
	ActionResult
	subject, message string
}

// do runs one action and adds what a kill or run did to done.
func (a *Actor) do(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, done *engine.Outcome) (r doneAction) {
	r.Kind = string(pa.Kind)
	defer func() { r.Detail = r.describe() }()
	if pa.Err != nil {
		// The action's if, key or for failed for this entity: reported
		// as an error; it does not run unless it is a suppress falling
		// back to the entity's identity.
		a.log.Error("action expression failed", "rule", d.Rule.Name, "entity", d.Entity(), "action", string(pa.Kind), "err", pa.Err)
		if !pa.Runs() {
			r.Result, r.Error = ResultError, pa.Err.Error()
			if pa.Kind == engine.ActKill {
				done.Kill = &engine.KillOutcome{Mode: a.mode(), Error: "the kill action failed: " + pa.Err.Error()}
			}
			return r
		}
	}
	switch pa.Kind {
	case engine.ActSuppress:
		r.Result = ResultOK
		r.Suppress = &SuppressDetail{Key: pa.SuppressKey, For: pa.SuppressFor.String(), Until: d.Snapshot().Time.Add(pa.SuppressFor)}
		if pa.Err != nil {
			r.Result, r.Error = ResultError, pa.Err.Error()
		}
	case engine.ActAlert:
		r.subject, r.message = a.render(d, pa, done)
		a.alert(ctx, d, pa, r.subject, r.message, done, &r.ActionResult)
	case engine.ActKill:
		a.kill(ctx, d, pa, &r.ActionResult)
		done.Kill = r.Kill.outcome()
	case engine.ActRun:
		a.run(ctx, d, pa, &r.ActionResult)
		ro := &engine.RunOutcome{Result: r.Result, Error: r.Error, ExitCode: -1, Mode: a.mode()}
		if r.Run != nil {
			ro.Mode, ro.Command, ro.Args = r.Run.Mode, r.Run.Command, r.Run.Args
			if r.Run.ExitCode != nil {
				ro.ExitCode = *r.Run.ExitCode
			}
		}
		done.Run = ro
	}
	return r
}

// outcome is the kill's detail as alert templates see it.
func (k *KillDetail) outcome() *engine.KillOutcome {
	o := &engine.KillOutcome{Mode: k.Mode, Signal: k.Signal, Target: k.Target, Planned: len(k.Planned),
		Signalled: k.Signalled}
	if k.Refusal != "" {
		o.Reasons = append(o.Reasons, k.Refusal)
	}
	for _, n := range k.Gone {
		o.Gone = append(o.Gone, n.PID)
	}
	for _, n := range k.Refused {
		o.Refused = append(o.Refused, n.PID)
		o.Reasons = append(o.Reasons, fmt.Sprintf("pid %d: %s", n.PID, n.Reason))
	}
	if e := k.Escalation; e != nil {
		o.Escalated = e.Killed
	}
	return o
}

// DisplayKey shows a suppression key to people: escaped for display, and
// `""` for the empty key (the host's).
func DisplayKey(k string) string {
	if k == "" {
		return `""`
	}
	return engine.Display(k)
}

func (a *Actor) alert(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, subject, message string, done *engine.Outcome, r *ActionResult) {
	send, skip := a.sender.Route(string(d.Rule.Severity), pa.Channels)
	r.Alert = &AlertDetail{Channels: send, Skipped: skip}
	switch {
	case !a.perform:
		r.Result = ResultDryRun
		return
	case len(send) == 0:
		// Every channel asked for takes only more severe alerts: that
		// is the config's choice, not a failure, and the detail says it.
		r.Result = ResultOK
		return
	}
	var errs []string
	for _, res := range a.sender.Send(ctx, alertOf(d, subject, message, done), send) {
		if res.Err != nil {
			errs = append(errs, res.Channel+": "+res.Err.Error())
		}
		r.notQueued = r.notQueued || res.NotQueued
	}
	r.Result = ResultOK
	if len(errs) > 0 {
		r.Result, r.Error = ResultError, strings.Join(errs, "; ")
	}
}

// alertOf is the alert of a decision with its rendered text, after the
// actions whose outcome done holds (nil: none ran).
func alertOf(d engine.Decision, subject, message string, done *engine.Outcome) Alert {
	al := Alert{
		Rule: d.Rule.Name, Severity: string(d.Rule.Severity), Scope: string(d.Rule.Scope),
		Subject: subject, Message: message,
		Host: d.Snapshot().Host.Name, Key: d.Key, Time: d.Snapshot().Time, Suppressed: d.Quieted,
		Facts: d.Facts(),
	}
	if done != nil {
		al.Outcomes = done.Data()
	}
	switch {
	case d.Proc != nil:
		al.PID, al.User = d.Proc.PID, d.Proc.User
	case d.User != nil:
		al.User = d.User.Name
	case d.Session != nil:
		al.SID = d.Session.SID
	}
	return al
}

// killRequest turns a kill action into what to signal, with the members
// of the group or session the snapshot saw, which tie its number to the
// one the rule matched. refusal is set when the kill must not happen
// whatever the processes do now.
func killRequest(d engine.Decision, pa *engine.PlannedAction) (req KillRequest, refusal string) {
	req = KillRequest{Signal: syscall.Signal(pa.Signal), Grace: pa.Grace, Target: string(pa.Target)}
	snap := d.Snapshot()
	ident := func(pids []int) []ProcID {
		var ids []ProcID
		for _, pid := range pids {
			if p := snap.Proc(pid); p != nil {
				ids = append(ids, ProcID{PID: p.PID, StartTicks: p.StartTicks})
			}
		}
		return ids
	}
	// members are every process the snapshot saw with in(p), ignored ones
	// included: any of them still there proves the id was not reused.
	members := func(in func(p *engine.Process) bool) []ProcID {
		var ids []ProcID
		for i := range snap.Procs {
			if p := &snap.Procs[i]; in(p) {
				ids = append(ids, ProcID{PID: p.PID, StartTicks: p.StartTicks})
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

// kill performs a kill action. Its result is ok when every target process
// was signalled, refused when any was refused (a partial kill says which
// were signalled, gone and refused), and error when nothing was signalled
// because everything was already gone.
func (a *Actor) kill(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, r *ActionResult) {
	req, refusal := killRequest(d, pa)
	k := &KillDetail{Mode: a.mode(), Refusal: refusal,
		KillResult: KillResult{Signal: SignalName(req.Signal), Target: req.Target,
			Signalled: []int{}, Gone: []KillNote{}, Refused: []KillNote{}}}
	if req.Grace > 0 && req.Signal != syscall.SIGKILL {
		k.Grace = req.Grace.String()
	}
	for _, ids := range [][]ProcID{req.Procs, req.Seen} {
		for _, id := range ids {
			k.Planned = append(k.Planned, id.PID)
		}
	}
	if k.Planned == nil {
		k.Planned = []int{}
	}
	r.Kill = k
	if k.Mode != engine.ModeEnforce {
		r.Result = ResultDryRun
		return
	}
	if refusal == "" {
		refusal = a.foreign
	}
	if refusal != "" {
		k.Refusal = refusal
		r.Result, r.Error = ResultRefused, refusal
		a.log.Warn("kill", "rule", d.Rule.Name, "entity", d.Entity(), "signal", k.Signal,
			"target", req.Target, "result", r.Result, "err", refusal)
		return
	}
	res := a.killer.Kill(ctx, req)
	k.KillResult = res
	notes := func(ns []KillNote) string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = fmt.Sprintf("%d: %s", n.PID, n.Reason)
		}
		return strings.Join(s, "; ")
	}
	switch {
	case len(res.Refused) > 0:
		r.Result, r.Error = ResultRefused, "refused "+notes(res.Refused)
	case res.Escalation != nil && len(res.Escalation.Failed) > 0:
		r.Result, r.Error = ResultRefused, "SIGKILL after the grace period failed for "+notes(res.Escalation.Failed)
	case len(res.Signalled) > 0:
		r.Result = ResultOK
	case len(res.Gone) > 0:
		r.Result, r.Error = ResultError, "nothing was signalled: gone "+notes(res.Gone)
	default:
		r.Result, r.Error = ResultError, "nothing was signalled: the snapshot named no process to signal"
	}
	attrs := []any{"rule", d.Rule.Name, "entity", d.Entity(), "signal", res.Signal, "target", res.Target,
		"result", r.Result, "signalled", res.Signalled, "gone", res.Gone, "refused", res.Refused}
	if res.Escalation != nil {
		attrs = append(attrs, "escalation", *res.Escalation)
	}
	a.log.Info("kill", append(attrs, "summary", res.String())...)
}

// runEnv gives a program the facts of the match. Run caps each
// value (MaxEnvValue), so that a long command line cannot make
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

func (a *Actor) run(ctx context.Context, d engine.Decision, pa *engine.PlannedAction, r *ActionResult) {
	command, args, err := d.RenderRun(pa, a.enricher)
	if err != nil {
		r.Result, r.Error = ResultError, err.Error()
		return
	}
	if args == nil {
		args = []string{}
	}
	r.Run = &RunDetail{Mode: a.mode(), Command: command, Args: args}
	if r.Run.Mode != engine.ModeEnforce {
		r.Result = ResultDryRun
		return
	}
	if a.foreign != "" {
		r.Result, r.Error = ResultRefused, a.foreign
		return
	}
	res := Run(ctx, RunRequest{Command: command, Args: args, Env: runEnv(d), Timeout: pa.Timeout})
	// A program that was refused, did not start, failed or timed out is
	// an error an operator must see; a clean run is information.
	level := slog.LevelInfo
	if res.Err != nil {
		level = slog.LevelError
	}
	a.log.Log(ctx, level, "run", "rule", d.Rule.Name, "command", command, "args", args, "exit", res.ExitCode,
		"duration", res.Duration.String(), "output", res.Output, "err", res.Err)
	r.Run.ExitCode = &res.ExitCode
	switch {
	case errors.Is(res.Err, builtin.ErrRefused):
		r.Result, r.Error = ResultRefused, res.Err.Error()
	case res.Err != nil:
		r.Result, r.Error = ResultError, res.Err.Error()
	default:
		r.Result = ResultOK
	}
}
