package engine

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

// File is a rule file or an ignore list to load.
type File struct {
	// Path is the name shown in errors and in `ptrule rules`.
	Path string
	Data []byte
	// ReadFile reads the targets of an ignore list's Include lines; nil
	// makes Include an error.
	ReadFile func(path string) ([]byte, error)
}

// IsRuleFile reports whether a directory entry is loaded as rules.
func IsRuleFile(name string) bool {
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) && !IsFixtureFile(name)
}

// IsIgnoreFile reports whether a directory entry is loaded as an ignore list.
func IsIgnoreFile(name string) bool { return strings.HasSuffix(name, ".pignore") }

// IsFixtureFile reports whether a directory entry is a `ptrule test` fixture.
func IsFixtureFile(name string) bool { return strings.HasSuffix(name, "_test.yaml") }

// DirFiles returns the rule files and ignore lists of directory dir in fsys,
// in lexical order of their names; display prefixes the paths shown to users.
func DirFiles(fsys fs.FS, dir, display string) ([]File, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(IsRuleFile(name) || IsIgnoreFile(name)) {
			continue
		}
		p := path.Join(dir, name)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		out = append(out, File{
			Path: path.Join(display, name),
			Data: data,
			ReadFile: func(inc string) ([]byte, error) {
				// Includes resolve inside the same file system, relative
				// to dir as the displayed paths are relative to display.
				return fs.ReadFile(fsys, path.Join(dir, strings.TrimPrefix(strings.TrimPrefix(inc, display), "/")))
			},
		})
	}
	return out, nil
}

// RuleSet is every loaded rule, in load order, and the merged ignore list.
type RuleSet struct {
	Rules  []*Rule
	Ignore *IgnoreList
	// IgnoreProblems are the bad lines of the ignore lists (also among the
	// problems LoadRules returns). The rest of each list was kept, so a
	// daemon can log them and go on (contract §3).
	IgnoreProblems Problems
	byName         map[string]*Rule
}

// Rule returns the rule called name, or nil.
func (rs *RuleSet) Rule(name string) *Rule { return rs.byName[name] }

// LoadRules reads rule files and ignore lists in the order given (contract §1).
// A later rule with the name of an earlier one patches it. It returns every
// problem in every file at once, and a RuleSet of the rules that compiled,
// so that a daemon reloading a broken file can report it all.
func LoadRules(files []File) (*RuleSet, Problems) {
	var ps, ignorePs Problems
	ign := &IgnoreList{}
	var order []string
	drafts := map[string]*draft{}
	for _, f := range files {
		if IsIgnoreFile(f.Path) {
			l, lps := ParseIgnore(f.Path, f.Data, 1, f.ReadFile)
			ign.Append(l)
			ps = append(ps, lps...)
			ignorePs = append(ignorePs, lps...)
			continue
		}
		docs, fps := parseRuleFile(newSource(f.Path, f.Data))
		ps = append(ps, fps...)
		for _, d := range docs {
			if dr, ok := drafts[d.name]; ok {
				ps = append(ps, dr.patch(d)...)
				continue
			}
			if missing := d.missing(); len(missing) > 0 {
				if len(missing) == 3 {
					ps = append(ps, d.src.problem(d.nameNode, "patch of unknown rule %q: no rule of that name is loaded before this file (a new rule needs scope, condition and actions)", d.name))
				} else {
					ps = append(ps, d.src.problem(d.nameNode, "new rule %q needs %s", d.name, strings.Join(missing, " and ")))
				}
				continue
			}
			dr := &draft{name: d.name, origin: d.src.pos(d.nameNode), originSrc: d.src, fields: map[string]field{}, srcs: map[string]*source{}, params: map[string]param{}}
			ps = append(ps, dr.patch(d)...)
			drafts[d.name] = dr
			order = append(order, d.name)
		}
	}
	rs := &RuleSet{Ignore: ign, IgnoreProblems: ignorePs, byName: map[string]*Rule{}}
	for _, name := range order {
		r, rps := drafts[name].compile()
		ps = append(ps, rps...)
		if r != nil {
			rs.Rules = append(rs.Rules, r)
			rs.byName[name] = r
		}
	}
	return rs, ps
}

var ruleKeys = []string{"name", "description", "scope", "every", "params", "condition", "severity", "subject", "message", "actions", "enabled", "tags"}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ruleDoc is one entry of a rules list, not yet merged.
type ruleDoc struct {
	src      *source
	name     string
	nameNode *yaml.Node
	fields   []field
}

// missing lists the fields a new rule needs that the entry lacks; all
// three missing means the entry is meant as a patch.
func (d *ruleDoc) missing() []string {
	var out []string
	for _, k := range []string{"scope", "condition", "actions"} {
		if !slices.ContainsFunc(d.fields, func(f field) bool { return f.key == k }) {
			out = append(out, k)
		}
	}
	return out
}

func parseRuleFile(src *source) ([]*ruleDoc, Problems) {
	var ps Problems
	root, p := src.parseYAML()
	if p != nil {
		return nil, Problems{p}
	}
	if root == nil {
		return nil, nil
	}
	var docs []*ruleDoc
	seen := map[string]bool{}
	for _, top := range src.mapping(root, "a rule file", []string{"rules"}, &ps) {
		if top.value.Kind != yaml.SequenceNode {
			if !isNull(top.value) {
				ps = append(ps, src.problem(top.value, "rules must be a list of rules"))
			}
			continue
		}
		for _, item := range top.value.Content {
			fields := src.mapping(item, "a rule", ruleKeys, &ps)
			if fields == nil {
				continue
			}
			d := &ruleDoc{src: src}
			for _, f := range fields {
				if f.key == "name" {
					d.nameNode = f.value
					d.name, _ = src.str(f.value, "name", &ps)
					continue
				}
				d.fields = append(d.fields, f)
			}
			switch {
			case d.nameNode == nil:
				ps = append(ps, src.problem(item, "a rule needs a name"))
				continue
			case !namePattern.MatchString(d.name):
				ps = append(ps, src.problem(d.nameNode, "bad rule name %q: use lower case letters, digits, '-', '_' or '.'", d.name))
				continue
			case seen[d.name]:
				ps = append(ps, src.problem(d.nameNode, "duplicate rule name %q in this file", d.name))
				continue
			}
			seen[d.name] = true
			docs = append(docs, d)
		}
	}
	return docs, ps
}

// param is one param's current value and where it was set.
type param struct {
	value any
	src   *source
	node  *yaml.Node
}

// draft is a rule being assembled from its definition and patches.
type draft struct {
	name   string
	origin Pos
	// originSrc is the file of the definition, quoted by problems of the
	// whole rule.
	originSrc *source
	defined   bool
	patches   []Pos
	fields    map[string]field
	srcs      map[string]*source
	params    map[string]param
	porder    []string
}

// patch applies a definition or patch: each field given replaces the
// earlier one; params merge key by key and keep their type.
func (dr *draft) patch(d *ruleDoc) Problems {
	var ps Problems
	isPatch := dr.defined
	if isPatch {
		dr.patches = append(dr.patches, d.src.pos(d.nameNode))
	}
	dr.defined = true
	for _, f := range d.fields {
		if f.key != "params" {
			dr.fields[f.key] = f
			dr.srcs[f.key] = d.src
			continue
		}
		for _, pf := range d.src.mapping(f.value, "params", nil, &ps) {
			v, ok := paramValue(d.src, pf.value, &ps)
			if !ok {
				continue
			}
			old, exists := dr.params[pf.key]
			if !exists {
				if isPatch {
					ps = append(ps, d.src.problem(pf.kNode, "rule %q has no param %q (it has: %s)", dr.name, pf.key, strings.Join(dr.porder, ", ")))
					continue
				}
				dr.porder = append(dr.porder, pf.key)
				dr.params[pf.key] = param{value: v, src: d.src, node: pf.value}
				continue
			}
			conv, ok := convertParam(old.value, v)
			if !ok {
				ps = append(ps, d.src.problem(pf.value, "param %q of rule %q is %s (default %s at %s), not %s", pf.key, dr.name, typeName(old.value), yamlText(old.value), old.src.pos(old.node), typeName(v)))
				continue
			}
			dr.params[pf.key] = param{value: conv, src: d.src, node: pf.value}
		}
	}
	return ps
}

// paramValue converts a YAML value into bool, int64, float64, string or a
// list of those.
func paramValue(src *source, n *yaml.Node, ps *Problems) (any, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			var b bool
			return b, n.Decode(&b) == nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				*ps = append(*ps, src.problem(n, "bad integer %q", n.Value))
				return nil, false
			}
			return i, true
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				*ps = append(*ps, src.problem(n, "bad number %q", n.Value))
				return nil, false
			}
			return f, true
		case "!!str":
			return n.Value, true
		case "!!null":
			*ps = append(*ps, src.problem(n, "a param needs a value; write \"\" for an empty string"))
			return nil, false
		}
	case yaml.SequenceNode:
		out := []any{}
		for _, e := range n.Content {
			v, ok := paramValue(src, e, ps)
			if !ok {
				return nil, false
			}
			if _, isList := v.([]any); isList {
				*ps = append(*ps, src.problem(e, "a param list holds plain values, not lists"))
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	*ps = append(*ps, src.problem(n, "a param must be a string, number, boolean or list of those"))
	return nil, false
}

// convertParam checks that v may replace a param whose default is old.
func convertParam(old, v any) (any, bool) {
	switch old.(type) {
	case float64:
		switch v := v.(type) {
		case float64:
			return v, true
		case int64:
			return float64(v), true
		}
		return nil, false
	case []any:
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		// A list keeps the type of the default's elements.
		if def := old.([]any); len(def) > 0 {
			out := make([]any, len(list))
			for i, e := range list {
				if out[i], ok = convertParam(def[0], e); !ok {
					return nil, false
				}
			}
			return out, true
		}
		return list, true
	}
	if fmt.Sprintf("%T", old) != fmt.Sprintf("%T", v) {
		return nil, false
	}
	return v, true
}

func typeName(v any) string {
	switch list := v.(type) {
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		if len(list) == 0 {
			return "a list"
		}
		return "a list of " + map[string]string{
			"a boolean": "booleans", "an integer": "integers", "a number": "numbers", "a string": "strings",
		}[typeName(list[0])]
	}
	return fmt.Sprintf("%T", v)
}

func yamlText(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

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
	r.readsSockets = dr.mentions("connections", "listening")
	if len(r.Actions) == 0 && len(ps) == 0 {
		ps = append(ps, dr.originSrc.problemAt(r.Origin, "rule %q has no actions: give at least one of alert, kill, run, suppress", r.Name))
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return r, nil
}

// mentions reports whether any field of the rule contains one of words.
// It errs on the side of yes: a mention in a description costs only a
// socket walk.
func (dr *draft) mentions(words ...string) bool {
	for _, f := range dr.fields {
		var b strings.Builder
		_ = yaml.NewEncoder(&b).Encode(f.value)
		for _, w := range words {
			if strings.Contains(b.String(), w) {
				return true
			}
		}
	}
	return false
}

// compiler compiles the expressions and templates of one rule.
type compiler struct {
	env *cel.Env
	ps  *Problems
	// scope and params are what templates are checked against.
	scope  Scope
	params map[string]any
}

// cel compiles an expression and checks its result type. Errors point into
// the YAML file.
func (c *compiler) cel(t text, want *cel.Type) *program {
	ast, iss := c.env.CompileSource(common.NewTextSource(t.body))
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

var actionKeys = map[ActionKind][]string{
	ActAlert:    {"channels", "subject", "message", "if"},
	ActKill:     {"signal", "target", "grace", "allow_root", "if"},
	ActRun:      {"command", "args", "timeout", "if"},
	ActSuppress: {"for", "key", "if"},
}

func (c *compiler) actions(src *source, n *yaml.Node, scope Scope) []*ActionSpec {
	if n.Kind != yaml.SequenceNode {
		*c.ps = append(*c.ps, src.problem(n, "actions must be a list, like [alert: {}, suppress: {for: 1h}]"))
		return nil
	}
	var out []*ActionSpec
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			*c.ps = append(*c.ps, src.problem(item, "each action is a one-key map: alert, kill, run or suppress"))
			continue
		}
		kn, body := item.Content[0], item.Content[1]
		kind := ActionKind(kn.Value)
		keys, ok := actionKeys[kind]
		if !ok {
			*c.ps = append(*c.ps, src.problem(kn, "unknown action %q: use alert, kill, run or suppress", kn.Value))
			continue
		}
		a := &ActionSpec{Kind: kind, Pos: src.pos(kn)}
		var fields []field
		if !isNull(body) {
			fields = src.mapping(body, string(kind)+" action", keys, c.ps)
		}
		set := map[string]*yaml.Node{}
		for _, f := range fields {
			set[f.key] = f.value
		}
		if v := set["if"]; v != nil {
			if s, good := src.str(v, "if", c.ps); good {
				a.If = s
				a.ifProg = c.cel(src.text(v), cel.BoolType)
			}
		}
		switch kind {
		case ActAlert:
			if v := set["channels"]; v != nil {
				a.Channels, _ = src.strList(v, "channels", c.ps)
			}
			if v := set["subject"]; v != nil {
				a.subject = c.template(src, v, "subject")
			}
			if v := set["message"]; v != nil {
				a.message = c.template(src, v, "message")
			}
		case ActKill:
			c.kill(src, a, set, kn, scope)
		case ActRun:
			c.run(src, a, set, kn)
		case ActSuppress:
			c.suppress(src, a, set, kn)
		}
		out = append(out, a)
	}
	return out
}

func (c *compiler) kill(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node, scope Scope) {
	a.Signal, a.SignalName = int(unix.SIGKILL), "KILL"
	if v := set["signal"]; v != nil {
		if s, ok := src.str(v, "signal", c.ps); ok {
			num, name, good := parseSignal(s)
			if !good {
				*c.ps = append(*c.ps, src.problem(v, "unknown signal %q: use a name such as TERM, KILL, HUP or a number 1-64", s))
			}
			a.Signal, a.SignalName = num, name
		}
	}
	defaults := map[Scope]KillTarget{ScopeProcess: TargetProcess, ScopeUser: TargetUser, ScopeSession: TargetSession}
	allowed := map[Scope][]KillTarget{
		ScopeProcess: {TargetProcess, TargetGroup, TargetSession, TargetUser},
		ScopeUser:    {TargetUser},
		ScopeSession: {TargetSession, TargetGroup},
	}
	a.Target = defaults[scope]
	if v := set["target"]; v != nil {
		if s, ok := src.str(v, "target", c.ps); ok {
			a.Target = KillTarget(s)
			if !slices.Contains(allowed[scope], a.Target) {
				*c.ps = append(*c.ps, src.problem(v, "kill target %q does not fit a %s-scope rule (use: %s)", s, scope, targetList(allowed[scope])))
			}
		}
	} else if scope == ScopeHost {
		*c.ps = append(*c.ps, src.problem(kn, "a host-scope rule has no process to kill"))
	}
	if v := set["grace"]; v != nil {
		a.Grace, _ = src.duration(v, "grace", c.ps)
		if a.Signal == int(unix.SIGKILL) && a.Grace > 0 {
			*c.ps = append(*c.ps, src.problem(v, "grace only makes sense with a catchable signal such as TERM: KILL cannot be waited out"))
		}
	}
	if v := set["allow_root"]; v != nil {
		a.AllowRoot, _ = src.boolean(v, "allow_root", c.ps)
		if a.Target != TargetUser {
			*c.ps = append(*c.ps, src.problem(v, "allow_root only applies to target: user (it lets the kill reach the processes of root); kill target here is %s", a.Target))
		}
	}
}

func targetList(list []KillTarget) string {
	s := make([]string, len(list))
	for i, t := range list {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// parseSignal reads KILL, SIGKILL, kill or 9.
func parseSignal(s string) (int, string, bool) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 1 || n > 64 {
			return 0, "", false
		}
		name := strings.TrimPrefix(unix.SignalName(unix.Signal(n)), "SIG")
		if name == "" {
			name = s
		}
		return n, name, true
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	sig := unix.SignalNum(up)
	if sig == 0 {
		return 0, "", false
	}
	return int(sig), strings.TrimPrefix(up, "SIG"), true
}

func (c *compiler) run(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node) {
	a.Timeout = DefaultRunTimeout
	v := set["command"]
	if v == nil {
		*c.ps = append(*c.ps, src.problem(kn, "run needs a command: an absolute path such as /usr/local/bin/notify-admin"))
		return
	}
	if s, ok := src.str(v, "command", c.ps); ok {
		a.Command = s
		if !strings.Contains(s, "{{") && !strings.HasPrefix(s, "/") {
			*c.ps = append(*c.ps, src.problem(v, "run command %q must be an absolute path: ptrule runs programs directly, without a shell or PATH search", s))
		}
		a.command = c.template(src, v, "command")
	}
	var argNodes []*yaml.Node
	if v := set["args"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			*c.ps = append(*c.ps, src.problem(v, "args must be a list of strings"))
		} else {
			for _, e := range v.Content {
				if s, ok := src.str(e, "args entry", c.ps); ok {
					a.Args = append(a.Args, s)
					a.args = append(a.args, c.template(src, e, "args"))
					argNodes = append(argNodes, e)
				}
			}
		}
	}
	if v := set["command"]; v != nil && a.command != nil {
		c.refuseInjection(src, a, v, argNodes)
	}
	if v := set["timeout"]; v != nil {
		if d, ok := src.duration(v, "timeout", c.ps); ok {
			if d <= 0 {
				*c.ps = append(*c.ps, src.problem(v, "timeout must be longer than 0s"))
			}
			a.Timeout = d
		}
	}
}

// refuseInjection refuses a run action that lets a process choose what
// runs as root: a command taken from process facts, or an interpreter (a
// shell's -c, perl -e, env, ...) handed text a process controls, such as
// its command line. Facts reach a program safely in its PTRULE_*
// environment.
func (c *compiler) refuseInjection(src *source, a *ActionSpec, cmdNode *yaml.Node, argNodes []*yaml.Node) {
	if out := ControlledOutput(a.command); out != "" {
		*c.ps = append(*c.ps, src.problem(cmdNode, "run command takes %s, which a process controls, so a process could choose what ptrule runs as root: name the program itself, such as /usr/local/sbin/notify-admin, and read facts from its PTRULE_* environment", out))
		return
	}
	program := a.Command
	if strings.Contains(program, "{{") {
		// A command built from params is known now; one built from other
		// facts counts as an interpreter, since it is known only when it
		// runs.
		s, err := execute(a.command, NoEnricher{}, map[string]any{"params": c.params}, MaxRunArg)
		if err == nil && !IsInterpreter(s) {
			return
		}
		program = s
		if err != nil {
			program = "a program known only when the rule fires, which may be an interpreter,"
		}
	} else if !IsInterpreter(program) {
		return
	}
	for i, t := range a.args {
		if out := ControlledOutput(t); out != "" {
			*c.ps = append(*c.ps, src.problem(argNodes[i], "run: %s runs its arguments as code or as another command, and this argument hands it %s, which a process controls: a process could make ptrule run commands of its choosing as root. Pass the fact in the environment instead: the program gets PTRULE_CMD, PTRULE_EXE, PTRULE_USER, PTRULE_PID and the other PTRULE_* variables (in a script, \"$PTRULE_CMD\")", program, out))
		}
	}
}

func (c *compiler) suppress(src *source, a *ActionSpec, set map[string]*yaml.Node, kn *yaml.Node) {
	v := set["for"]
	if v == nil {
		*c.ps = append(*c.ps, src.problem(kn, "suppress needs for: a duration such as 1h, or a CEL duration such as duration(params.repeat)"))
	} else if s, ok := src.str(v, "for", c.ps); ok {
		if d, err := time.ParseDuration(s); err == nil {
			if d < 0 {
				*c.ps = append(*c.ps, src.problem(v, "suppress for must not be negative"))
			}
			a.For = d
		} else {
			a.ForCEL = s
			a.forProg = c.cel(src.text(v), cel.DurationType)
		}
	}
	if v := set["key"]; v != nil {
		if s, ok := src.str(v, "key", c.ps); ok {
			a.Key = s
			a.keyProg = c.cel(src.text(v), cel.StringType)
		}
	}
}
