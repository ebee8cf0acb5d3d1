package engine

import (
	"text/template"
	"time"
)

// Severity grades an alert: info, warning or critical.
type Severity string

// Rule is one compiled rule: the result of its definition and every patch,
// ready to evaluate.
type Rule struct {
	Name        string
	Description string
	Scope       Scope
	// Every is how often the daemon runs the rule; 0 means the config's
	// interval.
	Every time.Duration
	// Params are the effective params: bool, int64, float64, string or a
	// list of those.
	Params    map[string]any
	Condition string
	Severity  Severity
	Enabled   bool
	Tags      []string
	Actions   []*ActionSpec

	// Origin is where the rule was defined; Patches where it was patched.
	Origin  Pos
	Patches []Pos

	cond    *program
	subject *template.Template
	message *template.Template
	// needs are the costly facts its expressions and templates read.
	needs Facts
}

// ActionKind names what an action does.
type ActionKind string

// The action kinds of contract §2.1.
const (
	ActAlert    ActionKind = "alert"
	ActKill     ActionKind = "kill"
	ActRun      ActionKind = "run"
	ActSuppress ActionKind = "suppress"
)

// KillTarget says which processes a kill signals.
type KillTarget string

// The kill targets of contract §2.1.
const (
	TargetProcess KillTarget = "process"
	TargetGroup   KillTarget = "group"
	TargetSession KillTarget = "session"
	TargetUser    KillTarget = "user"
)

// ActionSpec is one action of a rule as written, compiled.
type ActionSpec struct {
	Kind ActionKind
	Pos  Pos
	// If is the action's condition, "" for always.
	If string

	// alert
	Channels []string
	subject  *template.Template
	message  *template.Template

	// kill
	Signal     int
	SignalName string
	Target     KillTarget
	// Grace, with any signal but KILL, is how long the signalled
	// processes get before the survivors get KILL; 0 means no escalation.
	Grace time.Duration
	// AllowRoot lets target user kill the processes of root (uid 0); without
	// it such a kill is refused. Pid 1, ptrule and its ancestors stay
	// protected whatever it says.
	AllowRoot bool

	// run
	Command string
	Args    []string
	Timeout time.Duration
	command *template.Template
	args    []*template.Template

	// suppress
	For    time.Duration // when written as a literal duration
	ForCEL string        // when written as a CEL expression
	Key    string        // CEL string; "" for the entity's identity

	ifProg  *program
	forProg *program
	keyProg *program
}

// DefaultRunTimeout is how long a run action may take when the rule does
// not say.
const DefaultRunTimeout = 30 * time.Second

// OverridesText reports whether an alert action has a subject or message of
// its own.
func (a *ActionSpec) OverridesText() bool { return a.subject != nil || a.message != nil }
