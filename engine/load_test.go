package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"
)

// yamlFile is a rule file or ignore list given inline in a test.
func yamlFile(path, text string) File { return File{Path: path, Data: []byte(text)} }

// loadOK loads the files and fails the test on any problem.
func loadOK(t testing.TB, files ...File) *RuleSet {
	t.Helper()
	rs, ps := LoadRules(files)
	if len(ps) > 0 {
		t.Fatalf("LoadRules: unexpected problems:\n%s", FormatError(ps))
	}
	return rs
}

// oneRule loads a single rule file r.yaml holding one rule and returns it.
func oneRule(t testing.TB, text string) *Rule {
	t.Helper()
	rs := loadOK(t, yamlFile("r.yaml", text))
	if len(rs.Rules) != 1 {
		t.Fatalf("want 1 rule, got %d", len(rs.Rules))
	}
	return rs.Rules[0]
}

// wantProblem is one expected problem: its exact Error text and the text
// in the source line that its caret must sit on ("" when the problem has
// no column).
type wantProblem struct {
	err string
	at  string
}

// checkProblems compares problems with the expected ones, in order, and
// checks that each excerpt quotes the file's line with the caret on the
// expected text.
func checkProblems(t *testing.T, files []File, ps Problems, want []wantProblem) {
	t.Helper()
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(ps), len(want), FormatError(ps))
	}
	data := map[string][]byte{}
	for _, f := range files {
		data[f.Path] = f.Data
	}
	for i, w := range want {
		p := ps[i]
		if p.Error() != w.err {
			t.Errorf("problem %d:\n got  %s\n want %s", i, p.Error(), w.err)
			continue
		}
		src, ok := data[p.Pos.File]
		if !ok {
			continue
		}
		line := newSource(p.Pos.File, src).line(p.Pos.Line)
		if p.Source != line {
			t.Errorf("problem %d (%s): Source = %q, want line %d of the file, %q", i, p.Error(), p.Source, p.Pos.Line, line)
		}
		if w.at == "" {
			if p.Pos.Col != 0 {
				t.Errorf("problem %d (%s): has a column, want none", i, p.Error())
			}
			continue
		}
		runes := []rune(line)
		if p.Pos.Col < 1 || p.Pos.Col > len(runes) {
			t.Errorf("problem %d (%s): column %d is outside its line %q", i, p.Error(), p.Pos.Col, line)
			continue
		}
		if rest := string(runes[p.Pos.Col-1:]); !strings.HasPrefix(rest, w.at) {
			t.Errorf("problem %d (%s): caret on %q, want on %q\n%s", i, p.Error(), rest, w.at, p.Excerpt())
		}
		caret := strings.Repeat(" ", p.Pos.Col-1) + "^"
		// Excerpt shows a tab as one space, so the caret stays under it.
		wantExcerpt := p.Error() + "\n    " + strings.ReplaceAll(line, "\t", " ") + "\n    " + caret
		if got := p.Excerpt(); got != wantExcerpt {
			t.Errorf("problem %d: excerpt\n%s\nwant\n%s", i, got, wantExcerpt)
		}
	}
}

// A valid rule, to which a test adds one mistake.
const okRule = `rules:
  - name: a
    scope: process
    condition: "true"
    actions: [alert: {}]
`

func TestLoadRulesProblems(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		want  []wantProblem
	}{
		{
			name: "unknown key",
			files: []File{yamlFile("r.yaml", `rules:
  - name: a
    scope: process
    conditon: "true"
    condition: "true"
    actions: [alert: {}]
`)},
			want: []wantProblem{{`r.yaml:4:5: unknown key "conditon" in a rule (known keys: name, description, scope, every, params, condition, severity, subject, message, actions, enabled, tags)`, "conditon:"}},
		},
		{
			name:  "unknown top-level key",
			files: []File{yamlFile("r.yaml", "rule:\n  - name: a\n")},
			want:  []wantProblem{{`r.yaml:1:1: unknown key "rule" in a rule file (known keys: rules)`, "rule:"}},
		},
		{
			name: "unknown key in an action",
			files: []File{yamlFile("r.yaml", `rules:
  - name: a
    scope: process
    condition: "true"
    actions: [alert: {chanels: [ops]}]
`)},
			want: []wantProblem{{`r.yaml:5:23: unknown key "chanels" in alert action (known keys: channels, subject, message, if)`, "chanels"}},
		},
		{
			name: "duplicate key",
			files: []File{yamlFile("r.yaml", `rules:
  - name: a
    scope: process
    condition: "true"
    condition: "false"
    actions: [alert: {}]
`)},
			want: []wantProblem{{`r.yaml:5:5: duplicate key "condition" in a rule`, `condition: "false"`}},
		},
		{
			name: "duplicate name in one file",
			files: []File{yamlFile("r.yaml", okRule+`  - name: a
    enabled: false
`)},
			want: []wantProblem{{`r.yaml:6:11: duplicate rule name "a" in this file`, "a"}},
		},
		{
			name:  "bad name",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "name: a", "name: Bad_Name", 1))},
			want:  []wantProblem{{`r.yaml:2:11: bad rule name "Bad_Name": use lower case letters, digits, '-', '_' or '.'`, "Bad_Name"}},
		},
		{
			name:  "name starting with a dash",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "name: a", "name: -a", 1))},
			want:  []wantProblem{{`r.yaml:2:11: bad rule name "-a": use lower case letters, digits, '-', '_' or '.'`, "-a"}},
		},
		{
			name:  "no name",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "name: a", "description: x", 1))},
			want:  []wantProblem{{`r.yaml:2:5: a rule needs a name`, "description"}},
		},
		{
			name:  "unknown scope",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "scope: process", "scope: galaxy", 1))},
			want:  []wantProblem{{`r.yaml:3:12: unknown scope "galaxy": use process, user, session or host`, "galaxy"}},
		},
		{
			name:  "new rule without condition",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition: \"true\"\n", "", 1))},
			want:  []wantProblem{{`r.yaml:2:11: new rule "a" needs condition`, "a"}},
		},
		{
			name:  "new rule without actions",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions: [alert: {}]\n", "", 1))},
			want:  []wantProblem{{`r.yaml:2:11: new rule "a" needs actions`, "a"}},
		},
		{
			name:  "new rule without scope and actions",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n    condition: \"true\"\n")},
			want:  []wantProblem{{`r.yaml:2:11: new rule "a" needs scope and actions`, "a"}},
		},
		{
			name:  "empty action list",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[]", 1))},
			want:  []wantProblem{{`r.yaml:2:11: rule "a" has no actions: give at least one of alert, kill, run, suppress`, "a"}},
		},
		{
			name:  "patch of an unknown rule",
			files: []File{yamlFile("p.yaml", "rules:\n  - name: nosuch\n    enabled: false\n")},
			want:  []wantProblem{{`p.yaml:2:11: patch of unknown rule "nosuch": no rule of that name is loaded before this file (a new rule needs scope, condition and actions)`, "nosuch"}},
		},
		{
			name: "patch before the definition",
			files: []File{
				yamlFile("00-patch.yaml", "rules:\n  - name: a\n    enabled: false\n"),
				yamlFile("10-def.yaml", okRule),
			},
			want: []wantProblem{{`00-patch.yaml:2:11: patch of unknown rule "a": no rule of that name is loaded before this file (a new rule needs scope, condition and actions)`, "a"}},
		},
		{
			name: "patch changes a param's type",
			files: []File{
				yamlFile("base.yaml", `rules:
  - name: a
    scope: process
    params: {x: "1h", k: 3, l: [a, b], b: true}
    condition: "proc.pid > params.k"
    actions: [alert: {}]
`),
				yamlFile("p.yaml", `rules:
  - name: a
    params: {k: 2.5, x: 5, l: "a", b: 1}
`),
			},
			want: []wantProblem{
				{`p.yaml:3:17: param "k" of rule "a" is an integer (default 3 at base.yaml:4:26), not a number`, "2.5"},
				{`p.yaml:3:25: param "x" of rule "a" is a string (default "1h" at base.yaml:4:17), not an integer`, "5"},
				{`p.yaml:3:31: param "l" of rule "a" is a list of strings (default [a b] at base.yaml:4:32), not a string`, `"a"`},
				{`p.yaml:3:39: param "b" of rule "a" is a boolean (default true at base.yaml:4:43), not an integer`, "1"},
			},
		},
		{
			name: "patch adds an unknown param",
			files: []File{
				yamlFile("base.yaml", `rules:
  - name: a
    scope: process
    params: {x: "1h", k: 3}
    condition: "true"
    actions: [alert: {}]
`),
				yamlFile("p.yaml", "rules:\n  - name: a\n    params:\n      limt: 5\n"),
			},
			want: []wantProblem{{`p.yaml:4:7: rule "a" has no param "limt" (it has: x, k)`, "limt"}},
		},
		{
			name:  "param without a value",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    params: {x: }\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:17: a param needs a value; write "" for an empty string`, "}"}},
		},
		{
			name:  "param as a mapping",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    params: {x: {y: 1}}\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:17: a param must be a string, number, boolean or list of those`, "{y: 1}"}},
		},
		{
			name:  "param list of lists",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    params: {x: [1, [2]]}\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:21: a param list holds plain values, not lists`, "[2]"}},
		},
		{
			name:  "condition not bool",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, `condition: proc.pid + 1`, 1))},
			want:  []wantProblem{{`r.yaml:4:16: expression gives int, want bool`, "proc.pid + 1"}},
		},
		{
			name:  "proc in user scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: user", `condition: "true"`, `condition: proc.pid > 1`).Replace(okRule))},
			want:  []wantProblem{{`r.yaml:4:16: undeclared reference to 'proc'`, "proc.pid"}},
		},
		{
			name:  "ignored in session scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: session", `condition: "true"`, `condition: '!ignored'`).Replace(okRule))},
			want:  []wantProblem{{`r.yaml:4:18: undeclared reference to 'ignored'`, "ignored"}},
		},
		{
			name:  "user in host scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: host", `condition: "true"`, `condition: user.count > 1`).Replace(okRule))},
			want:  []wantProblem{{`r.yaml:4:16: undeclared reference to 'user'`, "user.count"}},
		},
		{
			name:  "misspelt variable",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, `condition: prco.pid > 1`, 1))},
			want:  []wantProblem{{`r.yaml:4:16: undeclared reference to 'prco' (did you mean 'proc'?)`, "prco"}},
		},
		{
			name:  "unknown function",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, `condition: frob(proc.pid)`, 1))},
			want:  []wantProblem{{`r.yaml:4:20: undeclared reference to 'frob'`, "(proc.pid)"}},
		},
		{
			name:  "unknown param",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, `condition: proc.pid > params.limit`, 1))},
			want:  []wantProblem{{`r.yaml:4:33: undefined field 'limit'`, ".limit"}},
		},
		{
			name:  "param of the wrong type",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, "params: {limit: \"1\"}\n    condition: proc.pid > params.limit", 1))},
			want:  []wantProblem{{`r.yaml:5:25: found no matching overload for '_>_' applied to '(int, string)'`, "> params.limit"}},
		},
		{
			name:  "bad template",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions:", "    subject: \"{{.proc.exe_delted}}\"\n    actions:", 1))},
			want:  []wantProblem{{`r.yaml:5:14: subject: subject:1:7: executing "subject" at <.proc.exe_delted>: map has no entry for key "exe_delted"`, `"{{.proc.exe_delted}}"`}},
		},
		{
			name:  "template of another scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: user", "    actions:", "    message: \"{{.proc.pid}}\"\n    actions:").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:5:14: message: message:1:7: executing "message" at <.proc.pid>: map has no entry for key "proc"`, `"{{.proc.pid}}"`}},
		},
		{
			name:  "template syntax error",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions:", "    subject: \"{{.proc.pid\"\n    actions:", 1))},
			want:  []wantProblem{{`r.yaml:5:14: subject: subject:1: unclosed action`, `"{{.proc.pid"`}},
		},
		{
			name:  "bad template in an alert action",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[alert: {message: \"{{.nope}\"}]", 1))},
			want:  []wantProblem{{`r.yaml:5:32: message: message:1: bad character U+007D '}'`, `"{{.nope}"`}},
		},
		{
			name:  "unknown severity",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions:", "    severity: high\n    actions:", 1))},
			want:  []wantProblem{{`r.yaml:5:15: unknown severity "high": use info, warning or critical`, "high"}},
		},
		{
			name:  "enabled not a boolean",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions:", "    enabled: yes\n    actions:", 1))},
			want:  []wantProblem{{`r.yaml:5:14: enabled must be true or false`, "yes"}},
		},
		{
			name:  "tags not a list",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    actions:", "    tags: pt\n    actions:", 1))},
			want:  []wantProblem{{`r.yaml:5:11: tags must be a list of strings`, "pt"}},
		},
		{
			name:  "bad every",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    every: soon\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:12: every: bad duration "soon": write a duration such as 90s, 10m or 2h`, "soon"}},
		},
		{
			name:  "every of zero",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    every: 0s\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:12: every must be longer than 0s; set enabled: false to turn a rule off`, "0s"}},
		},
		{
			name:  "negative every",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "    condition:", "    every: -1m\n    condition:", 1))},
			want:  []wantProblem{{`r.yaml:4:12: every: bad duration "-1m": write a duration such as 90s, 10m or 2h`, "-1m"}},
		},
		{
			name:  "actions not a list",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "{alert: {}}", 1))},
			want:  []wantProblem{{`r.yaml:5:14: actions must be a list, like [alert: {}, suppress: {for: 1h}]`, "{alert"}},
		},
		{
			name:  "unknown action",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[alert: {}, frobnicate: {}]", 1))},
			want:  []wantProblem{{`r.yaml:5:26: unknown action "frobnicate": use alert, kill, run or suppress`, "frobnicate"}},
		},
		{
			name:  "two actions in one item",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[{alert: {}, suppress: {for: 1h}}]", 1))},
			want:  []wantProblem{{`r.yaml:5:15: each action is a one-key map: alert, kill, run or suppress`, "{alert"}},
		},
		{
			name:  "action if not bool",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[alert: {if: proc.pid}]", 1))},
			want:  []wantProblem{{`r.yaml:5:27: expression gives int, want bool`, "proc.pid"}},
		},
		{
			name:  "run with a relative literal command",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {command: notify-admin}]", 1))},
			want:  []wantProblem{{`r.yaml:5:30: run command "notify-admin" must be an absolute path: ptrule runs programs directly, without a shell or PATH search`, "notify-admin"}},
		},
		{
			name:  "run without a command",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {args: [x]}]", 1))},
			want:  []wantProblem{{`r.yaml:5:15: run needs a command: an absolute path such as /usr/local/bin/notify-admin`, "run"}},
		},
		{
			name:  "run args not a list",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {command: /bin/true, args: x}]", 1))},
			want:  []wantProblem{{`r.yaml:5:47: args must be a list of strings`, "x}"}},
		},
		{
			name:  "run timeout zero",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {command: /bin/true, timeout: 0s}]", 1))},
			want:  []wantProblem{{`r.yaml:5:50: timeout must be longer than 0s`, "0s"}},
		},
		{
			name:  "bad template in run args",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {command: /bin/true, args: [\"{{.proc.pidd}}\"]}]", 1))},
			want:  []wantProblem{{`r.yaml:5:48: args: args:1:7: executing "args" at <.proc.pidd>: map has no entry for key "pidd"`, `"{{.proc.pidd}}"`}},
		},
		{
			name:  "bad template in a run command",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[run: {command: \"{{.params.acton}}\"}]", 1))},
			want:  []wantProblem{{`r.yaml:5:30: command: command:1:9: executing "command" at <.params.acton>: map has no entry for key "acton"`, `"{{.params.acton}}"`}},
		},
		{
			name:  "misspelt field in an alert action's message",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[alert: {subject: ok, message: \"{{.proc.exe_delted}}\"}]", 1))},
			want:  []wantProblem{{`r.yaml:5:45: message: message:1:7: executing "message" at <.proc.exe_delted>: map has no entry for key "exe_delted"`, `"{{.proc.exe_delted}}"`}},
		},
		{
			name:  "kill target not fitting the scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: user", "[alert: {}]", "[kill: {target: process}]").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:5:30: kill target "process" does not fit a user-scope rule (use: user)`, "process"}},
		},
		{
			name:  "kill target group in session scope is fine, user is not",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: session", "[alert: {}]", "[kill: {target: group}, kill: {target: user}]").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:5:53: kill target "user" does not fit a session-scope rule (use: session, group)`, "user"}},
		},
		{
			name:  "kill in host scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: host", "[alert: {}]", "[kill: {}]").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:5:15: a host-scope rule has no process to kill`, "kill"}},
		},
		{
			name:  "kill with a target in host scope",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("scope: process", "scope: host", "[alert: {}]", "[kill: {target: process}]").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:5:30: kill target "process" does not fit a host-scope rule (use: )`, "process"}},
		},
		{
			name:  "grace with KILL",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {grace: 10s}]", 1))},
			want:  []wantProblem{{`r.yaml:5:29: grace only makes sense with a catchable signal such as TERM: KILL cannot be waited out`, "10s"}},
		},
		{
			name:  "grace with signal 9",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {signal: \"9\", grace: 10s}]", 1))},
			want:  []wantProblem{{`r.yaml:5:42: grace only makes sense with a catchable signal such as TERM: KILL cannot be waited out`, "10s"}},
		},
		{
			name:  "allow_root with a process target",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {target: process, allow_root: true}]", 1))},
			want:  []wantProblem{{`r.yaml:5:51: allow_root only applies to target: user (it lets the kill reach the processes of root); kill target here is process`, "true"}},
		},
		{
			name:  "allow_root not a boolean",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {target: user, allow_root: yes please}]", 1))},
			want:  []wantProblem{{`r.yaml:5:48: allow_root must be true or false`, "yes please"}},
		},
		{
			name:  "bad grace",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {signal: TERM, grace: a while}]", 1))},
			want:  []wantProblem{{`r.yaml:5:43: grace: bad duration "a while": write a duration such as 90s, 10m or 2h`, "a while"}},
		},
		{
			name:  "unknown signal",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {signal: FOO}]", 1))},
			want:  []wantProblem{{`r.yaml:5:30: unknown signal "FOO": use a name such as TERM, KILL, HUP or a number 1-64`, "FOO"}},
		},
		{
			name:  "signal out of range",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[kill: {signal: 65}, kill: {signal: 0}]", 1))},
			want: []wantProblem{
				{`r.yaml:5:30: unknown signal "65": use a name such as TERM, KILL, HUP or a number 1-64`, "65"},
				{`r.yaml:5:50: unknown signal "0": use a name such as TERM, KILL, HUP or a number 1-64`, "0"},
			},
		},
		{
			name:  "bad constant size",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, `condition: "true"`, `condition: proc.vmsize > bytes("1 parsec")`, 1))},
			want:  []wantProblem{{`r.yaml:4:16: bad size "1 parsec": write a number with an optional unit, like 4096, 200MB or 512MiB`, "proc.vmsize"}},
		},
		{
			name:  "suppress without for",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[alert: {}, suppress: {key: proc.exe}]", 1))},
			want:  []wantProblem{{`r.yaml:5:26: suppress needs for: a duration such as 1h, or a CEL duration such as duration(params.repeat)`, "suppress"}},
		},
		{
			name:  "suppress with a null body",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[suppress: ]", 1))},
			want:  []wantProblem{{`r.yaml:5:15: suppress needs for: a duration such as 1h, or a CEL duration such as duration(params.repeat)`, "suppress"}},
		},
		{
			name:  "suppress for a negative duration",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[suppress: {for: -1h}]", 1))},
			want:  []wantProblem{{`r.yaml:5:31: suppress for must not be negative`, "-1h"}},
		},
		{
			name:  "suppress for as a CEL string",
			files: []File{yamlFile("r.yaml", strings.NewReplacer("    condition:", "    params: {repeat: 1h}\n    condition:", "[alert: {}]", "[suppress: {for: params.repeat}]").Replace(okRule))},
			want:  []wantProblem{{`r.yaml:6:31: expression gives string, want google.protobuf.Duration`, "params.repeat"}},
		},
		{
			name:  "suppress for as CEL with an unknown param",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[suppress: {for: duration(params.rpt)}]", 1))},
			want:  []wantProblem{{`r.yaml:5:46: undefined field 'rpt'`, ".rpt"}},
		},
		{
			name:  "suppress key not a string",
			files: []File{yamlFile("r.yaml", strings.Replace(okRule, "[alert: {}]", "[suppress: {for: 1h, key: proc.pid}]", 1))},
			want:  []wantProblem{{`r.yaml:5:40: expression gives int, want string`, "proc.pid"}},
		},
		{
			name:  "rules not a list",
			files: []File{yamlFile("r.yaml", "rules: {}\n")},
			want:  []wantProblem{{`r.yaml:1:8: rules must be a list of rules`, "{}"}},
		},
		{
			name:  "a rule that is not a mapping",
			files: []File{yamlFile("r.yaml", "rules:\n  - 3\n")},
			want:  []wantProblem{{`r.yaml:2:5: a rule must be a mapping`, "3"}},
		},
		{
			name:  "a file that is not a mapping",
			files: []File{yamlFile("r.yaml", "- name: a\n")},
			want:  []wantProblem{{`r.yaml:1:1: a rule file must be a mapping`, "- name"}},
		},
		{
			name:  "YAML syntax error",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n    scope: process\n    condition: \"true\n    actions: [alert: {}]\n")},
			want:  []wantProblem{{`r.yaml:4: invalid YAML: found unexpected end of stream`, ""}},
		},
		{
			name:  "YAML indentation error",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n   scope: process\n")},
			want:  []wantProblem{{`r.yaml:3:4: invalid YAML: did not find expected '-' indicator`, "scope"}},
		},
		{
			// yaml.v3 names line 1, where the list began.
			name:  "YAML mis-indented key on line 4",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n    scope: process\n   condition: \"true\"\n")},
			want:  []wantProblem{{`r.yaml:4:4: invalid YAML: did not find expected '-' indicator`, "condition"}},
		},
		{
			name:  "YAML tab indentation",
			files: []File{yamlFile("r.yaml", "rules:\n\t- name: a\n")},
			want:  []wantProblem{{`r.yaml:2:1: invalid YAML: found character that cannot start any token`, "\t"}},
		},
		{
			// yaml.v3 names line 2.
			name:  "YAML tab on line 3",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n\tscope: process\n")},
			want:  []wantProblem{{`r.yaml:3:1: invalid YAML: found a tab character that violates indentation`, "\t"}},
		},
		{
			name:  "YAML key after a list at the top",
			files: []File{yamlFile("r.yaml", "rules:\n  - name: a\n    scope: process\nfoo\n")},
			want:  []wantProblem{{`r.yaml:4:1: invalid YAML: could not find expected ':'`, "foo"}},
		},
		{
			name: "bad ignore line",
			files: []File{
				yamlFile("a.pignore", "exe:/usr/sbin/sshd\nbogus\n"),
				yamlFile("r.yaml", okRule),
			},
			want: []wantProblem{{`a.pignore:2:1: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`, "bogus"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := LoadRules(tt.files)
			checkProblems(t, tt.files, ps, tt.want)
		})
	}
}

// The caret of a CEL error sits on the offending text in the YAML file,
// whatever the style of the scalar that holds the expression.
func TestLoadRulesCELPositions(t *testing.T) {
	tests := []struct {
		name      string
		condition string // the condition key and value, as lines of the rule
		want      []wantProblem
	}{
		{
			name:      "plain",
			condition: "    condition: proc.pid > 1 && proc.pidd > 1\n",
			want:      []wantProblem{{`r.yaml:4:36: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "single-quoted",
			condition: "    condition: 'proc.pid > 1 && proc.pidd > 1'\n",
			want:      []wantProblem{{`r.yaml:4:37: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "double-quoted",
			condition: "    condition: \"proc.pid > 1 && proc.pidd > 1\"\n",
			want:      []wantProblem{{`r.yaml:4:37: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "literal",
			condition: "    condition: |\n      proc.pid > 1 &&\n        proc.pidd > 1\n",
			want:      []wantProblem{{`r.yaml:6:13: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "literal keep",
			condition: "    condition: |+\n      proc.pid > 1 &&\n\n      proc.pidd > 1\n\n",
			want:      []wantProblem{{`r.yaml:7:11: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "folded strip",
			condition: "    condition: >-\n      proc.pid > 1 &&\n        proc.pidd > 1\n",
			want:      []wantProblem{{`r.yaml:6:13: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "folded with two errors on different lines",
			condition: "    condition: >\n      prco.pid > 1 &&\n      proc.pid > 1 &&\n      proc.pidd > 1\n",
			want: []wantProblem{
				{`r.yaml:5:7: undeclared reference to 'prco' (did you mean 'proc'?)`, "prco"},
				{`r.yaml:7:11: undefined field 'pidd'`, ".pidd"},
			},
		},
		{
			name:      "folded with a comment after the block",
			condition: "    condition: >-\n      proc.pid > 1 &&\n      proc.pidd > 1\n# a comment\n",
			want:      []wantProblem{{`r.yaml:6:11: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "non-ASCII before the error",
			condition: "    condition: proc.exe == \"/opt/é\" && proc.pidd > 1\n",
			want:      []wantProblem{{`r.yaml:4:44: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "CRLF line endings",
			condition: "    condition: proc.pidd > 1\r\n",
			want:      []wantProblem{{`r.yaml:4:20: undefined field 'pidd'`, ".pidd"}},
		},
		{
			name:      "syntax error",
			condition: "    condition: proc.pid >\n",
			want:      []wantProblem{{`r.yaml:4:26: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "rules:\n  - name: a\n    scope: process\n" + tt.condition + "    actions: [alert: {}]\n"
			files := []File{yamlFile("r.yaml", text)}
			_, ps := LoadRules(files)
			if tt.name == "syntax error" {
				// The caret sits just past the end of the line, where the
				// operand is missing.
				if len(ps) != 1 || ps[0].Error() != tt.want[0].err || ps[0].Pos.Col != len(ps[0].Source)+1 {
					t.Fatalf("got\n%s\nwant %s", FormatError(ps), tt.want[0].err)
				}
				return
			}
			checkProblems(t, files, ps, tt.want)
		})
	}
}

// A plain or quoted scalar that YAML folds from several lines, or that
// holds escapes, has no exact column mapping: the problem points at the
// start of the value rather than past the end of a line or at the wrong
// character.
func TestLoadRulesCELPositionsFoldedScalars(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		want      []wantProblem
	}{
		{
			name:      "multi-line plain",
			condition: "    condition: proc.pid > 1 &&\n      proc.pidd > 1\n",
			want:      []wantProblem{{`r.yaml:4:16: undefined field 'pidd'`, "proc.pid > 1 &&"}},
		},
		{
			name:      "multi-line double-quoted",
			condition: "    condition: \"proc.pid > 1 &&\n      proc.pidd > 1\"\n",
			want:      []wantProblem{{`r.yaml:4:16: undefined field 'pidd'`, `"proc.pid > 1 &&`}},
		},
		{
			name:      "double-quoted with escapes",
			condition: "    condition: \"proc.exe == \\\"x\\\" && proc.pidd > 1\"\n",
			want:      []wantProblem{{`r.yaml:4:16: undefined field 'pidd'`, `"proc.exe`}},
		},
		{
			name:      "single-quoted with a doubled quote",
			condition: "    condition: 'proc.exe == ''x'' && proc.pidd > 1'\n",
			want:      []wantProblem{{`r.yaml:4:16: undefined field 'pidd'`, `'proc.exe`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "rules:\n  - name: a\n    scope: process\n" + tt.condition + "    actions: [alert: {}]\n"
			files := []File{yamlFile("r.yaml", text)}
			_, ps := LoadRules(files)
			checkProblems(t, files, ps, tt.want)
		})
	}
}

func TestProblemExcerpt(t *testing.T) {
	_, ps := LoadRules([]File{yamlFile("rules.d/site.yaml", "rules:\n  - name: a\n    scope: process\n    condition: >-\n      !ignored &&\n        proc.pidd > 1\n    actions: [alert: {}]\n")})
	want := "rules.d/site.yaml:6:13: undefined field 'pidd'\n" +
		"            proc.pidd > 1\n" +
		"                ^"
	if got := FormatError(ps); got != want {
		t.Errorf("FormatError:\n%s\nwant\n%s", got, want)
	}
	if got := ps.Error(); got != "rules.d/site.yaml:6:13: undefined field 'pidd'" {
		t.Errorf("Problems.Error() = %q", got)
	}

	// A problem without a source line has no excerpt beyond its text.
	p := &Problem{Pos: Pos{File: "x.yaml", Line: 3}, Msg: "m"}
	if p.Excerpt() != "x.yaml:3: m" {
		t.Errorf("Excerpt = %q", p.Excerpt())
	}
	// Tabs in the source line are shown as spaces so the caret lines up.
	p = &Problem{Pos: Pos{File: "x", Line: 1, Col: 3}, Msg: "m", Source: "\tab"}
	if got, want := p.Excerpt(), "x:1:3: m\n     ab\n      ^"; got != want {
		t.Errorf("Excerpt = %q, want %q", got, want)
	}
	if (Pos{File: "f"}).String() != "f" {
		t.Error("Pos without line")
	}
	if Problems(nil).Err() != nil {
		t.Error("empty Problems is not a nil error")
	}
}

// All problems of all files are reported together, and the rules that
// compiled are still returned.
func TestLoadRulesAllProblemsTogether(t *testing.T) {
	files := []File{
		yamlFile("10-a.yaml", `rules:
  - name: good
    scope: host
    condition: "true"
    actions: [alert: {}]
  - name: bad-cel
    scope: process
    condition: proc.pidd > 1
    actions: [alert: {}]
  - name: bad-key
    scope: host
    conditon: "true"
    actions: [alert: {}]
`),
		yamlFile("20-b.yaml", "rules:\n  - name: x\n   broken\n"),
		yamlFile("30-c.pignore", "nonsense\nexe:/bin/ok\n"),
		yamlFile("40-d.yaml", `rules:
  - name: good
    params: {nope: 1}
  - name: other
    scope: user
    condition: user.count > 1
    actions: [kill: {target: group}]
`),
	}
	rs, ps := LoadRules(files)
	checkProblems(t, files, ps, []wantProblem{
		{`10-a.yaml:12:5: unknown key "conditon" in a rule (known keys: name, description, scope, every, params, condition, severity, subject, message, actions, enabled, tags)`, "conditon"},
		{`10-a.yaml:10:11: new rule "bad-key" needs condition`, "bad-key"},
		{`20-b.yaml:3:4: invalid YAML: did not find expected '-' indicator`, "broken"},
		{`30-c.pignore:1:1: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`, "nonsense"},
		{`40-d.yaml:3:14: rule "good" has no param "nope" (it has: )`, "nope"},
		{`10-a.yaml:8:20: undefined field 'pidd'`, ".pidd"},
		{`40-d.yaml:7:30: kill target "group" does not fit a user-scope rule (use: user)`, "group"},
	})
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"good"}) {
		t.Errorf("compiled rules = %v, want [good]", names)
	}
	if len(rs.IgnoreProblems) != 1 || rs.Ignore.Len() != 1 {
		t.Errorf("ignore: %d problems, %d entries; want 1 and 1", len(rs.IgnoreProblems), rs.Ignore.Len())
	}
	if rs.Rule("bad-cel") != nil || rs.Rule("good") == nil {
		t.Error("RuleSet.Rule")
	}
}

func TestLoadRulesEmptyFiles(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "rules:\n", "rules: []\n", "---\n"} {
		rs, ps := LoadRules([]File{yamlFile("r.yaml", text)})
		if len(ps) > 0 || len(rs.Rules) != 0 {
			t.Errorf("%q: %d rules, problems %v", text, len(rs.Rules), ps)
		}
	}
}

const patchBase = `rules:
  - name: a
    description: base
    scope: process
    every: 1m
    params:
      x: 1h
      n: 1.5
      k: 3
      l: [a, b]
      b: true
    condition: "proc.pid > params.k"
    severity: info
    subject: "S {{.proc.pid}}"
    message: "M {{.params.n}}"
    actions:
      - alert: {}
      - suppress: {for: duration(params.x)}
    tags: [t1, t2]
`

func TestLoadRulesPatch(t *testing.T) {
	rs := loadOK(t,
		yamlFile("base.yaml", patchBase),
		yamlFile("p1.yaml", `rules:
  - name: a
    params: {n: 2, k: 5}
    description: patched
    tags: [t3]
    actions: [alert: {channels: [ops]}]
`),
		yamlFile("p2.yaml", `rules:
  - name: a
    params: {l: [c], k: 7}
    severity: critical
    enabled: false
`),
	)
	r := rs.Rule("a")
	if r.Description != "patched" || r.Severity != "critical" || r.Enabled || r.Every != time.Minute {
		t.Errorf("fields: description %q severity %q enabled %v every %v", r.Description, r.Severity, r.Enabled, r.Every)
	}
	// An integer replaces a double default and stays a double.
	wantParams := map[string]any{"x": "1h", "n": 2.0, "k": int64(7), "l": []any{"c"}, "b": true}
	if fmt.Sprint(r.Params) != fmt.Sprint(wantParams) {
		t.Errorf("params = %#v, want %#v", r.Params, wantParams)
	}
	if _, ok := r.Params["n"].(float64); !ok {
		t.Errorf("params.n is %T, want float64", r.Params["n"])
	}
	if !slices.Equal(r.Tags, []string{"t3"}) {
		t.Errorf("tags = %v: a patch replaces the whole list", r.Tags)
	}
	if len(r.Actions) != 1 || r.Actions[0].Kind != ActAlert || !slices.Equal(r.Actions[0].Channels, []string{"ops"}) {
		t.Errorf("actions = %+v: a patch replaces the whole list", r.Actions)
	}
	if got := r.Actions[0].Pos.String(); got != "p1.yaml:6:15" {
		t.Errorf("action position %s, want p1.yaml:6:15", got)
	}
	if r.Origin.String() != "base.yaml:2:11" {
		t.Errorf("Origin = %s", r.Origin)
	}
	if got := fmt.Sprint(r.Patches); got != "[p1.yaml:2:11 p2.yaml:2:11]" {
		t.Errorf("Patches = %s", got)
	}
	if names := slices.Sorted(maps.Keys(r.Params)); !slices.Equal(names, []string{"b", "k", "l", "n", "x"}) {
		t.Errorf("param names = %v", names)
	}
	// Untouched fields keep the definition's values.
	if r.Condition != "proc.pid > params.k" || r.Scope != ScopeProcess {
		t.Errorf("condition %q scope %q", r.Condition, r.Scope)
	}

	// The patched params are what the condition sees: k is 7.
	snap := &Snapshot{Procs: []Process{{PID: 7}, {PID: 8}}}
	r.Enabled = true
	ms, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 || len(ms) != 1 || ms[0].Proc.PID != 8 {
		t.Errorf("matches %v, errors %v; want pid 8 only", ms, errs)
	}
}

// A patch's condition is compiled against the effective params, and its
// errors point into the patch file.
func TestLoadRulesPatchCondition(t *testing.T) {
	files := []File{
		yamlFile("base.yaml", patchBase),
		yamlFile("p.yaml", "rules:\n  - name: a\n    condition: proc.pid > params.kk\n"),
	}
	_, ps := LoadRules(files)
	checkProblems(t, files, ps, []wantProblem{{`p.yaml:3:33: undefined field 'kk'`, ".kk"}})

	// A patch that changes the scope makes the old condition wrong, and
	// the error points at the definition.
	files = []File{
		yamlFile("base.yaml", patchBase),
		yamlFile("p.yaml", "rules:\n  - name: a\n    scope: user\n"),
	}
	_, ps = LoadRules(files)
	checkProblems(t, files, ps, []wantProblem{
		{`base.yaml:12:17: undeclared reference to 'proc'`, "proc.pid"},
		{`base.yaml:14:14: subject: subject:1:9: executing "subject" at <.proc.pid>: map has no entry for key "proc"`, `"S {{`},
	})
}

// Later files override earlier ones: the last patch of a field wins.
func TestLoadRulesLaterFilesOverride(t *testing.T) {
	rs := loadOK(t,
		yamlFile("a.yaml", patchBase),
		yamlFile("b.yaml", "rules:\n  - name: a\n    params: {k: 10}\n    severity: warning\n"),
		yamlFile("c.yaml", "rules:\n  - name: a\n    params: {k: 20}\n"),
	)
	r := rs.Rule("a")
	if r.Params["k"] != int64(20) || r.Severity != "warning" {
		t.Errorf("k = %v, severity %q", r.Params["k"], r.Severity)
	}
}

// A rule is defined in one file and patched in another; the rule order is
// the order of definition.
func TestLoadRulesOrder(t *testing.T) {
	rs := loadOK(t,
		yamlFile("a.yaml", "rules:\n  - {name: z, scope: host, condition: 'true', actions: [alert: {}]}\n  - {name: m, scope: host, condition: 'true', actions: [alert: {}]}\n"),
		yamlFile("b.yaml", "rules:\n  - {name: a, scope: host, condition: 'true', actions: [alert: {}]}\n  - {name: z, enabled: false}\n"),
	)
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"z", "m", "a"}) {
		t.Errorf("order = %v", names)
	}
	if rs.Rule("z").Enabled {
		t.Error("z was disabled by a patch")
	}
}

func TestLoadRulesDefaults(t *testing.T) {
	r := oneRule(t, okRule)
	if r.Severity != "warning" || !r.Enabled || r.Every != 0 || r.Description != "" || len(r.Tags) != 0 || len(r.Params) != 0 {
		t.Errorf("defaults: %+v", r)
	}
	if r.Needs() != 0 {
		t.Errorf("a rule that reads no socket needs %v", r.Needs())
	}
}

func TestLoadRulesParamTypes(t *testing.T) {
	r := oneRule(t, `rules:
  - name: a
    scope: host
    params:
      s: 512MiB
      i: 42
      f: 6.0
      b: false
      e: ""
      ls: [a, b]
      li: [1, 2]
      lm: [1, a]
      le: []
      hex: 0x10
    condition: >-
      params.s == "512MiB" && params.i == 42 && params.f == 6.0 && !params.b &&
      params.e == "" && params.ls == ["a", "b"] && params.li[1] == 2 &&
      params.lm.size() == 2 && params.le.size() == 0 && params.hex == 16 &&
      bytes(params.s) == 536870912
    actions: [alert: {}]
`)
	want := map[string]any{"s": "512MiB", "i": int64(42), "f": 6.0, "b": false, "e": "", "ls": []any{"a", "b"}, "li": []any{int64(1), int64(2)}, "lm": []any{int64(1), "a"}, "le": []any{}, "hex": int64(16)}
	for k, v := range want {
		if fmt.Sprintf("%T %v", r.Params[k], r.Params[k]) != fmt.Sprintf("%T %v", v, v) {
			t.Errorf("param %s = %T %v, want %T %v", k, r.Params[k], r.Params[k], v, v)
		}
	}
	rs := &RuleSet{Rules: []*Rule{r}, Ignore: &IgnoreList{}}
	ms, errs := rs.Evaluate(&Snapshot{}, nil)
	if len(errs) > 0 || len(ms) != 1 {
		t.Errorf("condition over params: %d matches, errors %v", len(ms), errs)
	}

	// A param typed as a string cannot be compared with an int, and an
	// integer param cannot be given to bytes() as a string.
	_, ps := LoadRules([]File{yamlFile("r.yaml", "rules:\n  - name: a\n    scope: host\n    params: {i: 4}\n    condition: params.i == \"4\"\n    actions: [alert: {}]\n")})
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "no matching overload for '_==_'") {
		t.Errorf("int param compared with a string: %v", ps)
	}
}

func TestLoadRulesActions(t *testing.T) {
	r := oneRule(t, `rules:
  - name: a
    scope: process
    params: {repeat: 2h, action: ""}
    condition: "true"
    actions:
      - alert: {channels: [ops, mail], subject: "s {{.proc.pid}}", message: "m", if: "proc.pid > 1"}
      - kill: {}
      - kill: {signal: TERM, grace: 5s, target: group}
      - kill: {signal: "15", target: session}
      - kill: {signal: sigterm, target: user}
      - kill: {signal: SIGHUP}
      - kill: {signal: 9}
      - run: {command: "/usr/local/bin/x", args: ["{{.proc.pid}}", plain], timeout: 5s}
      - run: {command: "{{.params.action}}"}
      - suppress: {for: 90s}
      - suppress: {for: duration(params.repeat), key: proc.exe}
`)
	type summary struct {
		kind     ActionKind
		if_      string
		signal   int
		sigName  string
		target   KillTarget
		grace    time.Duration
		command  string
		args     string
		timeout  time.Duration
		for_     time.Duration
		forCEL   string
		key      string
		channels string
		override bool
	}
	var got []summary
	for _, a := range r.Actions {
		got = append(got, summary{a.Kind, a.If, a.Signal, a.SignalName, a.Target, a.Grace, a.Command, strings.Join(a.Args, "|"), a.Timeout, a.For, a.ForCEL, a.Key, strings.Join(a.Channels, ","), a.OverridesText()})
	}
	want := []summary{
		{kind: ActAlert, if_: "proc.pid > 1", channels: "ops,mail", override: true},
		{kind: ActKill, signal: 9, sigName: "KILL", target: TargetProcess},
		{kind: ActKill, signal: 15, sigName: "TERM", target: TargetGroup, grace: 5 * time.Second},
		{kind: ActKill, signal: 15, sigName: "TERM", target: TargetSession},
		{kind: ActKill, signal: 15, sigName: "TERM", target: TargetUser},
		{kind: ActKill, signal: 1, sigName: "HUP", target: TargetProcess},
		{kind: ActKill, signal: 9, sigName: "KILL", target: TargetProcess},
		{kind: ActRun, command: "/usr/local/bin/x", args: "{{.proc.pid}}|plain", timeout: 5 * time.Second},
		{kind: ActRun, command: "{{.params.action}}", timeout: DefaultRunTimeout},
		{kind: ActSuppress, for_: 90 * time.Second},
		{kind: ActSuppress, forCEL: "duration(params.repeat)", key: "proc.exe"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d actions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("action %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}

	// The default kill target is the scope's entity.
	for scope, target := range map[string]KillTarget{"user": TargetUser, "session": TargetSession} {
		r := oneRule(t, strings.NewReplacer("scope: process", "scope: "+scope, "[alert: {}]", "[kill: {}]").Replace(okRule))
		if r.Actions[0].Target != target {
			t.Errorf("%s scope: default kill target %q, want %q", scope, r.Actions[0].Target, target)
		}
	}
}

func TestDirFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"rules.d/20-b.yml":          {Data: []byte("rules: []\n")},
		"rules.d/10-a.yaml":         {Data: []byte(okRule)},
		"rules.d/10-a_test.yaml":    {Data: []byte("tests: []\n")},
		"rules.d/05-ign.pignore":    {Data: []byte("Include sub/more.pignore\n")},
		"rules.d/README.md":         {Data: []byte("# no\n")},
		"rules.d/sub/more.pignore":  {Data: []byte("exe:/bin/x\n")},
		"rules.d/sub/ignored.yaml":  {Data: []byte("not read: [\n")},
		"rules.d/30-c.yaml.disable": {Data: []byte("x")},
	}
	files, err := DirFiles(fsys, "rules.d", "/etc/ptrule/rules.d")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	want := []string{"/etc/ptrule/rules.d/05-ign.pignore", "/etc/ptrule/rules.d/10-a.yaml", "/etc/ptrule/rules.d/20-b.yml"}
	if !slices.Equal(names, want) {
		t.Errorf("DirFiles = %v, want %v", names, want)
	}
	rs := loadOK(t, files...)
	if rs.Ignore.Len() != 1 || !rs.Ignore.Ignored(&Process{Exe: "/bin/x"}) {
		t.Errorf("the included ignore list was not read: %v", rs.Ignore.Entries())
	}
	if _, err := DirFiles(fsys, "nosuch", "x"); err == nil {
		t.Error("DirFiles of a missing directory: no error")
	}

	for name, want := range map[string][3]bool{
		"a.yaml": {true, false, false}, "a.yml": {true, false, false}, "a_test.yaml": {false, false, true},
		"a.pignore": {false, true, false}, "a.json": {false, false, false}, "a.yaml~": {false, false, false},
	} {
		got := [3]bool{IsRuleFile(name), IsIgnoreFile(name), IsFixtureFile(name)}
		if got != want {
			t.Errorf("%s: rule/ignore/fixture = %v, want %v", name, got, want)
		}
	}
}

// Problem columns count characters, like CEL's and YAML's, so a caret
// under a line with multi-byte text still lines up.
func TestProblemColumnsAreRunes(t *testing.T) {
	text := "rules:\n  - name: a\n    description: \"ünïcödé\"\n    scope: galaxy\n    condition: \"true\"\n    actions: [alert: {}]\n"
	_, ps := LoadRules([]File{yamlFile("r.yaml", text)})
	if len(ps) != 1 || ps[0].Pos.Col != 12 {
		t.Fatalf("got %v", ps)
	}
	text = "rules:\n  - {name: a, description: ü, scope: galaxy, condition: \"true\", actions: [alert: {}]}\n"
	_, ps = LoadRules([]File{yamlFile("r.yaml", text)})
	if len(ps) != 1 {
		t.Fatalf("got %v", ps)
	}
	line := []rune(ps[0].Source)
	if got := string(line[ps[0].Pos.Col-1:]); !strings.HasPrefix(got, "galaxy") || !utf8.ValidString(got) {
		t.Errorf("caret on %q", got)
	}
}

func BenchmarkLoadRules(b *testing.B) {
	files := []File{yamlFile("bench.yaml", benchRules), yamlFile("patch.yaml", "rules:\n  - name: bench-resources\n    params: {vmsize: 1GiB, kill: true}\n")}
	b.ReportAllocs()
	for b.Loop() {
		_, ps := LoadRules(files)
		if len(ps) > 0 {
			b.Fatal(FormatError(ps))
		}
	}
}

// TestPatchListKeepsElementType checks that a list param keeps the type of
// its default's elements.
func TestPatchListKeepsElementType(t *testing.T) {
	base := "rules:\n  - name: l\n    scope: process\n    params: {names: [a, b], limits: [1.5]}\n    condition: proc.user in params.names\n    actions: [alert: {}]\n"
	for _, tc := range []struct{ patch, want string }{
		{"rules:\n  - name: l\n    params: {names: [x, y, z]}\n", ""},
		{"rules:\n  - name: l\n    params: {limits: [2, 2.5]}\n", ""},
		{"rules:\n  - name: l\n    params: {names: [1, 2]}\n", `p.yaml:3:21: param "names" of rule "l" is a list of strings (default [a b] at b.yaml:4:21), not a list of integers`},
	} {
		_, ps := LoadRules([]File{{Path: "b.yaml", Data: []byte(base)}, {Path: "p.yaml", Data: []byte(tc.patch)}})
		got := ""
		if len(ps) > 0 {
			got = ps[0].Error()
		}
		if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("patch %q: got %q, want prefix %q", tc.patch, got, tc.want)
		}
	}
}
