package engine

import (
	"fmt"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
)

// socketsMark is in every socket of needsView's processes.
const socketsMark = "QXSOCKQX"

// needsView is a snapshot of two processes of one user in one session,
// their sockets filled when withSockets is set and empty as a collection
// without sockets leaves them otherwise, and the process-scope match of
// the first.
func needsMatch(withSockets bool) *Match {
	procs := []Process{
		{PID: 10, PPID: 1, PGID: 10, SID: 10, UID: 1001, User: "bob", Exe: "/usr/bin/a", Comm: "a", Cmdline: []string{"a"}, Cmd: "a"},
		{PID: 11, PPID: 10, PGID: 10, SID: 10, UID: 1001, User: "bob", Exe: "/usr/bin/a", Comm: "a", Cmdline: []string{"a"}, Cmd: "a"},
	}
	if withSockets {
		for i := range procs {
			s := Socket{Proto: "tcp", LocalIP: socketsMark, LocalPort: 40000 + i, RemoteIP: socketsMark, RemotePort: 6667, State: "ESTABLISHED"}
			procs[i].Connections = []Socket{s}
			s.RemoteIP, s.RemotePort, s.State = "", 0, "LISTEN"
			procs[i].Listening = []Socket{s}
		}
	}
	v := NewView(NewSnapshot(t0, Host{Name: "web1"}, Load{}, procs), nil)
	p := v.Proc(10)
	return &Match{Rule: &Rule{Name: "r", Scope: ScopeProcess}, Key: p.Key(), Proc: p, vars: vars{
		proc: p, user: v.UserOf(p.UID), session: v.SessionOf(p.SID), snap: v, params: map[string]any{"n": int64(1)},
	}}
}

// FuzzTemplateNeeds checks that templateNeeds is sound: a template that
// renders differently with and without the processes' sockets is one it
// says needs them.
func FuzzTemplateNeeds(f *testing.F) {
	for _, s := range []string{
		"{{.proc.pid}}", "{{.proc}}", "{{.}}", "{{$}}", "{{.user}}", "{{.session}}",
		"{{range .user.procs}}{{.}}{{end}}", "{{range .session.procs}}{{.user}}{{end}}",
		"{{range $i, $p := .exe_procs}}{{$p}}{{end}}", "{{with .proc}}{{.listening}}{{end}}",
		"{{$p := .proc}}{{$p.connections}}", `{{index .proc "connections"}}`, `{{printf "%v" .proc}}`,
		"{{range .proc}}{{.}}{{end}}", "{{len .user.procs}}", "{{(index .user.procs 0).pid}}",
		"{{with $x := index .user.procs 1}}{{$x}}{{end}}", "{{join .exe_procs \",\"}}",
	} {
		f.Add(s)
	}
	with, without := needsMatch(true), needsMatch(false)
	f.Fuzz(func(t *testing.T, text string) {
		if unboundedRange([]byte(text)) || bigNumber.MatchString(text) || strings.Contains(text, "template") {
			// Time and memory spent in text/template, not in the check.
			return
		}
		tpl, err := newTemplate("t").Parse(text)
		if err != nil {
			return
		}
		render := func(m *Match) string {
			data, _ := m.templateData(needsOf(tpl))
			out, err := execute(tpl, NoEnricher{}, data, MaxAlertBytes)
			return fmt.Sprintf("%q %v", out, err)
		}
		a, b := render(with), render(without)
		if a != b && !templateNeeds(tpl).Has(FactSockets) {
			t.Fatalf("%q reads the sockets but does not need them:\nwith    %s\nwithout %s", text, a, b)
		}
	})
}

// FuzzExprNeeds checks that exprNeeds is sound: a process-scope
// expression that gives another result with and without the process's
// sockets is one it says needs them.
func FuzzExprNeeds(f *testing.F) {
	for _, s := range []string{
		"proc.rss > 0", "proc.connections.size() > 0", "has(proc.listening)", "proc.?listening.hasValue()",
		"dyn(proc).connections.size()", "[proc].exists(p, p.listening.exists(s, s.local_port > 0))",
		"proc == proc", "string(proc.pid)", "[proc][0].connections", "{'p': proc}.p.listening.size()",
		`proc.connections.map(c, c.remote_ip).join(",")`, "optional.of(proc).connections",
		"user.pids.size()", "params.n > 0",
	} {
		f.Add(s)
	}
	env, err := ruleEnv(ScopeProcess, "r", map[string]any{"n": int64(1)})
	if err != nil {
		f.Fatal(err)
	}
	with, without := needsMatch(true), needsMatch(false)
	f.Fuzz(func(t *testing.T, text string) {
		ast, iss := env.CompileSource(common.NewTextSource(text))
		if iss != nil && iss.Err() != nil {
			return
		}
		prg, err := env.Program(ast, cel.CostLimit(100_000))
		if err != nil {
			return
		}
		eval := func(m *Match) string {
			v := m.vars
			out, _, err := prg.Eval(&v)
			if err != nil {
				return "error " + err.Error()
			}
			return fmt.Sprintf("%v", out.Value())
		}
		a, b := eval(with), eval(without)
		if a != b && !exprNeeds(ast).Has(FactSockets) {
			t.Fatalf("%q reads the sockets but does not need them:\nwith    %s\nwithout %s", text, a, b)
		}
	})
}
