package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A rule needs a fact read beforehand only when an expression reads it
// out of sight of lazy field access: through dyn, or by using a process,
// user or session whole. A field read by name on a typed value, and
// anything a template reads, needs nothing: lazy access and rendering read
// what they touch.
func TestRuleNeeds(t *testing.T) {
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
		needs Facts
	}{
		{"nothing", rule(), 0},
		{"only the description names connections", rule(`description: "counts connections of listening daemons"`), 0},
		{"a param is called connections", rule(`params: {connections: 5}`, `condition: "params.connections > 1"`), 0},
		{"templates read anything", rule(`message: "{{.proc}} {{.}} {{range .user.procs}}{{.}}{{end}}"`), 0},

		{"typed field reads are lazy", rule(`condition: "proc.connections.size() > 0 && proc.cmd != '' && proc.unit == ''"`), 0},
		{"has() on a typed process is lazy", rule(`condition: "has(proc.listening)"`), 0},
		{"an optional select on a typed process is lazy", rule(`condition: "proc.?listening.hasValue()"`), 0},
		{"a process bound in a comprehension is typed",
			rule(`condition: "[proc].exists(p, p.listening.exists(s, s.local_port == 22))"`), 0},
		{"a field of a process picked from a list", rule(`condition: "[proc][0].exe != ''"`), 0},
		{"aggregates read by name are lazy", rule(`condition: "user.count > 1 && session.pids.size() > 0"`), 0},

		{"reading through dyn", rule(`condition: "dyn(proc).connections.size() > 0"`), FactSockets},
		{"the command line through dyn", rule(`condition: "dyn(proc).cmd != ''"`), FactCmdline},
		{"an optional select through dyn", rule(`condition: "dyn(proc).?exe.hasValue()"`), FactExe},
		{"an aggregate through dyn", rule(`condition: "dyn(user).count > 0"`), FactAggregates},
		{"a field eager anyway, through dyn", rule(`condition: "dyn(proc).pid > 0"`), 0},
		{"comparing a whole process", rule(`condition: "proc == proc"`), FactAll},
		{"comparing lists holding a process", rule(`condition: "[proc] == [proc]"`), FactAll},
		{"comparing a whole user", rule(`condition: "user == user"`), FactAll},
		{"a process hidden behind dyn and compared", rule(`condition: "dyn(proc) == dyn(proc)"`), FactAll},
		{"an action's if reads through dyn",
			rule(`actions: [alert: {}, kill: {if: "dyn(proc).listening.exists(s, s.local_port == 22)"}]`), FactSockets},
		{"a suppress key reads through dyn",
			rule(`actions: [suppress: {for: 1h, key: "dyn(proc).unit"}]`), FactCgroup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := oneRule(t, tt.rule)
			if got := r.Needs(); got != tt.needs {
				t.Errorf("needs %b, want %b\n%s", got, tt.needs, tt.rule)
			}
		})
	}
}

// RuleSet.Needs joins the needs of the enabled rules that are due.
func TestRuleSetNeeds(t *testing.T) {
	text := "rules:\n" +
		"  - {name: net, scope: process, condition: 'dyn(proc).connections.size() > 0', actions: [alert: {}]}\n" +
		"  - {name: off, scope: process, enabled: false, condition: 'dyn(proc).cmd != \"\"', actions: [alert: {}]}\n" +
		"  - {name: plain, scope: process, condition: 'proc.connections.size() > 0', actions: [alert: {}]}\n"
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

// No built-in rule reads anything out of sight of lazy field access: a
// tick reads each fact only for the processes whose evaluation reaches it.
func TestBuiltinRuleNeeds(t *testing.T) {
	rs := loadOK(t, builtinFiles(t)...)
	var got []string
	for _, r := range rs.Rules {
		if r.Needs() != 0 {
			got = append(got, fmt.Sprintf("%s %b", r.Name, r.Needs()))
		}
	}
	if len(got) > 0 {
		t.Errorf("built-in rules needing facts read beforehand: %v", got)
	}
}

// builtinFiles are the repository's default rules and ignore list.
func builtinFiles(t testing.TB) []File {
	t.Helper()
	files, err := DirFiles(os.DirFS(".."), "rules.d", "rules.d")
	if err != nil || len(files) == 0 {
		t.Fatalf("reading ../rules.d: %d files, %v", len(files), err)
	}
	return files
}
