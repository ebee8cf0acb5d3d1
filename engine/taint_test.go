package engine

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestControlledOutput(t *testing.T) {
	tests := []struct {
		tpl string
		// want is the part reported; "" means nothing a process controls
		// is printed.
		want string
	}{
		{"plain text", ""},
		{"{{.proc.pid}}", ""},
		{"{{.proc.rss}} {{.proc.age}} {{.proc.start}} {{.now}} {{.load.avg1}} {{.host.cpus}}", ""},
		{"{{.params.to}} {{.rule.name}} {{.rule.description}}", ""},
		{"{{index .params.list 0}}", ""},
		{"{{.proc.cmd}}", "{{.proc.cmd}}"},
		{"{{.proc.cmdline}}", "{{.proc.cmdline}}"},
		{"{{.proc.comm}}", "{{.proc.comm}}"},
		{"{{.proc.exe}}", "{{.proc.exe}}"},
		{"{{.proc.user}}", "{{.proc.user}}"},
		{"{{.proc.parent_exe}}", "{{.proc.parent_exe}}"},
		{"{{.proc.unit}}{{.proc.cgroup}}", "{{.proc.unit}}"},
		{"{{.user.name}}", "{{.user.name}}"},
		{"{{.session.users}}", "{{.session.users}}"},
		{"{{.session.leader_exe}}", "{{.session.leader_exe}}"},
		{"{{.key}}", "{{.key}}"},
		{"{{.host.name}}", "{{.host.name}}"},
		{"{{.}}", "{{.}}"},
		{"{{.proc}}", "{{.proc}}"},
		{"{{$}}", "{{$}}"},
		{"{{$.proc.cmd}}", "{{$.proc.cmd}}"},
		{"{{(index .proc.connections 0).remote_ip}}", "{{(index .proc.connections 0).remote_ip}}"},
		{"{{(index .proc.connections 0).remote_port}}", ""},
		{"{{index .proc.cmdline 0}}", "{{index .proc.cmdline 0}}"},
		{"{{printf \"%s\" .proc.comm}}", `{{printf "%s" .proc.comm}}`},
		{"{{.proc.comm | printf \"%q\"}}", `{{.proc.comm | printf "%q"}}`},
		{"{{join .proc.cmdline \" \"}}", `{{join .proc.cmdline " "}}`},
		{"{{ps}}", "{{ps}}"},
		{"{{files .proc.pid}}", "{{files .proc.pid}}"},
		{"{{len .proc.cmdline}} {{size .proc.rss}} {{eq .proc.comm \"x\"}}", ""},
		{"{{if eq .proc.comm \"bash\"}}shell{{end}}", ""},
		{"{{if eq .proc.comm \"bash\"}}{{.proc.cmd}}{{end}}", "{{.proc.cmd}}"},
		{"{{with .proc}}{{.pid}}{{end}}", ""},
		{"{{with .proc}}{{.exe}}{{end}}", "{{.exe}}"},
		{"{{range .exe_procs}}{{.pid}} {{end}}", ""},
		{"{{range .exe_procs}}{{.cmd}} {{end}}", "{{.cmd}}"},
		{"{{range .user.procs}}{{.comm}}{{end}}", "{{.comm}}"},
		{"{{range .proc.cmdline}}{{.}}{{end}}", "{{.}}"},
		{"{{range $i, $a := .proc.cmdline}}{{$i}}{{end}}", ""},
		{"{{range $i, $a := .proc.cmdline}}{{$a}}{{end}}", "{{$a}}"},
		{"{{$x := .proc.cmd}}{{$x}}", "{{$x}}"},
		{"{{$x := .proc.cmd}}{{if true}}{{$x := 1}}{{end}}{{$x}}", "{{$x}}"},
		{"{{$x := .proc.pid}}{{$x}}", ""},
		{"{{define \"u\"}}{{.proc.cmd}}{{end}}{{template \"u\" .}}", `{{template "u" .}}`},
		{"{{define \"u\"}}x{{end}}{{template \"u\"}}", ""},
		{"{{with $c := .proc.cmd}}{{$c}}{{end}}", "{{$c}}"},
	}
	for _, tt := range tests {
		t.Run(tt.tpl, func(t *testing.T) {
			tpl, err := newTemplate("t").Parse(tt.tpl)
			if err != nil {
				t.Fatal(err)
			}
			if got := ControlledOutput(tpl); got != tt.want {
				t.Errorf("ControlledOutput = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsInterpreter(t *testing.T) {
	for cmd, want := range map[string]bool{
		"/bin/sh": true, "/usr/bin/bash": true, "/usr/bin/python3": true, "/usr/bin/python3.12": true,
		"/usr/bin/perl5.36": true, "/usr/bin/env": true, "/usr/bin/xargs": true, "/usr/bin/sudo": true,
		"/bin/busybox": true, "/usr/bin/awk": true, "/usr/bin/find": true,
		"/usr/local/sbin/notify-admin": false, "/etc/ptrule/script.sh": false, "/usr/bin/logger": false,
		"/usr/bin/shred": false, "/usr/bin/envsubst": false,
	} {
		if got := IsInterpreter(cmd); got != want {
			t.Errorf("IsInterpreter(%q) = %t, want %t", cmd, got, want)
		}
	}
}

// interpreterPattern is the regular expression IsInterpreter once was,
// kept as the reference its faster matcher must agree with.
var interpreterPattern = regexp.MustCompile(`^(` +
	// shells
	`sh|bash|dash|zsh|ksh|ksh93|mksh|pdksh|ash|csh|tcsh|fish|rc|yash|posh|busybox|toybox|` +
	// interpreters
	`perl|python|pypy|ruby|irb|php|php-cgi|node|nodejs|deno|bun|lua|luajit|tclsh|wish|expect|` +
	`awk|gawk|mawk|nawk|sed|gsed|m4|make|gdb|jq|pwsh|powershell|rscript|julia|guile|racket|` +
	`java|jshell|groovy|scala|erl|escript|elixir|vim|vi|nvim|ex|emacs|ed|` +
	// launchers
	`env|xargs|su|sudo|doas|runuser|setpriv|nohup|nice|ionice|chrt|taskset|timeout|stdbuf|` +
	`setsid|chroot|unshare|nsenter|flock|time|watch|script|ssh|systemd-run|at|batch|find|` +
	`parallel|tmux|screen|strace|ltrace|valgrind|exec|eval|command|builtin` +
	`)[0-9.]*$`)

// interpreterCorpus is every interpreter name with and without versions,
// in capitals, and near misses on either side.
func interpreterCorpus() []string {
	var out []string
	for n := range interpreterNames {
		for _, v := range []string{"", "3", "3.12", ".", "5.36.0", "x", "-x", "3x", ".py", "_"} {
			for _, name := range []string{n + v, strings.ToUpper(n) + v, "x" + n + v, n[:len(n)-1] + v} {
				out = append(out, name, "/usr/bin/"+name, "/opt/"+name+"/bin/tool")
			}
		}
	}
	return append(out, "", "/", ".", "..", "3", "/usr/bin/3.12", "/usr/bin/.", "KSH93", "ksh9", "m", "m44", "php-cgi7.4", "systemd-run2")
}

// TestIsInterpreterMatchesPattern holds IsInterpreter to the regular
// expression it replaced.
func TestIsInterpreterMatchesPattern(t *testing.T) {
	for _, cmd := range interpreterCorpus() {
		want := interpreterPattern.MatchString(strings.ToLower(path.Base(cmd)))
		if got := IsInterpreter(cmd); got != want {
			t.Errorf("IsInterpreter(%q) = %t, the pattern says %t", cmd, got, want)
		}
	}
}

// FuzzIsInterpreter holds IsInterpreter to the regular expression it
// replaced on any command.
func FuzzIsInterpreter(f *testing.F) {
	for _, cmd := range interpreterCorpus() {
		f.Add(cmd)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		want := interpreterPattern.MatchString(strings.ToLower(path.Base(cmd)))
		if got := IsInterpreter(cmd); got != want {
			t.Errorf("IsInterpreter(%q) = %t, the pattern says %t", cmd, got, want)
		}
	})
}

// BenchmarkIsInterpreter compares the start-up cost of the two: compiling
// the regular expression against building the set.
func BenchmarkIsInterpreter(b *testing.B) {
	b.Run("regexp-compile", func(b *testing.B) {
		for b.Loop() {
			regexp.MustCompile(interpreterPattern.String())
		}
	})
	b.Run("set", func(b *testing.B) {
		for b.Loop() {
			interpreterSet()
		}
	})
}

// TestLoadRefusesProcessTextToInterpreters: a run action that hands an
// interpreter text a process chose is a load error pointing at the
// argument; facts that are numbers, params, and any argument of a
// program that is not an interpreter stay fine.
func TestLoadRefusesProcessTextToInterpreters(t *testing.T) {
	const rule = `rules:
  - name: a
    scope: process
    params: {script: /etc/ptrule/kill.sh, shell: /bin/sh, tool: /usr/local/bin/report}
    condition: "true"
    actions:
      - run: RUN
`
	tests := []struct {
		name, run string
		// want is the problem's text up to its message; "" means it loads.
		want string
	}{
		{"shell -c with the command line", `{command: /bin/sh, args: ["-c", "logger {{.proc.cmd}}"]}`,
			`r.yaml:7:46: run: /bin/sh runs its arguments as code or as another command, and this argument hands it {{.proc.cmd}}, which a process controls`},
		{"perl -e with the comm", `{command: /usr/bin/perl, args: ["-e", "print '{{.proc.comm}}'"]}`,
			`r.yaml:7:52: run: /usr/bin/perl runs`},
		{"env with the exe", `{command: /usr/bin/env, args: ["{{.proc.exe}}"]}`,
			`r.yaml:7:45: run: /usr/bin/env runs`},
		{"python3.12 with a user name", `{command: /usr/bin/python3.12, args: ["-c", "{{.user.name}}"]}`,
			`r.yaml:7:58: run: /usr/bin/python3.12 runs`},
		{"interpreter named by a param", `{command: "{{.params.shell}}", args: ["-c", "echo {{.proc.cmd}}"]}`,
			`r.yaml:7:58: run: /bin/sh runs`},
		{"command from the process", `{command: "{{.proc.exe}}"}`,
			`r.yaml:7:24: run command takes {{.proc.exe}}, which a process controls`},
		{"a script with the pid", `{command: /bin/sh, args: [/etc/ptrule/script.sh, "{{.proc.pid}}"]}`, ""},
		{"a shell with params", `{command: /bin/sh, args: ["{{.params.script}}", "{{.rule.name}}"]}`, ""},
		{"a program that is not an interpreter", `{command: /usr/local/bin/notify, args: ["{{.proc.cmd}}"]}`, ""},
		{"a param program that is not an interpreter", `{command: "{{.params.tool}}", args: ["{{.proc.cmd}}"]}`, ""},
		{"a program chosen by a number", `{command: "/usr/local/bin/x{{.proc.pid}}", args: ["{{.proc.cmd}}"]}`,
			`r.yaml:7:64: run: a program known only when the rule fires, which may be an interpreter, runs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := LoadRules([]File{yamlFile("r.yaml", strings.Replace(rule, "RUN", tt.run, 1))})
			if tt.want == "" {
				if len(ps) > 0 {
					t.Fatalf("load failed: %v", ps)
				}
				return
			}
			if len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), tt.want) {
				t.Fatalf("problems:\n%v\nwant one starting %q", ps, tt.want)
			}
			if !strings.Contains(ps[0].Msg, "PTRULE_") {
				t.Errorf("the problem does not point to the PTRULE_* environment: %s", ps[0].Msg)
			}
		})
	}
}
