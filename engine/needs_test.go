package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A rule needs the sockets when an expression or template reads them, and
// only then: a word in its description, its params or the text of a
// message costs no fd walk.
func TestRuleNeedsSockets(t *testing.T) {
	// rule builds a process-scope rule; each argument is YAML of one
	// field, "actions" included when the case gives it.
	rule := func(fields ...string) string {
		text := "rules:\n  - name: a\n    scope: process\n"
		hasCond, hasActions := false, false
		for _, f := range fields {
			text += "    " + f + "\n"
			hasCond = hasCond || strings.HasPrefix(f, "condition:")
			hasActions = hasActions || strings.HasPrefix(f, "actions:")
		}
		if !hasCond {
			text += "    condition: \"true\"\n"
		}
		if !hasActions {
			text += "    actions: [alert: {}]\n"
		}
		return text
	}
	for _, tt := range []struct {
		name  string
		rule  string
		needs bool
	}{
		{"nothing", rule(), false},
		{"only the description names connections and listening",
			rule(`description: "counts connections of listening daemons"`), false},
		{"a param is called connections", rule(`params: {connections: 5}`, `condition: "params.connections > 1"`), false},
		{"message text names connections outside actions",
			rule(`message: "Network connections: see netstat. {{.proc.pid}}"`), false},
		{"a message field of another name", rule(`message: "{{.proc.cmd}} {{.user.count}} {{range .user.procs}}{{.pid}} {{.exe}}{{end}}"`), false},
		{"printing $, the whole data", rule(`message: "{{$v := .proc.rss}}{{$v}} {{$}}"`), true},
		{"a variable bound to a number only", rule(`message: "{{$v := .proc.rss}}{{$v}}"`), false},
		{"ranging over the command line", rule(`message: "{{range .proc.cmdline}}{{.}}{{end}}"`), false},
		{"a process's user name in a list of processes",
			rule(`message: "{{range .session.procs}}{{.user}}{{end}} {{with .proc}}{{.user}}{{end}}"`), false},
		{"counting a user's processes", rule(`message: "{{len .user.procs}} {{(index .user.procs 0).pid}}"`), false},

		{"condition reads proc.connections", rule(`condition: "proc.connections.size() > 0"`), true},
		{"condition tests has(proc.listening)", rule(`condition: "has(proc.listening)"`), true},
		{"condition selects optionally", rule(`condition: "proc.?listening.hasValue()"`), true},
		{"condition reads through dyn", rule(`condition: "dyn(proc).connections.size() > 0"`), true},
		{"condition reads a process bound in a comprehension",
			rule(`condition: "[proc].exists(p, p.listening.exists(s, s.local_port == 22))"`), true},
		{"condition compares a whole process", rule(`condition: "proc == proc"`), true},
		{"condition compares lists holding a process", rule(`condition: "[proc] == [proc]"`), true},
		{"condition compares a process picked from a list", rule(`condition: "[proc][0] == proc"`), true},
		{"condition reads a field of a process picked from a list", rule(`condition: "[proc][0].rss > 0"`), false},
		{"condition hides a process behind dyn and compares it", rule(`condition: "dyn(proc) == dyn(proc)"`), true},
		{"an action's if reads proc.listening",
			rule(`actions: [alert: {}, kill: {if: "proc.listening.exists(s, s.local_port == 22)"}]`), true},
		{"a suppress key reads proc.connections",
			rule(`actions: [suppress: {for: 1h, key: "proc.connections.size() > 0 ? 'net' : 'none'"}]`), true},
		{"a suppress for reads proc.listening",
			rule(`actions: [suppress: {for: "duration(string(proc.listening.size()) + 'h')"}]`), true},
		{"the message ranges over .proc.connections",
			rule(`message: "{{range .proc.connections}}{{.remote_ip}}{{end}}"`), true},
		{"the subject reads a variable's listening", rule(`subject: "{{$p := .proc}}{{$p.listening}}"`), true},
		{"an alert override indexes listening by name",
			rule(`actions: [alert: {message: "{{index .proc \"listening\"}}"}]`), true},
		{"a run argument joins connections",
			rule(`actions: [run: {command: /usr/local/bin/notify, args: ["{{len .proc.connections}}"]}]`), true},
		{"the message prints the whole process", rule(`message: "{{.proc}}"`), true},
		{"the message prints each of a user's processes whole",
			rule(`message: "{{range .user.procs}}{{.}}{{end}}"`), true},
		{"the message prints a ranged process variable",
			rule(`message: "{{range $i, $p := .exe_procs}}{{$p}}{{end}}"`), true},
		{"the message hands a process to printf", rule(`message: "{{printf \"%v\" .proc}}"`), true},
		{"the message prints the whole data", rule(`message: "{{.}}"`), true},
		{"the message prints what index gives back whole", rule(`message: "{{index $}}"`), true},
		{"a pipeline hands a process to a function", rule(`message: "{{.proc | printf \"%v\"}}"`), true},
		{"the message prints the user aggregate", rule(`message: "{{.user}}"`), true},
		{"the message prints the session aggregate from $", rule(`message: "{{range .proc.cmdline}}{{$.session}}{{end}}"`), true},
		{"a defined template prints its dot", rule(`message: "{{define \"p\"}}{{.}}{{end}}{{template \"p\" .proc.pid}}"`), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := oneRule(t, tt.rule)
			if got := r.Needs().Has(FactSockets); got != tt.needs {
				t.Errorf("needs sockets = %v, want %v\n%s", got, tt.needs, tt.rule)
			}
		})
	}
}

// RuleSet.Needs joins the needs of the enabled rules that are due.
func TestRuleSetNeeds(t *testing.T) {
	text := "rules:\n" +
		"  - {name: net, scope: process, condition: 'proc.connections.size() > 0', actions: [alert: {}]}\n" +
		"  - {name: off, scope: process, enabled: false, condition: 'proc.listening.size() > 0', actions: [alert: {}]}\n" +
		"  - {name: plain, scope: process, condition: 'proc.rss > 0', actions: [alert: {}]}\n"
	rs := loadOK(t, yamlFile("r.yaml", text))
	for _, tt := range []struct {
		due  []string
		want Facts
	}{
		{nil, FactSockets},
		{[]string{"plain"}, 0},
		{[]string{"off", "plain"}, 0},
		{[]string{"net"}, FactSockets},
	} {
		var due func(*Rule) bool
		if tt.due != nil {
			due = func(r *Rule) bool { return strings.Contains(" "+strings.Join(tt.due, " ")+" ", " "+r.Name+" ") }
		}
		if got := rs.Needs(due); got != tt.want {
			t.Errorf("due %v: needs %v, want %v", tt.due, got, tt.want)
		}
	}
}

// Of the built-in rules, exactly those whose templates read sockets need
// them: pt-load only names "Network connections" in its message's text.
func TestBuiltinRuleNeeds(t *testing.T) {
	rs := loadOK(t, builtinFiles(t)...)
	var got []string
	for _, r := range rs.Rules {
		if r.Needs().Has(FactSockets) {
			got = append(got, r.Name)
		}
	}
	if want := []string{"pt-deleted", "pt-sshd-hung", "pt-suspicious"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("built-in rules needing sockets: %v, want %v", got, want)
	}
}

// builtinFiles are the repository's default rules and ignore list.
func builtinFiles(t *testing.T) []File {
	t.Helper()
	files, err := DirFiles(os.DirFS(".."), "rules.d", "rules.d")
	if err != nil || len(files) == 0 {
		t.Fatalf("reading ../rules.d: %d files, %v", len(files), err)
	}
	return files
}
