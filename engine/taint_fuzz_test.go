package engine

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// bigNumber matches a number large enough to make a template slow.
var bigNumber = regexp.MustCompile(`[0-9]{4,}`)

// taintMark fills every string fact of taintSnapshot: output that holds it
// came from a process.
const taintMark = "QXTAINTQX"

// taintSnapshot is a process-scope match whose every string fact a
// process could have chosen holds taintMark.
func taintMatch() *Match {
	m := taintMark
	snap := NewView(NewSnapshot(FixtureEpoch, Host{Name: m, CPUs: 2}, Load{}, []Process{{
		PID: 1, PPID: 1, PGID: 1, SID: 1, UID: 1, User: m, Exe: m, Comm: m, Cmdline: []string{m, m}, Cmd: m,
		State: m, ParentExe: m, PgrpExe: m, Unit: m, Cgroup: m,
		Connections: []Socket{{Proto: m, LocalIP: m, RemoteIP: m, State: m}},
		Listening:   []Socket{{Proto: m, LocalIP: m, RemoteIP: m, State: m}},
	}}), nil)
	return &Match{Rule: &Rule{Name: "r", Scope: ScopeProcess}, Key: m, vars: vars{
		snap: snap, params: map[string]any{"s": "admin", "n": int64(3), "l": []any{"a", "b"}},
		proc: &snap.Procs[0], user: &snap.Users()[0], session: &snap.Sessions()[0],
	}}
}

// FuzzControlledOutput checks that the static check is sound: a template
// it passes never prints a process-controlled string when it runs.
func FuzzControlledOutput(f *testing.F) {
	for _, s := range []string{
		"{{.proc.pid}}", "{{.proc.cmd}}", "{{with .proc}}{{.pid}}{{end}}", "{{range .exe_procs}}{{.cmd}}{{end}}",
		"{{$x := .proc.cmdline}}{{index $x 0}}", "{{.params.s}}", "{{printf \"%v\" .user}}", "{{range $k, $v := .proc}}{{$v}}{{end}}",
		"{{if .proc.exe}}{{.proc.uid}}{{end}}", "{{(index .proc.connections 0).remote_port}}", "{{.session.users}}",
	} {
		f.Add(s)
	}
	data, _ := taintMatch().templateData(allNeeds)
	f.Fuzz(func(t *testing.T, text string) {
		if unboundedRange([]byte(text)) || bigNumber.MatchString(text) || strings.Contains(text, "template") {
			// A loop over a large number, a printf width of a billion or
			// a template that calls itself costs time and memory in
			// text/template, not in the check.
			return
		}
		tpl, err := newTemplate("t").Parse(text)
		if err != nil {
			return
		}
		found := ControlledOutput(tpl)
		out, err := execute(tpl, NoEnricher{}, nil, data, MaxAlertBytes)
		if err != nil || found != "" {
			return
		}
		if strings.Contains(out, taintMark) {
			t.Fatalf("%q passed the check but printed process text: %q", text, out)
		}
	})
}

// FuzzMaskSecret checks that masking never panics, keeps the caret on
// the line, and hides a password value after any indentation or list
// markers.
func FuzzMaskSecret(f *testing.F) {
	f.Add("  ", "hunter2", 3)
	f.Add("  - {", "xoxb-123", 10)
	f.Add("", "https//h/T0", 14)
	f.Fuzz(func(t *testing.T, prefix, secret string, col int) {
		if !utf8.ValidString(prefix) || !utf8.ValidString(secret) || strings.ContainsAny(secret, "\n\r\"'#,{}[]: \t") || len(secret) < 3 {
			return
		}
		if strings.ContainsAny(secret[:1], "&*|>!%@`-?") {
			return // YAML anchors, aliases, block and tag indicators are not values
		}
		if strings.ContainsAny(prefix, "\n\r:\"'#") {
			return
		}
		line := prefix + " password: " + secret
		if col < 0 || col > utf8.RuneCountInString(line)+1 {
			col = 1
		}
		p := &Problem{Pos: Pos{File: "f", Line: 1, Col: col}, Msg: "value " + secret, Source: line}
		p.maskSecret()
		caret := p.Pos.Col
		if p.caret > 0 {
			caret = p.caret
		}
		if caret > utf8.RuneCountInString(p.Source)+1 {
			t.Fatalf("caret %d past %q", caret, p.Source)
		}
		if strings.Contains(p.Source, " password: "+secret) || strings.Contains(p.Msg, secret) {
			t.Fatalf("secret shown: %q / %q", p.Source, p.Msg)
		}
	})
}
