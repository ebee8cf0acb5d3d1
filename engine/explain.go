package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/parser"
)

// Target names the one entity Explain evaluates a rule for: a process by
// PID, a user by name or a session by SID, as the rule's scope asks; none
// for a host-scope rule.
type Target struct {
	PID  int
	User string
	SID  int
}

// Explanation is why one rule did or did not match one entity: the value
// of every sub-expression of its condition, the ignore-list entry behind
// `ignored`, and what each action's `if` decided.
type Explanation struct {
	Rule      *Rule
	Entity    string
	Condition string
	// Matched reports whether the condition held, as the normal evaluation
	// decides it; Err is the condition's evaluation error.
	Matched bool
	Err     error
	// Steps are the condition's sub-expressions, outermost first, in
	// source order, with the value each had.
	Steps []Step
	// Ignored is the value of `ignored` for the entity, and IgnoredBy the
	// entry that made it true.
	Ignored   bool
	IgnoredBy *IgnoreEntry
	// Actions say what each action's `if` decided, for a match.
	Actions []ActionIf
	// Match is the match the normal evaluation makes, nil without one: its
	// decision and actions are the caller's to show.
	Match *Match
}

// Step is one sub-expression of a condition and its value.
type Step struct {
	// Offset is the position CEL's parser records for the sub-expression
	// in the condition, in characters: that of its operator, of the dot of
	// a field or of its first token.
	Offset int
	// Depth is how deep it is nested in the condition (0 for the whole).
	Depth int
	// Text is the sub-expression as CEL writes it, Value its value, both
	// safe to print.
	Text  string
	Value string
}

// ActionIf is what one action's `if` decided: "always" when it has none,
// "true", "false", or "error: ..." when it failed.
type ActionIf struct {
	Kind    ActionKind
	Pos     Pos
	If      string
	Decided string
	// Planned reports whether the action is among the match's actions.
	Planned bool
}

// ErrNoEntity is returned by Explain when the snapshot holds no entity
// the target names.
var ErrNoEntity = errors.New("no such entity")

// Explain evaluates the rule called name for one entity of the snapshot,
// with the rule set's ignore list, as Evaluate would, and says why it did
// or did not match. The values of the sub-expressions come from a second
// program compiled here with CEL's state tracking and exhaustive
// evaluation, so that the programs of the normal path stay as fast as
// they are; whether the rule matched is the normal program's verdict.
func (rs *RuleSet) Explain(s *Snapshot, name string, t Target) (*Explanation, error) {
	r := rs.Rule(name)
	if r == nil {
		return nil, fmt.Errorf("no rule %q: run 'ptrule rules' for the list", name)
	}
	snap := NewView(s, rs.Ignore)
	v := vars{snap: snap, params: r.Params}
	ex := &Explanation{Rule: r, Condition: r.Condition}
	var key func() string
	switch r.Scope {
	case ScopeProcess:
		i, ok := snap.byPID[t.PID]
		if !ok || t.User != "" || t.SID != 0 {
			return nil, fmt.Errorf("rule %s has process scope: %w for pid %d", r.Name, ErrNoEntity, t.PID)
		}
		p := &snap.Procs[i]
		p.Need(FactAll)
		v.proc, v.user, v.session, v.ignored = p, snap.UserOf(p.UID), snap.SessionOf(p.SID), snap.Ignored(i)
		// As the evaluation decides: at the snapshot's time, so an
		// expired entry does not count.
		if e, ok := rs.Ignore.MatchAt(p, snap.Time); ok {
			ex.IgnoredBy = &e
		}
		key = p.Key
	case ScopeUser:
		users := snap.Users()
		for i := range users {
			if t.User != "" && users[i].Name == t.User && t.PID == 0 && t.SID == 0 {
				v.user = &users[i]
			}
		}
		if v.user == nil {
			return nil, fmt.Errorf("rule %s has user scope: %w for user %q (a user is seen only when it runs a process)", r.Name, ErrNoEntity, t.User)
		}
		if e, ok := rs.Ignore.MatchUserAt(v.user.Name, snap.Time); ok {
			v.ignored, ex.IgnoredBy = true, &e
		}
		u := v.user
		key = func() string { return u.Name }
	case ScopeSession:
		sessions := snap.Sessions()
		for i := range sessions {
			if t.SID != 0 && sessions[i].SID == t.SID && t.PID == 0 && t.User == "" {
				v.session = &sessions[i]
			}
		}
		if v.session == nil {
			return nil, fmt.Errorf("rule %s has session scope: %w for session %d", r.Name, ErrNoEntity, t.SID)
		}
		key = v.session.Key
	case ScopeHost:
		if t != (Target{}) {
			return nil, fmt.Errorf("rule %s has host scope: it takes no --pid, --user or --sid", r.Name)
		}
		key = func() string { return "" }
	}
	ex.Ignored = v.ignored
	ex.Entity = entityName(r.Scope, v)
	switch r.Scope {
	case ScopeHost:
		ex.Entity = "host " + Display(snap.Host.Name)
	case ScopeProcess:
		ex.Entity = fmt.Sprintf("pid %d (%s)", v.proc.PID, Display(v.proc.User))
	case ScopeUser:
		ex.Entity = "user " + Display(v.user.Name)
	}

	m, err := r.match(key, v)
	ex.Match, ex.Matched, ex.Err = m, m != nil, err
	steps, err := r.trace(&v)
	if err != nil {
		return nil, err
	}
	ex.Steps = steps
	if m == nil {
		return ex, nil
	}
	planned := map[*ActionSpec]bool{}
	for _, pa := range m.Actions {
		planned[pa.ActionSpec] = true
	}
	for _, a := range r.Actions {
		ai := ActionIf{Kind: a.Kind, Pos: a.Pos, If: a.If, Decided: "always", Planned: planned[a]}
		if a.ifProg != nil {
			ok, err := a.ifProg.evalBool(&v)
			switch {
			case err != nil:
				ai.Decided = "error: " + Display(err.Error())
			default:
				ai.Decided = strconv.FormatBool(ok)
			}
		}
		ex.Actions = append(ex.Actions, ai)
	}
	return ex, nil
}

// trace evaluates the rule's condition for v with a program compiled for
// it alone, tracking the value of every sub-expression.
func (r *Rule) trace(v *vars) ([]Step, error) {
	env, err := ruleEnv(r.Scope, r.Name, r.Params)
	if err == nil {
		// Macro calls are kept so that a comprehension prints as written.
		env, err = env.Extend(cel.EnableMacroCallTracking())
	}
	if err != nil {
		return nil, err
	}
	ast, iss := env.CompileSource(common.NewTextSource(r.Condition))
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("rule %s: condition: %w", r.Name, iss.Err())
	}
	prg, err := env.Program(ast,
		cel.EvalOptions(cel.OptTrackState, cel.OptExhaustiveEval),
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(interruptEvery),
	)
	if err != nil {
		return nil, fmt.Errorf("rule %s: condition: %w", r.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), evalTimeout)
	defer cancel()
	_, det, _ := prg.ContextEval(ctx, v) // an error is shown on its sub-expression
	if det == nil || det.State() == nil {
		return nil, nil
	}
	st := det.State()
	native := ast.NativeRep()
	info := native.SourceInfo()
	var steps []Step
	var visit func(e celast.Expr, depth int)
	visit = func(e celast.Expr, depth int) {
		if constant(e) {
			return
		}
		{
			if val, ok := st.Value(e.ID()); ok {
				text, err := parser.Unparse(e, info, parser.WrapOnColumn(math.MaxInt32))
				if err != nil {
					text = "?"
				}
				off := 0
				if or, ok := info.GetOffsetRange(e.ID()); ok {
					off = int(or.Start)
				}
				steps = append(steps, Step{Offset: off, Depth: depth, Text: Display(clip(text, maxStepText)), Value: FormatValue(val)})
			}
		}
		switch e.Kind() {
		case celast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				visit(c.Target(), depth+1)
			}
			for _, a := range c.Args() {
				visit(a, depth+1)
			}
		case celast.SelectKind:
			visit(e.AsSelect().Operand(), depth+1)
		case celast.ListKind:
			for _, el := range e.AsList().Elements() {
				visit(el, depth+1)
			}
		case celast.MapKind:
			for _, en := range e.AsMap().Entries() {
				me := en.AsMapEntry()
				visit(me.Key(), depth+1)
				visit(me.Value(), depth+1)
			}
		case celast.ComprehensionKind:
			// The loop's body holds the values of its last iteration
			// only: show what it ran over and its result, nothing within.
			visit(e.AsComprehension().IterRange(), depth+1)
		}
	}
	visit(native.Expr(), 0)
	return steps, nil
}

// constant reports whether e reads no fact: a literal, a list or map of
// constants, or a function of constants such as duration("1h"). Its value
// says nothing about the entity, so explain leaves it out.
func constant(e celast.Expr) bool {
	switch e.Kind() {
	case celast.LiteralKind:
		return true
	case celast.ListKind:
		return !slices.ContainsFunc(e.AsList().Elements(), func(el celast.Expr) bool { return !constant(el) })
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if me := en.AsMapEntry(); !constant(me.Key()) || !constant(me.Value()) {
				return false
			}
		}
		return true
	case celast.CallKind:
		c := e.AsCall()
		if len(c.Args()) == 0 || (c.IsMemberFunction() && !constant(c.Target())) {
			return false
		}
		return !slices.ContainsFunc(c.Args(), func(a celast.Expr) bool { return !constant(a) })
	}
	return false
}

// maxStepText and maxStepValue cap what one step prints.
const (
	maxStepText  = 200
	maxStepValue = 200
)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// FormatValue writes a CEL value as CEL would write it as a literal,
// escaped for display and capped: strings quoted, lists and maps with
// their elements, facts objects by their type.
func FormatValue(v ref.Val) string {
	var b strings.Builder
	formatValue(&b, v, 0)
	return clip(b.String(), maxStepValue)
}

func formatValue(b *strings.Builder, v ref.Val, depth int) {
	if b.Len() > maxStepValue {
		return
	}
	switch x := v.(type) {
	case *types.Err:
		b.WriteString("error: " + Display(x.String()))
	case types.String:
		// Quoted as CEL writes a string, every byte that is not
		// printable ASCII escaped: nothing a process wrote reaches the
		// terminal as it is.
		b.WriteString(strconv.QuoteToASCII(string(x)))
	case types.Bytes:
		b.WriteString("b" + strconv.QuoteToASCII(string(x)))
	case types.Bool, types.Int, types.Uint, types.Double, types.Null:
		fmt.Fprint(b, x.Value())
		if _, ok := x.(types.Uint); ok {
			b.WriteString("u")
		}
	case types.Duration:
		fmt.Fprintf(b, "duration(%q)", x.Duration.String())
	case types.Timestamp:
		fmt.Fprintf(b, "timestamp(%q)", x.Time.UTC().Format("2006-01-02T15:04:05Z07:00"))
	case traits.Lister:
		if depth > 2 {
			b.WriteString("[…]")
			return
		}
		b.WriteString("[")
		n := int(x.Size().(types.Int))
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxStepValue {
				break
			}
			formatValue(b, x.Get(types.Int(i)), depth+1)
		}
		b.WriteString("]")
	case traits.Mapper:
		if depth > 2 {
			b.WriteString("{…}")
			return
		}
		var keys []ref.Val
		it := x.Iterator()
		for it.HasNext() == types.True {
			keys = append(keys, it.Next())
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Value()) < fmt.Sprint(keys[j].Value()) })
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxStepValue {
				break
			}
			formatValue(b, k, depth+1)
			b.WriteString(": ")
			formatValue(b, x.Get(k), depth+1)
		}
		b.WriteString("}")
	default:
		b.WriteString("<" + Display(v.Type().TypeName()) + ">")
	}
}

// FixtureStep replays fixture file f (see RunFixtures) up to step k (from
// 1) of its test called test ("" when it has one test) and returns what
// that step is evaluated with: the fixture's rule set, the step's snapshot
// and the suppressions the earlier steps' fired matches recorded, as `ptrule
// test` runs it. Explain then says why a rule did or did not match there.
func FixtureStep(f File, base []File, readFile func(string) ([]byte, error), test string, k int) (*RuleSet, *Snapshot, *MemStore, error) {
	fx, ps := parseFixture(f, base, readFile)
	if len(ps) == 0 {
		var rs *RuleSet
		if rs, ps = fx.ruleSet(); len(ps) == 0 {
			return fx.replay(rs, test, k)
		}
	}
	return nil, nil, nil, ps
}

func (fx *fixture) replay(rs *RuleSet, test string, k int) (*RuleSet, *Snapshot, *MemStore, error) {
	var t *fixtureTest
	var names []string
	for _, c := range fx.tests {
		names = append(names, strconv.Quote(c.name))
		if c.name == test || (test == "" && len(fx.tests) == 1) {
			t = c
		}
	}
	if t == nil {
		if test == "" {
			return nil, nil, nil, fmt.Errorf("%s has %d tests: name one of %s", fx.src.path, len(fx.tests), strings.Join(names, ", "))
		}
		return nil, nil, nil, fmt.Errorf("%s has no test %q: its tests are %s", fx.src.path, test, strings.Join(names, ", "))
	}
	if k < 1 || k > len(t.steps) {
		return nil, nil, nil, fmt.Errorf("test %q has steps 1 to %d, not %d", t.name, len(t.steps), k)
	}
	store := NewMemStore()
	var snap *fixtureSnapshot
	var given time.Time
	for i, st := range t.steps[:k] {
		now := FixtureEpoch.Add(st.at)
		if st.snap != nil {
			snap, given = st.snap, now
		}
		s := snap.build(given, now)
		if i == k-1 {
			return rs, s, store, nil
		}
		matches, _ := rs.Evaluate(s, nil)
		for _, d := range Decide(matches, store, now) {
			if d.Status == StatusFired {
				d.Commit(store)
			}
		}
	}
	return nil, nil, nil, fmt.Errorf("test %q: no step %d", t.name, k) // not reached: k was checked
}
