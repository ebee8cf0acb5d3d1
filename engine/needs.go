package engine

import (
	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// Needs returns the facts that the rule's expressions (its condition and
// its actions' if, for and key) may read where lazy field access does not
// see it: through a value whose type is not known when the expression is
// checked (dyn(proc).cmd), or by using a process, user or session whole
// (compared, handed to a function). The evaluation reads them for every
// process before the rule runs. It is read from the type-checked
// expressions, not from the rule's text, and errs on the side of yes where
// the code cannot tell. Templates need nothing: rendering reads every fact
// of what it shows.
func (r *Rule) Needs() Facts { return r.needs }

// Needs returns the facts that the enabled rules for which due returns
// true (all of them when due is nil) need read beforehand (Rule.Needs).
func (rs *RuleSet) Needs(due func(*Rule) bool) Facts {
	var f Facts
	for _, r := range rs.Rules {
		if r.Enabled && (due == nil || due(r)) {
			f |= r.needs
		}
	}
	return f
}

// fieldFacts returns the facts behind the field name of a value whose type
// is not known before evaluation: those of a lazy field of any of the
// types it may be.
func fieldFacts(name string) Facts {
	f := processFieldFacts[name]
	if aggregateFields[name] {
		f |= FactAggregates
	}
	return f
}

// exprNeeds returns the facts a checked expression reads out of sight of
// lazy field access. A field is read out of sight through a select
// (dyn(proc).cmd, has(...)) or an optional select (x.?cmd) on a value whose
// type is dyn, or an optional of dyn: the field then reaches the Go struct
// directly. A value that holds a process, user or session used whole,
// other than to reach a field (compared, given to a function, or the
// expression's result), counts as reading every fact.
func exprNeeds(ast *cel.Ast) Facts {
	native := ast.NativeRep()
	var f Facts
	for _, e := range celast.MatchDescendants(celast.NavigateAST(native), celast.AllMatcher()) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if isUntyped(native.GetType(sel.Operand().ID())) {
				f |= fieldFacts(sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			if args := call.Args(); call.FunctionName() == operators.OptSelect && len(args) == 2 {
				field, _ := args[1].AsLiteral().Value().(string)
				if isUntyped(native.GetType(args[0].ID())) {
					f |= fieldFacts(field)
				}
			}
		}
		if holdsLazyType(e.Type()) && usedWhole(e) {
			f |= FactAll
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

// holdsLazyType reports whether a value of type t is a process, user or
// session, or holds one: a list, map or optional of them.
func holdsLazyType(t *types.Type) bool {
	if t == nil {
		return false
	}
	if isLazyType(t) {
		return true
	}
	switch t.Kind() {
	case types.ListKind, types.MapKind, types.OpaqueKind:
		for _, p := range t.Parameters() {
			if holdsLazyType(p) {
				return true
			}
		}
	}
	return false
}

// isLazyType reports whether t is Process, User or Session, the types
// with fields read on first use.
func isLazyType(t *types.Type) bool {
	if t == nil || t.Kind() != types.StructKind {
		return false
	}
	switch t.TypeName() {
	case typeProcess, typeUser, typeSession:
		return true
	}
	return false
}

// isUntyped reports whether the type t of a value is not known before
// evaluation: dyn, any, an optional of either, or missing.
func isUntyped(t *types.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case types.DynKind, types.AnyKind:
		return true
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return isUntyped(t.Parameters()[0])
		}
	}
	return false
}
