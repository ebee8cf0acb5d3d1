package engine

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Match is one rule matching one entity: the condition held. Actions holds
// the actions whose `if` held, in the rule's order.
type Match struct {
	Rule *Rule
	// Key is the entity's identity (contract §2.1).
	Key string
	// The entity: Proc for process scope, User for user scope, Session for
	// session scope, none for host scope.
	Proc    *Process
	User    *User
	Session *Session
	Actions []*PlannedAction

	vars vars
}

// PlannedAction is an action that will run if the match fires, with its
// suppression key and duration already evaluated.
type PlannedAction struct {
	*ActionSpec
	SuppressKey string
	SuppressFor time.Duration
	// Err is set when the action's `if`, or a suppress action's `key` or
	// `for`, failed to evaluate for this entity. The match still fires; the
	// action is reported as an error and does not run (see Runs), except a
	// suppress whose key alone failed: it uses the entity's identity.
	Err *ActionError
}

// ActionError is an action expression that failed at run time for one
// entity, for example by indexing past the end of proc.cmdline.
type ActionError struct {
	// Field is the failing field: "if", "key" or "for".
	Field string
	Err   error
}

func (e *ActionError) Error() string {
	if e.Field == "key" {
		return fmt.Sprintf("key: %v; the entity's identity was used as the key", e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *ActionError) Unwrap() error { return e.Err }

// Runs reports whether the action runs when its match fires: it has no
// evaluation error, or it is a suppress whose key alone failed and which
// falls back to the entity's identity. A suppress whose `for` failed does
// not run: no mark is recorded, so the rule fires again at its next
// evaluation rather than staying silent for a duration nobody chose.
func (a *PlannedAction) Runs() bool {
	return a.Err == nil || (a.Kind == ActSuppress && a.Err.Field == "key")
}

// EvalError is an expression that failed at run time for one entity, for
// example by exceeding the cost limit.
type EvalError struct {
	Rule   string
	Entity string
	Err    error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("rule %s, %s: %v", e.Rule, e.Entity, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Evaluate runs every enabled rule for which due returns true (all of them
// when due is nil) against the snapshot, visiting entities in ascending
// order: processes by pid, users by uid, sessions by sid. The user and
// session aggregates leave out what the rule set's ignore list hides; they
// are computed into a View of the snapshot, which is not changed.
func (rs *RuleSet) Evaluate(s *Snapshot, due func(*Rule) bool) ([]*Match, []error) {
	_, matches, errs := rs.EvaluateView(s, due)
	return matches, errs
}

// EvaluateView is Evaluate that also returns the View the rules saw, from
// which View.IgnoredBy tells which ignore entry hid each process.
func (rs *RuleSet) EvaluateView(s *Snapshot, due func(*Rule) bool) (*View, []*Match, []error) {
	snap := NewView(s, rs.Ignore)
	var matches []*Match
	var errs []error
	dl := newDeadline()
	defer dl.close()
	for _, r := range rs.Rules {
		if !r.Enabled || (due != nil && !due(r)) {
			continue
		}
		// What the rule reads out of sight of lazy field access is read
		// for everything first.
		if f := r.needs; f != 0 {
			s.LoadAll(f)
			if f.Has(FactAggregates) {
				snap.Users()
				snap.Sessions()
			}
		}
		// key is called only for a match: building a process key for every
		// process under every rule was a sixth of evaluation's allocations.
		visit := func(key func() string, v vars) {
			v.deadline = dl
			m, err := r.match(key, v)
			if err != nil {
				errs = append(errs, &EvalError{Rule: r.Name, Entity: entityName(r.Scope, v), Err: err})
			}
			if m != nil {
				m.complete()
				matches = append(matches, m)
			}
		}
		params := r.Params
		switch r.Scope {
		case ScopeProcess:
			for i := range snap.Procs {
				p := &snap.Procs[i]
				visit(p.Key, vars{proc: p, procIdx: i + 1, user: snap.userOf(p.UID), session: snap.sessionOf(p.SID), snap: snap, params: params})
			}
		case ScopeUser:
			for i := range snap.users {
				u := &snap.users[i]
				_, ign := rs.Ignore.MatchUserAt(u.Name, s.Time)
				visit(func() string { return u.Name }, vars{user: u, ignored: ign, snap: snap, params: params})
			}
		case ScopeSession:
			for i := range snap.sessions {
				s := &snap.sessions[i]
				visit(s.Key, vars{session: s, snap: snap, params: params})
			}
		case ScopeHost:
			visit(func() string { return "" }, vars{snap: snap, params: params})
		}
	}
	return snap, matches, errs
}

// complete reads every fact of what the match is about, its process or
// its user or session aggregate, so that actions and reports read it
// whole. The aggregates a process-scope match has beside are completed
// only when a template reads them: a match in a session of thousands
// would otherwise decide whether each of them is ignored.
func (m *Match) complete() {
	if m.Proc != nil {
		m.Proc.Need(FactAll)
	}
	m.User.complete()
	m.Session.complete()
}

func entityName(s Scope, v vars) string {
	switch s {
	case ScopeProcess:
		return "pid " + strconv.Itoa(v.proc.PID)
	case ScopeUser:
		return "user " + v.user.Name
	case ScopeSession:
		return "session " + strconv.Itoa(v.session.SID)
	}
	return "host"
}

// match evaluates the rule for one entity. Only the condition's error drops
// the match: an action whose expressions fail is planned with its error, so
// that an entity controlling the data an action reads (its argv, say) cannot
// dodge the rule's other actions.
func (r *Rule) match(entityKey func() string, v vars) (*Match, error) {
	ok, err := r.cond.evalBool(&v)
	if err != nil || !ok {
		return nil, err
	}
	key := entityKey()
	m := &Match{Rule: r, Key: key, Proc: v.proc, vars: v}
	switch r.Scope {
	case ScopeUser:
		m.User = v.user
	case ScopeSession:
		m.Session = v.session
	}
	for _, a := range r.Actions {
		pa := &PlannedAction{ActionSpec: a}
		if a.ifProg != nil {
			run, err := a.ifProg.evalBool(&v)
			if err != nil {
				pa.Err = &ActionError{Field: "if", Err: err}
				m.Actions = append(m.Actions, pa)
				continue
			}
			if !run {
				continue
			}
		}
		if a.Kind == ActSuppress {
			pa.SuppressKey, pa.SuppressFor = key, a.For
			if a.forProg != nil {
				if pa.SuppressFor, err = a.forProg.evalDuration(&v); err != nil {
					pa.Err = &ActionError{Field: "for", Err: err}
				}
			}
			if a.keyProg != nil && pa.Err == nil {
				if pa.SuppressKey, err = a.keyProg.evalString(&v); err != nil {
					pa.SuppressKey = key
					pa.Err = &ActionError{Field: "key", Err: err}
				}
			}
		}
		m.Actions = append(m.Actions, pa)
	}
	return m, nil
}

// Status says whether a match fired.
type Status string

// The statuses of contract §5.
const (
	StatusFired      Status = "fired"
	StatusSuppressed Status = "suppressed"
)

// Decision is a match with the verdict of the suppression state.
type Decision struct {
	*Match
	Status Status
	// Until is the end of the suppression that silenced the match.
	Until time.Time
	// SuppressedBy is the key whose mark silenced the match: one of its
	// suppress keys, which another entity's match may have recorded, or
	// its own identity for a mark of monitor_repeat (then ByMonitor).
	SuppressedBy string
	// ByMonitor reports that the mark that silenced the match was recorded
	// in monitor mode for a kill or run that was only reported.
	ByMonitor bool
	// Quieted is how many matches the suppress keys of this fired decision
	// silenced since they last fired, when the caller counts them (the
	// daemon does, in memory): its alert says so.
	Quieted int

	// marks are the suppressions a fired decision records when committed.
	marks []mark
}

// SuppressKeys returns the keys a fired decision marks when committed.
func (d *Decision) SuppressKeys() []string {
	keys := make([]string, len(d.marks))
	for i, m := range d.marks {
		keys[i] = m.key
	}
	return keys
}

// mark is one suppression to record: rule stays quiet for key until a time.
type mark struct {
	rule, key string
	until     time.Time
}

// Decide walks the matches in order and decides which fire. It changes
// nothing: a match is suppressed while any of its suppress keys is marked
// in the store past now, or was marked by an earlier fired match of the
// same evaluation (contract §2.1: a key recorded by one match applies at
// once to the later matches of the same rule). The marks of a fired
// decision reach the store only through Commit, which the caller does after
// the decision's actions ran: a decision that was never acted upon
// suppresses nothing later.
func Decide(matches []*Match, store Store, now time.Time) []Decision {
	return decide(matches, store, now, false)
}

// DecideMonitor is Decide in monitor mode: a match is also suppressed
// while the mark that HoldInMonitor recorded for its rule and identity
// holds, so that a kill or run that is only reported is reported once per
// monitor_repeat rather than at every evaluation. Those marks are read in
// monitor mode only: switching to enforce acts at once.
func DecideMonitor(matches []*Match, store Store, now time.Time) []Decision {
	return decide(matches, store, now, true)
}

// monitorRule is the store's rule name for the monitor_repeat marks of a
// rule. Rule names cannot hold a colon, so it meets no real rule.
func monitorRule(rule string) string { return "monitor:" + rule }

func decide(matches []*Match, store Store, now time.Time, monitor bool) []Decision {
	out := make([]Decision, 0, len(matches))
	// pending holds the marks of this evaluation's fired matches.
	pending := map[[2]string]time.Time{}
	for _, m := range matches {
		d := Decision{Match: m, Status: StatusFired}
		for _, a := range m.Actions {
			if a.Kind != ActSuppress || !a.Runs() {
				continue
			}
			until, ok := pending[[2]string{m.Rule.Name, a.SuppressKey}]
			if !ok {
				until, ok = store.Until(m.Rule.Name, a.SuppressKey)
			}
			if ok && now.Before(until) {
				d.Status, d.Until, d.SuppressedBy = StatusSuppressed, until, a.SuppressKey
				break
			}
		}
		if monitor && d.Status == StatusFired {
			if until, ok := store.Until(monitorRule(m.Rule.Name), m.Key); ok && now.Before(until) {
				d.Status, d.Until, d.SuppressedBy, d.ByMonitor = StatusSuppressed, until, m.Key, true
			}
		}
		if d.Status == StatusFired {
			for _, a := range m.Actions {
				if a.Kind != ActSuppress || !a.Runs() {
					continue
				}
				until := now.Add(a.SuppressFor)
				pending[[2]string{m.Rule.Name, a.SuppressKey}] = until
				d.marks = append(d.marks, mark{m.Rule.Name, a.SuppressKey, until})
			}
		}
		out = append(out, d)
	}
	return out
}

// HoldInMonitor records, with the decision's other marks, that its match
// stays quiet until the given time in monitor mode (see DecideMonitor).
// The actor calls it for a fired decision whose kill or run monitor mode
// kept from running.
func (d *Decision) HoldInMonitor(until time.Time) {
	d.marks = append(d.marks, mark{monitorRule(d.Rule.Name), d.Key, until})
}

// Commit records the suppressions of a fired decision in the store. The
// caller commits once the decision's actions ran (an alert handed to its
// channels counts as run), and not at all for a decision it abandoned. A
// suppressed decision records nothing.
func (d *Decision) Commit(store Store) {
	for _, m := range d.marks {
		store.Suppress(m.rule, m.key, m.until)
	}
}

// Render renders the rule's subject and message for the match. When the
// rule has no subject, the subject names the rule and the entity.
func (m *Match) Render(e Enricher) (subject, message string, err error) {
	return m.RenderAlert(nil, e)
}

// RenderAlert renders the subject and message of an alert action, which may
// override the rule's, before any action ran. a may be nil.
func (m *Match) RenderAlert(a *PlannedAction, e Enricher) (subject, message string, err error) {
	return m.RenderAlertAfter(a, e, nil)
}

// RenderAlertAfter renders the subject and message of an alert action (the
// rule's when a is nil) after the actions whose outcome o holds: templates
// read it as .outcome. A nil o means no kill or run ran before the alert.
func (m *Match) RenderAlertAfter(a *PlannedAction, e Enricher, o *Outcome) (subject, message string, err error) {
	st, mt := m.Rule.subject, m.Rule.message
	if a != nil && a.subject != nil {
		st = a.subject
	}
	if a != nil && a.message != nil {
		mt = a.message
	}
	data, notes := m.templateData(needsOf(st, mt))
	data["outcome"] = outcomeData(o)
	if subject, err = execute(st, e, m.vars.snap.Snapshot, data, MaxSubject); err != nil {
		return "", "", fmt.Errorf("rule %s: subject: %w", m.Rule.Name, err)
	}
	if st == nil {
		subject = truncate(m.Rule.Name+": "+m.Entity(), MaxSubject)
	}
	// The notes on cut process lists end the message, after a blank
	// line, within the cap.
	tail := ""
	for _, n := range notes {
		tail += n + "\n"
	}
	room := MaxAlertBytes - len(subject)
	if tail != "" {
		room -= len(tail) + 2
	}
	if message, err = execute(mt, e, m.vars.snap.Snapshot, data, room); err != nil {
		return "", "", fmt.Errorf("rule %s: message: %w", m.Rule.Name, err)
	}
	if tail != "" {
		message = strings.TrimRight(message, "\n") + "\n\n" + tail
	}
	return subject, message, nil
}

// RenderRun renders a run action's command and arguments.
func (m *Match) RenderRun(a *PlannedAction, e Enricher) (command string, args []string, err error) {
	data, _ := m.templateData(needsOf(append([]*template.Template{a.command}, a.args...)...))
	data["outcome"] = outcomeData(nil)
	if command, err = execute(a.command, e, m.vars.snap.Snapshot, data, MaxRunArg); err != nil {
		return "", nil, fmt.Errorf("rule %s: run command: %w", m.Rule.Name, err)
	}
	for i, t := range a.args {
		s, err := execute(t, e, m.vars.snap.Snapshot, data, MaxRunArg)
		if err != nil {
			return "", nil, fmt.Errorf("rule %s: run argument %d: %w", m.Rule.Name, i+1, err)
		}
		args = append(args, s)
	}
	return command, args, nil
}

// Entity describes the matched entity for people: "pid 4242 (bob)",
// "user bob", "session 812", "host web1".
func (m *Match) Entity() string {
	switch {
	case m.Proc != nil:
		return fmt.Sprintf("pid %d (%s)", m.Proc.PID, Display(m.Proc.User))
	case m.User != nil:
		return "user " + Display(m.User.Name)
	case m.Session != nil:
		return "session " + strconv.Itoa(m.Session.SID)
	}
	return "host " + Display(m.vars.snap.Host.Name)
}

// Facts returns the matched entity's facts as templates read them
// (.proc, .user or .session; the host's for host scope), each string capped
// and escaped for display, for channels that carry them as data, such as
// webhooks.
func (m *Match) Facts() map[string]any {
	var v any = &m.vars.snap.Host
	switch {
	case m.Proc != nil:
		v = m.Proc
	case m.User != nil:
		v = m.User
	case m.Session != nil:
		v = m.Session
	}
	d, _ := toData(v).(map[string]any)
	return d
}

// Snapshot returns the snapshot the match was evaluated against, as the
// rule set saw it: with the aggregates of that evaluation.
func (m *Match) Snapshot() *View { return m.vars.snap }
