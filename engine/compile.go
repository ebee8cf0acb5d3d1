package engine

import (
	"slices"
	"strings"
	"text/template"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"go.yaml.in/yaml/v3"
)

// compile turns the assembled draft into a Rule, type-checking every
// expression and template.
func (dr *draft) compile() (*Rule, Problems) {
	var ps Problems
	r := &Rule{Name: dr.name, Origin: dr.origin, Patches: dr.patches, Severity: "warning", Enabled: true, Params: map[string]any{}, Tags: []string{}}
	for k, p := range dr.params {
		r.Params[k] = p.value
	}
	get := func(k string) (field, *source, bool) {
		f, ok := dr.fields[k]
		return f, dr.srcs[k], ok
	}
	if f, src, ok := get("description"); ok {
		r.Description, _ = src.str(f.value, "description", &ps)
	}
	if f, src, ok := get("scope"); ok {
		s, _ := src.str(f.value, "scope", &ps)
		r.Scope = Scope(s)
		if !slices.Contains([]string{"process", "user", "session", "host"}, s) {
			ps = append(ps, src.problem(f.value, "unknown scope %q: use process, user, session or host", s))
			return nil, ps
		}
	}
	if f, src, ok := get("every"); ok {
		if d, good := src.duration(f.value, "every", &ps); good {
			if d <= 0 {
				ps = append(ps, src.problem(f.value, "every must be longer than 0s; set enabled: false to turn a rule off"))
			}
			r.Every = d
		}
	}
	if f, src, ok := get("severity"); ok {
		s, _ := src.str(f.value, "severity", &ps)
		r.Severity = Severity(s)
		if !slices.Contains([]string{"info", "warning", "critical"}, s) {
			ps = append(ps, src.problem(f.value, "unknown severity %q: use info, warning or critical", s))
		}
	}
	if f, src, ok := get("enabled"); ok {
		r.Enabled, _ = src.boolean(f.value, "enabled", &ps)
	}
	if f, src, ok := get("tags"); ok {
		r.Tags, _ = src.strList(f.value, "tags", &ps)
	}

	env, err := ruleEnv(r.Scope, r.Name, r.Params)
	if err != nil {
		ps = append(ps, dr.originSrc.problemAt(r.Origin, "%v", err))
		return nil, ps
	}
	c := &compiler{env: env, ps: &ps, scope: r.Scope, params: r.Params}
	if f, src, ok := get("condition"); ok {
		if s, good := src.str(f.value, "condition", &ps); good {
			r.Condition = s
			r.cond = c.cel(src.text(f.value), cel.BoolType)
		}
	}
	if f, src, ok := get("subject"); ok {
		r.subject = c.template(src, f.value, "subject")
	}
	if f, src, ok := get("message"); ok {
		r.message = c.template(src, f.value, "message")
	}
	if f, src, ok := get("actions"); ok {
		r.Actions = c.actions(src, f.value, r.Scope)
	}
	r.needs = c.needs
	if len(r.Actions) == 0 && len(ps) == 0 {
		ps = append(ps, dr.originSrc.problemAt(r.Origin, "rule %q has no actions: give at least one of alert, kill, run, suppress", r.Name))
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return r, nil
}

// compiler compiles the expressions and templates of one rule.
type compiler struct {
	env *cel.Env
	ps  *Problems
	// scope and params are what templates are checked against.
	scope  Scope
	params map[string]any
	// needs gathers the facts every expression compiled reads out of
	// sight of lazy field access (exprNeeds).
	needs Facts
}

// cel compiles an expression and checks its result type. Errors point into
// the YAML file.
func (c *compiler) cel(t text, want *cel.Type) *program {
	ast, iss := compileSource(c.env, common.NewTextSource(t.body))
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			loc := e.Location
			*c.ps = append(*c.ps, t.problemAt(loc.Line(), loc.Column(), "%s", e.Message))
		}
		return nil
	}
	if !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		*c.ps = append(*c.ps, t.problemAt(1, 0, "expression gives %s, want %s", ast.OutputType(), want))
		return nil
	}
	prg, err := c.env.Program(ast,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(interruptEvery),
	)
	if err != nil {
		*c.ps = append(*c.ps, t.problemAt(1, 0, "%v", err))
		return nil
	}
	// CEL checks an evaluation's context only between iterations of a
	// comprehension (exists, all, map, filter...): an expression without
	// one has nothing to interrupt, and evaluates without the context's
	// cost.
	loops := celast.MatchDescendants(celast.NavigateAST(ast.NativeRep()), celast.KindMatcher(celast.ComprehensionKind))
	c.needs |= exprNeeds(ast)
	return &program{text: strings.TrimSpace(t.node.Value), pos: t.pos(), prg: prg, interruptible: len(loops) > 0}
}

// template parses a Go text/template.
func (c *compiler) template(src *source, n *yaml.Node, what string) *template.Template {
	s, ok := src.str(n, what, c.ps)
	if !ok {
		return nil
	}
	tpl, err := newTemplate(what).Parse(s)
	if err != nil {
		*c.ps = append(*c.ps, src.problem(n, "%s: %v", what, templateError(err)))
		return nil
	}
	// Every template, the rule's and its actions', meets sample facts now.
	if err := checkTemplate(tpl, c.scope, c.params); err != nil {
		*c.ps = append(*c.ps, src.problem(n, "%s: %v", what, err))
		return nil
	}
	return tpl
}
