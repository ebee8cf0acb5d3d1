package engine

import (
	"path"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// interpreterNames are the base names of programs that run text they are
// given as code, or start another program named in their arguments:
// shells, language interpreters and launchers. IsInterpreter also takes
// them with a trailing version (python3.12, perl5.36, lua5.4).
//
// A set and a loop over the version, not the regular expression
// ^(sh|bash|...)[0-9.]*$ this once was: compiling that expression cost
// every ptrule command about a millisecond at start (issue 12).
// TestIsInterpreterMatchesPattern and FuzzIsInterpreter hold the two to
// the same answers.
var interpreterNames = interpreterSet()

func interpreterSet() map[string]bool {
	set := map[string]bool{}
	for _, group := range []string{
		// shells
		"sh bash dash zsh ksh ksh93 mksh pdksh ash csh tcsh fish rc yash posh busybox toybox",
		// interpreters
		"perl python pypy ruby irb php php-cgi node nodejs deno bun lua luajit tclsh wish expect " +
			"awk gawk mawk nawk sed gsed m4 make gdb jq pwsh powershell rscript julia guile racket " +
			"java jshell groovy scala erl escript elixir vim vi nvim ex emacs ed",
		// launchers
		"env xargs su sudo doas runuser setpriv nohup nice ionice chrt taskset timeout stdbuf " +
			"setsid chroot unshare nsenter flock time watch script ssh systemd-run at batch find " +
			"parallel tmux screen strace ltrace valgrind exec eval command builtin",
	} {
		for _, n := range strings.Fields(group) {
			set[n] = true
		}
	}
	return set
}

// IsInterpreter reports whether the program at command (an absolute path)
// runs its arguments as code or as another command line: handing it text a
// process controls would let that process choose what ptrule runs as root.
func IsInterpreter(command string) bool {
	name := strings.ToLower(path.Base(command))
	// The name is one of interpreterNames followed by a version of digits
	// and dots: the version starts at or after the last character that is
	// neither.
	v := len(name)
	for v > 0 && (name[v-1] == '.' || name[v-1] >= '0' && name[v-1] <= '9') {
		v--
	}
	for end := v; end <= len(name); end++ {
		if interpreterNames[name[:end]] {
			return true
		}
	}
	return false
}

// tplType is what a value in a template is, as far as the static check
// can tell.
type tplType struct {
	// t is the Go type of a fact; nil with none of the flags below means
	// the type is unknown, which counts as process-controlled.
	t reflect.Type
	// root is the template data itself: every fact.
	root bool
	// admin is text the administrator wrote: params and the rule's own
	// fields. Everything under it is safe.
	admin bool
	// plain is a value known to hold no process-controlled text: a
	// number, a boolean, a result computed from safe values.
	plain bool
}

var (
	typeAdmin   = tplType{admin: true}
	typePlain   = tplType{plain: true}
	typeUnknown = tplType{}
)

// rootFacts are the top-level keys of the template data (templateData)
// and what each holds.
var rootFacts = map[string]tplType{
	"proc":      {t: reflect.TypeFor[Process]()},
	"exe_procs": {t: reflect.TypeFor[[]Process]()},
	"user":      {t: reflect.TypeFor[User]()},
	"session":   {t: reflect.TypeFor[Session]()},
	"host":      {t: reflect.TypeFor[Host]()},
	"load":      {t: reflect.TypeFor[Load]()},
	"now":       {t: reflect.TypeFor[time.Time]()},
	"ignored":   typePlain,
	"key":       {t: reflect.TypeFor[string]()},
	"params":    typeAdmin,
	"rule":      typeAdmin,
}

// field is the type of x.name.
func (x tplType) field(name string) tplType {
	switch {
	case x.admin:
		return typeAdmin
	case x.root:
		if t, ok := rootFacts[name]; ok {
			return t
		}
		return typeUnknown
	case x.t == nil:
		return typeUnknown
	case x.t.Kind() == reflect.Struct:
		if name == "procs" && (x.t == reflect.TypeFor[User]() || x.t == reflect.TypeFor[Session]()) {
			return tplType{t: reflect.TypeFor[[]Process]()}
		}
		for i := 0; i < x.t.NumField(); i++ {
			if f := x.t.Field(i); f.Tag.Get("cel") == name {
				return tplType{t: f.Type}
			}
		}
	}
	return typeUnknown
}

// elem is the type of an element of x, as range and index see it.
func (x tplType) elem() tplType {
	switch {
	case x.admin, x.plain:
		return x
	case x.t != nil && x.t.Kind() == reflect.Slice:
		return tplType{t: x.t.Elem()}
	}
	return typeUnknown
}

// controlled reports whether x may hold text a process chose.
func (x tplType) controlled() bool {
	switch {
	case x.admin, x.plain:
		return false
	case x.root || x.t == nil:
		return true
	}
	return holdsText(x.t)
}

// holdsText reports whether a fact type holds a string anywhere.
func holdsText(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[time.Duration]():
		return false
	}
	switch t.Kind() {
	case reflect.String:
		return true
	case reflect.Slice, reflect.Array, reflect.Pointer:
		return holdsText(t.Elem())
	case reflect.Map:
		return true
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Tag.Get("cel") != "" && f.Tag.Get("cel") != "-" && holdsText(f.Type) {
				return true
			}
		}
	}
	return false
}

// controlledFuncs return text read from the host about processes.
var controlledFuncs = map[string]bool{"files": true, "maps": true, "ps": true, "netstat": true, "fetch": true}

// plainFuncs return a boolean, a number or a formatted number, whatever
// their arguments.
var plainFuncs = map[string]bool{
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true, "not": true,
	"len": true, "size": true, "dur": true, "bytes": true, "duration": true,
}

// taint walks a template to find the first process-controlled value it
// prints.
type taint struct {
	vars map[string]tplType
	// found describes the first controlled value printed, "" if none.
	found string
}

// ControlledOutput returns the first place where tpl prints text that a
// process controls, such as "{{.proc.cmd}}", or "" when everything it
// prints is a number or comes from the rule itself (params, rule name).
// It errs on the side of reporting: a value it cannot type counts.
func ControlledOutput(tpl *template.Template) string {
	if tpl == nil || tpl.Tree == nil {
		return ""
	}
	w := &taint{vars: map[string]tplType{"$": {root: true}}}
	w.list(tpl.Tree.Root, tplType{root: true})
	return w.found
}

func (w *taint) report(n parse.Node, x tplType) {
	if w.found == "" && x.controlled() {
		w.found = n.String()
	}
}

func (w *taint) list(l *parse.ListNode, dot tplType) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		w.node(n, dot)
	}
}

func (w *taint) node(n parse.Node, dot tplType) {
	switch n := n.(type) {
	case *parse.ActionNode:
		x := w.pipe(n.Pipe, dot)
		if len(n.Pipe.Decl) == 0 {
			w.report(n, x)
		}
	case *parse.IfNode:
		w.pipe(n.Pipe, dot)
		w.list(n.List, dot)
		w.list(n.ElseList, dot)
	case *parse.WithNode:
		x := w.pipe(n.Pipe, dot)
		w.list(n.List, x)
		w.list(n.ElseList, dot)
	case *parse.RangeNode:
		// range declares its variables as the index and the element,
		// not as the pipeline's value.
		x := w.value(n.Pipe, dot)
		elem := x.elem()
		switch len(n.Pipe.Decl) {
		case 1:
			w.declare(n.Pipe.Decl[0].Ident[0], elem)
		case 2:
			w.declare(n.Pipe.Decl[0].Ident[0], typePlain)
			w.declare(n.Pipe.Decl[1].Ident[0], elem)
		}
		w.list(n.List, elem)
		w.list(n.ElseList, dot)
	case *parse.TemplateNode:
		// The called template prints what it is given; with nothing
		// given it sees no facts.
		if n.Pipe != nil {
			w.report(n, w.pipe(n.Pipe, dot))
		}
	case *parse.ListNode:
		w.list(n, dot)
	}
}

// declare records a variable's type. A name declared again keeps the
// worse of its types, since the check does not follow variable scopes.
func (w *taint) declare(name string, x tplType) {
	if old, ok := w.vars[name]; ok && old.controlled() {
		return
	}
	w.vars[name] = x
}

// pipe returns the type of a pipeline's result and records its variables.
func (w *taint) pipe(p *parse.PipeNode, dot tplType) tplType {
	x := w.value(p, dot)
	if p == nil {
		return x
	}
	for _, d := range p.Decl {
		w.declare(d.Ident[0], x)
	}
	return x
}

// value returns the type of a pipeline's result.
func (w *taint) value(p *parse.PipeNode, dot tplType) tplType {
	if p == nil {
		return typePlain
	}
	x := typePlain
	for i, c := range p.Cmds {
		var prev *tplType
		if i > 0 {
			prev = &x // the previous command's result is the last argument
		}
		x = w.command(c, dot, prev)
	}
	return x
}

// command returns the type of one command of a pipeline; prev is the
// result piped into it.
func (w *taint) command(c *parse.CommandNode, dot tplType, prev *tplType) tplType {
	if len(c.Args) == 0 {
		return typePlain
	}
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
		if controlledFuncs[id.Ident] {
			return typeUnknown
		}
		anyControlled := prev != nil && prev.controlled()
		var first tplType
		for i, a := range c.Args[1:] {
			t := w.arg(a, dot)
			if i == 0 {
				first = t
			}
			anyControlled = anyControlled || t.controlled()
		}
		switch {
		case plainFuncs[id.Ident]:
			return typePlain
		case id.Ident == "index" && len(c.Args) >= 2:
			// The element of the collection, whatever the keys.
			x := first
			for range c.Args[2:] {
				x = x.elem()
			}
			return x
		case anyControlled:
			return typeUnknown
		}
		return typePlain
	}
	// A value (field, variable, dot, literal), possibly a method call
	// with arguments, which the facts do not have.
	x := w.arg(c.Args[0], dot)
	for _, a := range c.Args[1:] {
		if w.arg(a, dot).controlled() {
			return typeUnknown
		}
	}
	if prev != nil && prev.controlled() {
		return typeUnknown
	}
	return x
}

// arg returns the type of one argument.
func (w *taint) arg(n parse.Node, dot tplType) tplType {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		x := dot
		for _, f := range n.Ident {
			x = x.field(f)
		}
		return x
	case *parse.VariableNode:
		x, ok := w.vars[n.Ident[0]]
		if !ok {
			x = typeUnknown
		}
		for _, f := range n.Ident[1:] {
			x = x.field(f)
		}
		return x
	case *parse.ChainNode:
		x := w.arg(n.Node, dot)
		for _, f := range n.Field {
			x = x.field(f)
		}
		return x
	case *parse.PipeNode:
		return w.pipe(n, dot)
	case *parse.IdentifierNode:
		if controlledFuncs[n.Ident] {
			return typeUnknown
		}
		return typePlain
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return typePlain
	}
	return typeUnknown
}
