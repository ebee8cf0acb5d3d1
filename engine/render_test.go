package engine

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// matchOf loads one rule, evaluates it on snap and returns its only match.
func matchOf(t *testing.T, text string, snap *Snapshot) *Match {
	t.Helper()
	ms, errs := evalOne(t, text, snap)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(ms) != 1 {
		t.Fatalf("%d matches, want 1", len(ms))
	}
	return ms[0]
}

func TestRenderSubjectAndMessage(t *testing.T) {
	m := matchOf(t, `rules:
  - name: site-vmsize
    description: too big
    scope: process
    severity: critical
    params: {limit: 512MiB, n: 3, on: true}
    condition: proc.pid == 4300
    subject: "Excessive usage: {{.proc.user}} ({{.proc.pid}}) on {{.host.name}}"
    message: |
      Rule:    {{.rule.name}} ({{.rule.severity}}, {{.rule.scope}}): {{.rule.description}}
      Time:    {{.now.Format "2006-01-02 15:04:05 MST"}}
      Exe:     {{.proc.exe}} [{{.proc.comm}}] {{join .proc.cmdline "|"}}
      Memory:  {{size .proc.vmsize}} (limit {{.params.limit}}, {{bytes .params.limit}} bytes){{if gt .proc.vmsize (bytes .params.limit)}} over{{end}}
      Age:     {{dur .proc.age}}{{if gt .proc.age (duration "1h")}} old{{end}}
      Start:   {{.proc.start.Format "15:04"}}
      Params:  {{.params.n}} {{.params.on}}
      User:    {{.user.name}} {{.user.count}} {{join .user.pids ","}} {{range .user.procs}}{{.pid}}:{{.comm}} {{end}}
      Session: {{.session.sid}} {{join .session.users ","}} {{range .session.procs}}{{.pid}} {{end}}
      Same:    {{range .exe_procs}}{{.pid}} {{end}}
      Load:    {{.load.avg1}} {{.load.total}} cpus={{.host.cpus}} up={{dur .host.uptime}}
      Key:     {{.key}} ignored={{.ignored}}
      Net:     {{range .proc.connections}}{{.proto}} {{.remote_ip}}:{{.remote_port}}{{end}}
    actions: [alert: {}]
`, sampleSnapshot())
	subject, message, err := m.Render(NoEnricher{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Excessive usage: bob (4300) on web1"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	want := `Rule:    site-vmsize (critical, process): too big
Time:    2026-03-01 12:00:00 UTC
Exe:     /usr/bin/php [php] php|worker.php
Memory:  600 MiB (limit 512MiB, 536870912 bytes) over
Age:     2h old
Start:   10:00
Params:  3 true
User:    bob 3 4200,4300,4301 4200:bash 4300:php 4301:php 
Session: 4200 bob 4200 4300 4301 
Same:    4300 4301 
Load:    2.5 8 cpus=4 up=48h
Key:     4300@16560000 ignored=false
Net:     tcp 198.51.100.7:6667
`
	if message != want {
		t.Errorf("message:\n%s\nwant\n%s", message, want)
	}
}

func TestRenderDefaultSubject(t *testing.T) {
	tests := []struct{ scope, cond, want string }{
		{"process", "proc.pid == 6000", "a: pid 6000 (1003)"},
		{"user", `user.name == "alice"`, "a: user alice"},
		{"session", "session.sid == 4200", "a: session 4200"},
		{"host", "true", "a: host web1"},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			m := matchOf(t, ruleText("a", tt.scope, "", tt.cond, "[alert: {}]"), sampleSnapshot())
			subject, message, err := m.Render(NoEnricher{})
			if err != nil || subject != tt.want || message != "" {
				t.Errorf("Render = %q, %q, %v; want %q and no message", subject, message, err, tt.want)
			}
		})
	}
}

func TestRenderAlertOverrides(t *testing.T) {
	m := matchOf(t, `rules:
  - name: a
    scope: process
    condition: proc.pid == 4300
    subject: "rule subject {{.proc.pid}}"
    message: "rule message {{.proc.user}}"
    actions:
      - alert: {}
      - alert: {channels: [ops], subject: "ops subject {{.proc.comm}}"}
      - alert: {channels: [mail], message: "mail message {{.proc.exe}}"}
      - alert: {channels: [both], subject: "S {{.rule.name}}", message: "M {{.params}}"}
`, sampleSnapshot())
	want := [][2]string{
		{"rule subject 4300", "rule message bob"},
		{"ops subject php", "rule message bob"},
		{"rule subject 4300", "mail message /usr/bin/php"},
		{"S a", "M map[]"},
	}
	for i, a := range m.Actions {
		subject, message, err := m.RenderAlert(a, NoEnricher{})
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{subject, message}; got != want[i] {
			t.Errorf("alert %d: %q, want %q", i, got, want[i])
		}
		if a.OverridesText() != (i > 0) {
			t.Errorf("alert %d: OverridesText = %v", i, a.OverridesText())
		}
	}
	// nil is the rule's own text.
	if s, msg, _ := m.RenderAlert(nil, NoEnricher{}); s != "rule subject 4300" || msg != "rule message bob" {
		t.Errorf("RenderAlert(nil) = %q, %q", s, msg)
	}

	// An alert overriding only the message of a rule without a subject
	// gets the default subject.
	m = matchOf(t, ruleText("a", "host", "", "true", `[alert: {message: "hi"}]`), sampleSnapshot())
	if s, msg, _ := m.RenderAlert(m.Actions[0], NoEnricher{}); s != "a: host web1" || msg != "hi" {
		t.Errorf("RenderAlert = %q, %q", s, msg)
	}
}

func TestRenderRun(t *testing.T) {
	m := matchOf(t, `rules:
  - name: a
    scope: process
    params: {action: /usr/local/bin/notify}
    condition: proc.pid == 4300
    actions:
      - run: {command: "{{.params.action}}", args: ["{{.proc.pid}}", "{{.proc.user}}", "literal", "{{.proc.cmd}}"]}
      - run: {command: /bin/true}
`, sampleSnapshot())
	cmd, args, err := m.RenderRun(m.Actions[0], NoEnricher{})
	if err != nil || cmd != "/usr/local/bin/notify" || strings.Join(args, "|") != "4300|bob|literal|php worker.php" {
		t.Errorf("RenderRun = %q %q %v", cmd, args, err)
	}
	cmd, args, err = m.RenderRun(m.Actions[1], NoEnricher{})
	if err != nil || cmd != "/bin/true" || args != nil {
		t.Errorf("RenderRun without args = %q %q %v", cmd, args, err)
	}
}

func TestRenderErrors(t *testing.T) {
	m := matchOf(t, ruleText("a", "process", "", "proc.pid == 4300", `[alert: {}, run: {command: /bin/x, args: ["{{index .proc.cmdline 9}}"]}]`)+
		`    subject: "{{index .proc.cmdline 7}}"`+"\n", sampleSnapshot())
	if _, _, err := m.Render(NoEnricher{}); err == nil || !strings.HasPrefix(err.Error(), "rule a: subject: ") || !strings.Contains(err.Error(), "index out of range: 7") {
		t.Errorf("subject error: %v", err)
	}
	if _, _, err := m.RenderRun(m.Actions[1], NoEnricher{}); err == nil || !strings.HasPrefix(err.Error(), "rule a: run argument 1: ") {
		t.Errorf("run error: %v", err)
	}
	m = matchOf(t, ruleText("a", "process", "", "proc.pid == 4300", "[alert: {}]")+
		`    message: "{{index .proc.cmdline 7}}"`+"\n", sampleSnapshot())
	if _, _, err := m.Render(NoEnricher{}); err == nil || !strings.HasPrefix(err.Error(), "rule a: message: ") {
		t.Errorf("message error: %v", err)
	}
}

// recordingEnricher answers with what it was asked.
type recordingEnricher struct{ calls []string }

func (r *recordingEnricher) note(s string) string          { r.calls = append(r.calls, s); return "<" + s + ">" }
func (r *recordingEnricher) OpenFiles(pid int) string      { return r.note("files " + strconv.Itoa(pid)) }
func (r *recordingEnricher) MemoryMaps(pid int) string     { return r.note("maps " + strconv.Itoa(pid)) }
func (r *recordingEnricher) ProcessTable(*Snapshot) string { return r.note("ps") }
func (r *recordingEnricher) MemoryStats() string           { return r.note("vmstat") }
func (r *recordingEnricher) NetworkConnections() string    { return r.note("netstat") }
func (r *recordingEnricher) HTTPGet(url string) string     { return r.note("fetch " + url) }

func TestRenderEnricher(t *testing.T) {
	m := matchOf(t, ruleText("a", "process", "{url: http://127.0.0.1/status}", "proc.pid == 4300", "[alert: {}]")+
		`    message: "{{files .proc.pid}} {{maps .proc.pid}} {{ps}} {{vmstat}} {{netstat}} {{fetch .params.url}}"`+"\n", sampleSnapshot())
	e := &recordingEnricher{}
	_, msg, err := m.Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<files 4300> <maps 4300> <ps> <vmstat> <netstat> <fetch http://127.0.0.1/status>"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	// Without an enricher, nothing is read.
	if _, msg, _ := m.Render(NoEnricher{}); msg != "     " {
		t.Errorf("NoEnricher message %q", msg)
	}
	// The enricher of one rendering does not leak into the next.
	e2 := &recordingEnricher{}
	if _, _, err := m.Render(e2); err != nil || len(e2.calls) != 6 || len(e.calls) != 6 {
		t.Errorf("calls %v %v", e.calls, e2.calls)
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"/usr/bin/php", "/usr/bin/php"},
		{"a b\tc", `a b\tc`},
		{"line1\nline2", `line1\nline2`},
		{"cr\rlf", `cr\rlf`},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`},
		{"nul\x00", `nul\x00`},
		{"del\x7f", `del\x7f`},
		{`back\slash`, `back\\slash`},
		{`\n`, `\\n`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"été ünïcode ☃", "été ünïcode ☃"},
		{"c1\u0085control\u009b", `c1\x85control\x9b`},
		{"\xe2\x82", `\xe2\x82`},
		{"safe\u202egpj.exe", `safe\u202egpj.exe`},
		{"one\u2028two\u2029three", `one\u2028two\u2029three`},
		{"zero\u200bwidth", `zero\u200bwidth`},
	}
	for _, tt := range tests {
		if got := Display(tt.in); got != tt.want {
			t.Errorf("Display(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Strings that a process controls reach people escaped, wherever the
// template finds them.
func TestRenderEscapesHostileProcesses(t *testing.T) {
	snap := &Snapshot{Time: t0, Host: Host{Name: "web1\nX-Injected: yes"}, Procs: []Process{{
		PID: 66, PPID: 1, PGID: 66, SID: 66, UID: 1001, User: "bob",
		Exe: "/tmp/evil\nSubject: fake", Comm: "\x1b[2Jcomm", Cmdline: []string{"evil", "arg\r\nX: y", "\xff"},
		Cmd: "evil arg\r\nX: y \xff", Unit: "u\\nit", Cgroup: "/c\tg",
		Connections: []Socket{{Proto: "tcp", RemoteIP: "1.2.3.4\n"}},
	}}}
	m := matchOf(t, ruleText("a", "process", "", "true", "[alert: {}]")+
		"    subject: \"{{.proc.exe}}\"\n"+
		"    message: \"{{.proc.comm}}|{{join .proc.cmdline \\\",\\\"}}|{{.proc.cmd}}|{{.proc.unit}}|{{.proc.cgroup}}|{{range .proc.connections}}{{.remote_ip}}{{end}}|{{range .user.procs}}{{.exe}}{{end}}|{{range .session.procs}}{{.comm}}{{end}}|{{range .exe_procs}}{{.cmd}}{{end}}|{{.host.name}}\"\n", snap)
	subject, message, err := m.Render(NoEnricher{})
	if err != nil {
		t.Fatal(err)
	}
	if subject != `/tmp/evil\nSubject: fake` {
		t.Errorf("subject %q", subject)
	}
	want := `\x1b[2Jcomm|evil,arg\r\nX: y,\xff|evil arg\r\nX: y \xff|u\\nit|/c\tg|1.2.3.4\n|/tmp/evil\nSubject: fake|\x1b[2Jcomm|evil arg\r\nX: y \xff|web1\nX-Injected: yes`
	if message != want {
		t.Errorf("message\n%q\nwant\n%q", message, want)
	}
	if text := subject + message; strings.ContainsAny(text, "\n\r\x1b") || !utf8.ValidString(text) {
		t.Error("a control character or invalid byte reached the text")
	}
	if m.Entity() != "pid 66 (bob)" {
		t.Errorf("Entity %q", m.Entity())
	}
	// The entity of a hostile host name is escaped too.
	m = matchOf(t, ruleText("a", "host", "", "true", "[alert: {}]"), snap)
	if s, _, _ := m.Render(NoEnricher{}); s != `a: host web1\nX-Injected: yes` {
		t.Errorf("host subject %q", s)
	}
	// The facts themselves are unchanged: rules compare the real values.
	if snap.Procs[0].Exe != "/tmp/evil\nSubject: fake" {
		t.Error("rendering changed the snapshot")
	}
}

func TestTemplateHelpers(t *testing.T) {
	sizes := []struct {
		in   any
		want string
	}{
		{0, "0 B"}, {int64(1023), "1023 B"}, {1024, "1 KiB"}, {int64(1536), "1.5 KiB"},
		{int64(600 << 20), "600 MiB"}, {int64(3 << 29), "1.5 GiB"}, {int64(1 << 40), "1 TiB"},
		{int64(1 << 50), "1 PiB"}, {int64(1 << 60), "1024 PiB"}, {1.5 * 1024 * 1024, "1.5 MiB"},
		{int64(1048575), "1.0 MiB"}, {int64(1048575 << 10), "1.0 GiB"},
		{"x", "x"},
	}
	for _, s := range sizes {
		if got := humanSize(s.in); got != s.want {
			t.Errorf("size(%v) = %q, want %q", s.in, got, s.want)
		}
	}
	durs := []struct {
		in   any
		want string
	}{
		{time.Duration(0), "0s"}, {45 * time.Second, "45s"}, {90 * time.Second, "1m30s"},
		{2 * time.Minute, "2m"}, {time.Hour, "1h"}, {2*time.Hour + 3*time.Second, "2h0m3s"},
		{time.Hour + 10*time.Minute, "1h10m"}, {1500 * time.Millisecond, "2s"}, {48 * time.Hour, "48h"},
		{"x", "x"},
	}
	for _, d := range durs {
		if got := humanDuration(d.in); got != d.want {
			t.Errorf("dur(%v) = %q, want %q", d.in, got, d.want)
		}
	}
	if got := join([]int{1, 2, 3}, ", "); got != "1, 2, 3" {
		t.Errorf("join ints = %q", got)
	}
	if got := join([]any{"a", 1}, ""); got != "a1" {
		t.Errorf("join any = %q", got)
	}
	if got := join("notalist", ","); got != "notalist" {
		t.Errorf("join string = %q", got)
	}
	if got := indent(2, "a\nb\n"); got != "  a\n  b" {
		t.Errorf("indent = %q", got)
	}
	if got := indent(4, ""); got != "    " {
		t.Errorf("indent empty = %q", got)
	}

	// The helpers as templates call them.
	m := matchOf(t, ruleText("a", "process", "{lim: 1GiB, t: 90m}", "proc.pid == 4300", "[alert: {}]")+
		"    message: \"{{size .proc.rss}}/{{size (bytes .params.lim)}} {{dur .proc.age}}/{{dur (duration .params.t)}} {{indent 2 \\\"x\\\\ny\\\"}}\"\n", sampleSnapshot())
	if _, msg, err := m.Render(NoEnricher{}); err != nil || msg != "150 MiB/1 GiB 2h/1h30m   x\n  y" {
		t.Errorf("helpers: %q %v", msg, err)
	}
}
