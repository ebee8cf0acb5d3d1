package engine

import (
	"text/template"
	"text/template/parse"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// Facts is a set of the process facts that cost a collection work of
// their own, so that a collection for rules that do not read them can
// skip it. The zero value needs none.
type Facts uint8

const (
	// FactSockets are proc.connections and proc.listening: reading them
	// walks every process's fds and the /proc/net tables.
	FactSockets Facts = 1 << iota
)

// Has reports whether f holds every fact of g.
func (f Facts) Has(g Facts) bool { return f&g == g }

// Needs returns the costly facts the rule reads: in its condition, its
// actions' if, for and key, and its templates (subject, message, alert
// overrides, run command and args). It is read from the type-checked
// expressions and the templates' parse trees, not from the rule's text, so
// a word in a description costs nothing, and it errs on the side of yes
// where the code cannot tell (a process handed whole to a function, say).
func (r *Rule) Needs() Facts { return r.needs }

// Needs returns the facts that the enabled rules for which due returns
// true (all of them when due is nil) read, for the collection that feeds
// their evaluation.
func (rs *RuleSet) Needs(due func(*Rule) bool) Facts {
	var f Facts
	for _, r := range rs.Rules {
		if r.Enabled && (due == nil || due(r)) {
			f |= r.needs
		}
	}
	return f
}

// socketFields are the Process fields that FactSockets fills.
var socketFields = map[string]bool{"connections": true, "listening": true}

// exprNeeds returns the costly facts a checked expression reads. A field
// is read through a select (proc.connections, has(proc.listening)) or an
// optional select (proc.?connections) on a value that is or may be a
// process: of type Process, dyn, or an optional of either. A value that
// holds a process used whole, other than to reach a field (compared, given
// to a function, or the expression's result), counts as reading every
// fact.
func exprNeeds(ast *cel.Ast) Facts {
	native := ast.NativeRep()
	var f Facts
	for _, e := range celast.MatchDescendants(celast.NavigateAST(native), celast.AllMatcher()) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if socketFields[sel.FieldName()] && mayBeProcess(native.GetType(sel.Operand().ID())) {
				f |= FactSockets
			}
		case celast.CallKind:
			call := e.AsCall()
			if args := call.Args(); call.FunctionName() == operators.OptSelect && len(args) == 2 {
				field, _ := args[1].AsLiteral().Value().(string)
				if socketFields[field] && mayBeProcess(native.GetType(args[0].ID())) {
					f |= FactSockets
				}
			}
		}
		if holdsProcessType(e.Type()) && usedWhole(e) {
			f |= FactSockets
		}
	}
	return f
}

// usedWhole reports whether the value of e, which holds a process, is
// used other than to reach one of its fields or to build a value that
// holds it in turn (a list, a map, an element picked by index, a
// comprehension's range), which is judged where it is used.
func usedWhole(e celast.NavigableExpr) bool {
	parent, ok := e.Parent()
	if !ok {
		return true // the expression's result
	}
	switch parent.Kind() {
	case celast.SelectKind, celast.ListKind, celast.MapKind, celast.StructKind, celast.ComprehensionKind:
		return false
	case celast.CallKind:
		switch parent.AsCall().FunctionName() {
		case operators.OptSelect, operators.Index, operators.OptIndex:
			return false
		case "dyn":
			// dyn(proc) only hides the type: what matters is what is
			// done with it.
			return usedWhole(parent)
		}
	}
	return true
}

// holdsProcessType reports whether a value of type t is a process or
// holds one: a list, map or optional of processes.
func holdsProcessType(t *types.Type) bool {
	if t == nil {
		return false
	}
	if isProcess(t) {
		return true
	}
	switch t.Kind() {
	case types.ListKind, types.MapKind, types.OpaqueKind:
		for _, p := range t.Parameters() {
			if holdsProcessType(p) {
				return true
			}
		}
	}
	return false
}

// isProcess reports whether t is the Process type.
func isProcess(t *types.Type) bool {
	return t != nil && t.Kind() == types.StructKind && t.TypeName() == typeProcess
}

// mayBeProcess reports whether a value of type t may be a process: it is
// one, or its type is not known before evaluation.
func mayBeProcess(t *types.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case types.DynKind, types.AnyKind:
		return true
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return mayBeProcess(t.Parameters()[0])
		}
	}
	return isProcess(t)
}

// templateNeeds returns the costly facts templates read. A template reads
// the sockets when it names connections or listening (as a field, a
// variable's field, or a string given to index), and when it prints, or
// hands a function other than len, index or slice, a value that holds
// them whole: a process ({{.proc}}, {{.}} in a range over .user.procs, a
// variable bound to one), a process list, the user or session aggregate
// (which carries its process list), or the whole data. Text outside
// actions does not count.
func templateNeeds(ts ...*template.Template) Facts {
	w := &templateWalker{vars: map[string]holder{}}
	eachTree(ts, func(root *parse.ListNode) {
		// A template's dot is the whole data; a defined template's may
		// be anything, so it is taken to be the whole data too.
		w.list(root, holdsAll)
	})
	return w.f
}

// holder says what of the facts a template value holds whole.
type holder uint8

const (
	// holdsNone is a value that holds no process whole: a number, a
	// string, a list of strings.
	holdsNone holder = iota
	// holdsProcess is a process, a list of them, or a value that carries
	// a list of them.
	holdsProcess
	// holdsAll is the template's whole data.
	holdsAll
)

// processValues name the template data that hold processes whole.
var processValues = map[string]bool{"proc": true, "procs": true, "exe_procs": true}

// aggregateValues name the top-level data that carry a process list when
// the template reads one.
var aggregateValues = map[string]bool{"user": true, "session": true}

// navigating are the template functions that pick from a value without
// reading what it holds.
var navigating = map[string]bool{"len": true, "index": true, "slice": true}

// templateWalker collects what a template tree reads. vars says what the
// template's variables hold.
type templateWalker struct {
	f    Facts
	vars map[string]holder
}

// list walks a list of nodes whose dot holds dot.
func (w *templateWalker) list(l *parse.ListNode, dot holder) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		w.node(n, dot)
	}
}

func (w *templateWalker) node(n parse.Node, dot holder) {
	switch n := n.(type) {
	case *parse.ActionNode:
		w.pipe(n.Pipe, dot, len(n.Pipe.Decl) == 0)
		w.declare(n.Pipe.Decl, w.value(n.Pipe, dot))
	case *parse.IfNode:
		w.pipe(n.Pipe, dot, false)
		w.list(n.List, dot)
		w.list(n.ElseList, dot)
	case *parse.RangeNode:
		w.pipe(n.Pipe, dot, false)
		elem := min(w.value(n.Pipe, dot), holdsProcess)
		if d := n.Pipe.Decl; len(d) > 0 {
			// {{range $i, $p := ...}}: the last variable is the element.
			w.declare(d[:len(d)-1], holdsNone)
			w.declare(d[len(d)-1:], elem)
		}
		w.list(n.List, elem)
		w.list(n.ElseList, dot)
	case *parse.WithNode:
		w.pipe(n.Pipe, dot, false)
		val := w.value(n.Pipe, dot)
		w.declare(n.Pipe.Decl, val)
		w.list(n.List, val)
		w.list(n.ElseList, dot)
	case *parse.TemplateNode:
		// The defined template is walked on its own.
		w.pipe(n.Pipe, dot, false)
	case *parse.ListNode:
		w.list(n, dot)
	}
}

func (w *templateWalker) declare(vars []*parse.VariableNode, h holder) {
	for _, v := range vars {
		w.vars[v.Ident[0]] = h
	}
}

// pipe walks a pipeline. A value is read whole when it is printed (the
// pipeline's value, and its operands, when printed is set) and when it is
// handed to a function: as an argument, or as the result of a command
// piped into the next.
func (w *templateWalker) pipe(p *parse.PipeNode, dot holder, printed bool) {
	if p == nil {
		return
	}
	for i, c := range p.Cmds {
		fn, isFunc := c.Args[0].(*parse.IdentifierNode)
		for j, a := range c.Args {
			w.idents(a, dot)
			if isFunc && j == 0 {
				continue
			}
			read := printed || isFunc
			if isFunc && navigating[fn.Ident] {
				read = false
			}
			if read && w.operand(a, dot) != holdsNone {
				w.f |= FactSockets
			}
		}
		if i+1 < len(p.Cmds) {
			next, ok := p.Cmds[i+1].Args[0].(*parse.IdentifierNode)
			if !(ok && navigating[next.Ident]) && w.command(c, dot) != holdsNone {
				w.f |= FactSockets
			}
		}
	}
	if printed && w.value(p, dot) != holdsNone {
		w.f |= FactSockets
	}
}

// idents notes the sockets named in an operand, and walks the pipelines
// nested in it.
func (w *templateWalker) idents(n parse.Node, dot holder) {
	var names []string
	switch n := n.(type) {
	case *parse.FieldNode:
		names = n.Ident
	case *parse.VariableNode:
		names = n.Ident
	case *parse.ChainNode:
		names = n.Field
		w.idents(n.Node, dot)
	case *parse.StringNode:
		names = []string{n.Text}
	case *parse.PipeNode:
		w.pipe(n, dot, false)
	}
	for _, id := range names {
		if socketFields[id] {
			w.f |= FactSockets
		}
	}
}

// value says what a pipeline's value holds.
func (w *templateWalker) value(p *parse.PipeNode, dot holder) holder {
	if p == nil || len(p.Cmds) == 0 {
		return holdsNone
	}
	return w.command(p.Cmds[len(p.Cmds)-1], dot)
}

// command says what a command's value holds. A function's result holds
// nothing whole, but for index and slice, which give a part of their
// first argument (or the argument itself).
func (w *templateWalker) command(c *parse.CommandNode, dot holder) holder {
	args := c.Args
	if fn, ok := args[0].(*parse.IdentifierNode); ok {
		// index and slice give a part of their first argument.
		if (fn.Ident == "index" || fn.Ident == "slice") && len(args) > 1 {
			return min(w.operand(args[1], dot), holdsProcess)
		}
		return holdsNone
	}
	if len(args) != 1 {
		return holdsNone
	}
	return w.operand(args[0], dot)
}

// operand says what an operand holds.
func (w *templateWalker) operand(n parse.Node, dot holder) holder {
	// fields says what a chain of field names from a value holding from
	// leads to.
	fields := func(from holder, names []string) holder {
		if len(names) == 0 {
			return from
		}
		last := names[len(names)-1]
		switch {
		case processValues[last]:
			return holdsProcess
		case from == holdsAll && len(names) == 1 && aggregateValues[last]:
			return holdsProcess
		}
		return holdsNone
	}
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return fields(dot, n.Ident)
	case *parse.VariableNode:
		from := holdsAll // $
		if n.Ident[0] != "$" {
			from = w.vars[n.Ident[0]]
		}
		return fields(from, n.Ident[1:])
	case *parse.ChainNode:
		return fields(w.operand(n.Node, dot), n.Field)
	case *parse.PipeNode:
		return w.value(n, dot)
	}
	return holdsNone
}
