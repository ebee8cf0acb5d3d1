package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Scope says which entities a rule visits.
type Scope string

// The scopes of contract §2.
const (
	ScopeProcess Scope = "process"
	ScopeUser    Scope = "user"
	ScopeSession Scope = "session"
	ScopeHost    Scope = "host"
)

var scopes = []Scope{ScopeProcess, ScopeUser, ScopeSession, ScopeHost}

// costLimit bounds one evaluation of one expression. Static cost estimates
// are useless here: every list and string comes from /proc, where a hostile
// process chooses the size of its command line. A run-time limit keeps one
// evaluation bounded whatever the input; an evaluation that hits it is an
// error reported for that rule and entity, never a silent "no match". The
// budget is far above what the default rules need (a few hundred) and a
// regex over a maximal 2 MiB command line costs about 200,000.
const costLimit = 10_000_000

// evalTimeout bounds the time of one evaluation of one expression, on top
// of costLimit: CEL's cost counts steps, not the time a step takes, so a
// heavy step repeated over a hostile command line stays under the budget
// and could still hold up the tick. The evaluation runs under a context
// with this deadline and checks it every interruptEvery iterations of a
// comprehension (exists, all, map, filter); one past it is an EvalError
// that wraps context.DeadlineExceeded. A variable, so a test can make
// every deadline already past.
var evalTimeout = 100 * time.Millisecond

// interruptEvery is how many comprehension iterations run between two
// checks of the evaluation's deadline.
const interruptEvery = 100

// baseEnvs holds one CEL environment per scope, built once: building an
// environment costs milliseconds, compiling against it microseconds.
var baseEnvs = sync.OnceValues(func() (map[Scope]*cel.Env, error) {
	envs := map[Scope]*cel.Env{}
	for _, s := range scopes {
		e, err := newScopeEnv(s)
		if err != nil {
			return nil, fmt.Errorf("building the CEL environment for scope %s: %w", s, err)
		}
		envs[s] = e
	}
	return envs, nil
})

const (
	typeProcess = "engine.Process"
	typeUser    = "engine.User"
	typeSession = "engine.Session"
	typeLoad    = "engine.Load"
	typeHost    = "engine.Host"
)

// celBytes implements bytes(string) -> int.
func celBytes(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.NoSuchOverloadErr()
	}
	n, err := ParseSize(string(s))
	if err != nil {
		return types.NewErr("%v", err)
	}
	return types.Int(n)
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a size such as "512MiB", "200MB", "1.5GiB" or "4096" into
// bytes. KB, MB, GB and TB are decimal; KiB, MiB, GiB and TiB binary; units
// are case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("bad size %q: write a number with an optional unit, like 4096, 200MB or 512MiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: write a number with an optional unit, like 4096, 200MB or 512MiB", s)
	}
	v := f * mult
	if v >= 1<<63 {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return int64(v), nil
}

// paramTypeName is the CEL object type of one rule's params.
func paramTypeName(rule string) string {
	return "ptrule.params." + strings.NewReplacer("-", "_", ".", "_").Replace(rule)
}

// paramsProvider adds one rule's params as a CEL object type, so that
// `params.limt` and `duration(params.max)` with an integer max are load
// errors.
// At run time params is a plain map, read by key.
type paramsProvider struct {
	types.Provider
	name   string
	fields map[string]*types.FieldType
}

func (p *paramsProvider) FindStructType(name string) (*types.Type, bool) {
	if name == p.name {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Provider.FindStructType(name)
}

func (p *paramsProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == p.name {
		names := make([]string, 0, len(p.fields))
		for n := range p.fields {
			names = append(names, n)
		}
		sort.Strings(names)
		return names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *paramsProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name == p.name {
		ft, ok := p.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

// celTypeOf returns the CEL type of a param value (already normalised by
// the loader to bool, int64, float64, string or []any of those).
func celTypeOf(v any) *cel.Type {
	switch v := v.(type) {
	case bool:
		return cel.BoolType
	case int64:
		return cel.IntType
	case float64:
		return cel.DoubleType
	case string:
		return cel.StringType
	case []any:
		if len(v) == 0 {
			return cel.ListType(cel.DynType)
		}
		elem := celTypeOf(v[0])
		for _, e := range v[1:] {
			if !celTypeOf(e).IsExactType(elem) {
				return cel.ListType(cel.DynType)
			}
		}
		return cel.ListType(elem)
	}
	return cel.DynType
}

// ruleEnv extends the scope's environment with the rule's params type.
func ruleEnv(scope Scope, rule string, params map[string]any) (*cel.Env, error) {
	envs, err := baseEnvs()
	if err != nil {
		return nil, err
	}
	base, ok := envs[scope]
	if !ok {
		return nil, fmt.Errorf("unknown scope %q", scope)
	}
	pp := &paramsProvider{Provider: base.CELTypeProvider(), name: paramTypeName(rule), fields: map[string]*types.FieldType{}}
	for k, v := range params {
		pp.fields[k] = &types.FieldType{Type: celTypeOf(v)}
	}
	return base.Extend(
		cel.CustomTypeProvider(pp),
		cel.Variable("params", cel.ObjectType(pp.name)),
	)
}

// vars is the activation of one evaluation: it hands CEL pointers into the
// snapshot, so no map is built per process.
type vars struct {
	proc    *Process
	user    *User
	session *Session
	// ignored is `ignored` of a user-scope rule. A process's is the view's
	// decision, made on first use: procIdx is then 1 + the process's index
	// in snap.Procs, and 0 otherwise.
	ignored bool
	procIdx int
	snap    *View
	params  map[string]any
	// deadline times each evaluation (see evalTimeout); nil gives each
	// evaluation a context of its own.
	deadline *deadline
}

// deadline gives one evaluation after another its own deadline of
// evalTimeout, with one timer and, until it fires, one context for all of
// them: a context with a timeout per evaluation tripled the time of
// evaluating a busy host. CEL derives a cancellable context from the one
// it is given; a plain cancelCtx parent keeps that cheap (no goroutine).
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	ctx     context.Context
	cancel  context.CancelCauseFunc
	fired   bool
	started time.Time
}

func newDeadline() *deadline {
	d := &deadline{}
	d.ctx, d.cancel = context.WithCancelCause(context.Background())
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

// fire ends the running evaluation. A timer that went off for an earlier
// evaluation, while the next one was starting, is recognised by the time
// and ignored: the timer is armed again for the new one.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.fired && time.Since(d.started) >= evalTimeout {
		d.fired = true
		d.cancel(context.DeadlineExceeded)
	}
}

// start arms the deadline for one evaluation and returns its context,
// whose cause is context.DeadlineExceeded once the time is up.
func (d *deadline) start() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
		d.ctx, d.cancel = context.WithCancelCause(context.Background())
		d.fired = false
	}
	d.started = time.Now()
	if evalTimeout <= 0 {
		d.fired = true
		d.cancel(context.DeadlineExceeded)
	} else {
		d.timer.Reset(evalTimeout)
	}
	return d.ctx
}

// stop disarms the deadline after an evaluation.
func (d *deadline) stop() { d.timer.Stop() }

// close releases the timer and the context once no evaluation is left.
func (d *deadline) close() {
	d.timer.Stop()
	d.cancel(context.Canceled)
}

var _ interpreter.Activation = (*vars)(nil)

func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "proc":
		return v.proc, v.proc != nil
	case "user":
		return v.user, v.user != nil
	case "session":
		return v.session, v.session != nil
	case "ignored":
		return v.isIgnored(), true
	case "host":
		return &v.snap.Host, true
	case "load":
		return &v.snap.Load, true
	case "now":
		return v.snap.Time, true
	case "params":
		return v.params, true
	}
	return nil, false
}

func (v *vars) Parent() interpreter.Activation { return nil }

// isIgnored is the value of `ignored`.
func (v *vars) isIgnored() bool {
	if v.procIdx > 0 {
		return v.snap.Ignored(v.procIdx - 1)
	}
	return v.ignored
}

// program is a compiled CEL expression with the place it came from.
type program struct {
	text string
	pos  Pos
	prg  cel.Program
	// interruptible is set when the expression has a comprehension, the
	// only place CEL checks the evaluation's deadline.
	interruptible bool
}

func (p *program) eval(v *vars) (ref.Val, error) {
	if !p.interruptible {
		out, _, err := p.prg.Eval(v)
		if err != nil {
			return nil, fmt.Errorf("%s: evaluating %q: %w", p.pos, p.text, err)
		}
		return out, nil
	}
	var ctx context.Context
	if v.deadline != nil {
		ctx = v.deadline.start()
		defer v.deadline.stop()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), evalTimeout)
		defer cancel()
	}
	out, _, err := p.prg.ContextEval(ctx, v)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: evaluating %q: stopped after %v, the time one evaluation may take: %w", p.pos, p.text, evalTimeout, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s: evaluating %q: %w", p.pos, p.text, err)
	}
	return out, nil
}

func (p *program) evalBool(v *vars) (bool, error) {
	out, err := p.eval(v)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: %q gave %v, not a bool", p.pos, p.text, out)
	}
	return bool(b), nil
}

func (p *program) evalString(v *vars) (string, error) {
	out, err := p.eval(v)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("%s: %q gave %v, not a string", p.pos, p.text, out)
	}
	return string(s), nil
}

func (p *program) evalDuration(v *vars) (time.Duration, error) {
	out, err := p.eval(v)
	if err != nil {
		return 0, err
	}
	d, ok := out.(types.Duration)
	if !ok {
		return 0, fmt.Errorf("%s: %q gave %v, not a duration", p.pos, p.text, out)
	}
	return d.Duration, nil
}
