package engine

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// userSnapshot returns n processes of user bob, each with the command
// line cmd (one shared string: the test's own memory stays small).
func userSnapshot(n int, cmd string) *Snapshot {
	s := &Snapshot{Time: t0, Host: Host{Name: "web1"}}
	for i := range n {
		s.Procs = append(s.Procs, Process{PID: 1000 + i, PPID: 1, PGID: 1000, SID: 1000, UID: 1001, User: "bob",
			Exe: "/usr/bin/perl", Comm: "perl", Cmdline: []string{"perl", cmd}, Cmd: "perl " + cmd, Start: t0})
	}
	return s
}

// userProcsRule is pt-user-procs' template in a rule that matches bob.
const userProcsRule = `rules:
  - name: many
    scope: user
    condition: user.name == "bob"
    subject: "Excessive processes running under user {{.user.name}} {{range .user.procs}}{{.cmd}}{{end}}"
    message: |
      Account: {{.user.name}} {{.user.count}}
      {{range .user.procs}}PID:{{.pid}} exe:{{.exe}} cmd:{{.cmd}} args:{{join .cmdline " "}}
      {{end}}
    actions: [alert: {}]
`

// TestRenderBoundedAlert renders alerts about processes with 1 MB
// command lines: fields, lists and the whole alert stay within their caps.
func TestRenderBoundedAlert(t *testing.T) {
	mb := strings.Repeat("A", 1<<20)
	for _, n := range []int{1, 11, 40, 150} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			m := matchOf(t, userProcsRule, userSnapshot(n, mb))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			subject, message, err := m.Render(NoEnricher{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			// Uncapped, 40 such processes took over a gigabyte; the data
			// of at most 100 capped processes and a capped buffer remain.
			// (150 processes: under 5 MiB.)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("rendering allocated %d MiB", alloc>>20)
			}
			if len(subject) > MaxSubject || len(subject)+len(message) > MaxAlertBytes {
				t.Errorf("subject %d bytes, alert %d bytes: over the caps %d and %d", len(subject), len(subject)+len(message), MaxSubject, MaxAlertBytes)
			}
			if !strings.Contains(subject, "…[truncated, ") || !strings.Contains(message, "…[truncated, ") {
				t.Errorf("a cut text carries no marker")
			}
			if !utf8.ValidString(subject) || !utf8.ValidString(message) {
				t.Errorf("a cut split a rune")
			}
			// One process: its entry is cut per field, not the alert.
			if n == 1 && !strings.Contains(message, "cmd:perl "+strings.Repeat("A", MaxFieldBytes-100)) {
				t.Errorf("the cmd field lost more than its cap")
			}
			more := fmt.Sprintf("… and %d more processes of user bob, not listed (an alert lists at most %d)", n-MaxListedProcs, MaxListedProcs)
			if got := strings.Contains(message, more); got != (n > MaxListedProcs) {
				t.Errorf("note %q present %v with %d processes:\n%s", more, got, n, message[max(0, len(message)-300):])
			}
		})
	}
}

// TestRenderProcListCap lists short processes: at most MaxListedProcs are
// listed, the note says how many more, and it ends the message.
func TestRenderProcListCap(t *testing.T) {
	m := matchOf(t, userProcsRule, userSnapshot(MaxListedProcs+7, "x"))
	_, message, err := m.Render(NoEnricher{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(message, "PID:"); got != MaxListedProcs {
		t.Errorf("%d processes listed, want %d", got, MaxListedProcs)
	}
	if !strings.HasSuffix(message, "\n\n… and 7 more processes of user bob, not listed (an alert lists at most 100)\n") {
		t.Errorf("message ends %q", message[max(0, len(message)-200):])
	}
}

// TestRenderCmdlineItems caps the number of cmdline items, ending with a
// count of the rest.
func TestRenderCmdlineItems(t *testing.T) {
	argv := make([]string, 10000)
	for i := range argv {
		argv[i] = "a"
	}
	snap := &Snapshot{Time: t0, Procs: []Process{{PID: 10, UID: 1001, User: "bob", Cmdline: argv}}}
	m := matchOf(t, `rules: [{name: r, scope: process, condition: "true", subject: "{{len .proc.cmdline}} {{index .proc.cmdline 256}}", actions: [alert: {}]}]`, snap)
	subject, _, err := m.Render(NoEnricher{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d …[%d more]", MaxListItems+1, 10000-MaxListItems); subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
}

// TestRenderRunArgCap renders a run argument from a huge command line: it
// stays under the kernel's limit for one string.
func TestRenderRunArgCap(t *testing.T) {
	snap := userSnapshot(200, strings.Repeat("B", 1<<20))
	m := matchOf(t, `rules: [{name: r, scope: user, condition: "true", actions: [run: {command: /bin/true, args: ["{{range .user.procs}}{{.cmd}}{{end}}"]}]}]`, snap)
	_, args, err := m.RenderRun(m.Actions[0], NoEnricher{})
	if err != nil {
		t.Fatal(err)
	}
	if len(args[0]) > MaxRunArg || !strings.HasSuffix(args[0], " bytes]") {
		t.Errorf("argument of %d bytes, ending %q", len(args[0]), args[0][max(0, len(args[0])-40):])
	}
}

// TestNeedsOf checks which templates build which process lists.
func TestNeedsOf(t *testing.T) {
	tests := []struct {
		src  string
		want needs
	}{
		{"{{.proc.pid}} {{.user.name}} {{join .user.pids \",\"}}", needs{}},
		{"{{range .user.procs}}{{.pid}}{{end}}", needs{procs: true}},
		{"{{with .session}}{{len .procs}}{{end}}", needs{procs: true}},
		{"{{$u := .user}}{{range $u.procs}}x{{end}}", needs{procs: true}},
		{"{{index .user \"procs\"}}", needs{procs: true}},
		{"{{if .proc}}{{else}}{{range .exe_procs}}{{end}}{{end}}", needs{exeProcs: true}},
		{"{{define \"x\"}}{{.exe_procs}}{{end}}{{template \"x\" .}}", needs{exeProcs: true}},
		{"{{(index .exe_procs 0).pid}}", needs{exeProcs: true}},
	}
	for _, tt := range tests {
		tpl, err := newTemplate("t").Parse(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := needsOf(tpl); got != tt.want {
			t.Errorf("needsOf(%q) = %+v, want %+v", tt.src, got, tt.want)
		}
	}
}

// TestTemplateDataOnlyWhatIsRead checks that a template that reads no
// process list gets none built.
func TestTemplateDataOnlyWhatIsRead(t *testing.T) {
	snap := sampleSnapshot()
	m := matchOf(t, `rules: [{name: r, scope: process, condition: proc.pid == 4300, actions: [alert: {}]}]`, snap)
	d, _ := m.templateData(needs{})
	if _, ok := d["exe_procs"]; ok {
		t.Error("exe_procs built")
	}
	if _, ok := d["user"].(map[string]any)["procs"]; ok {
		t.Error("user.procs built")
	}
	d, _ = m.templateData(allNeeds)
	if len(d["exe_procs"].([]any)) != 2 || len(d["user"].(map[string]any)["procs"].([]any)) != 3 {
		t.Errorf("lists %v %v", d["exe_procs"], d["user"].(map[string]any)["procs"])
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in  string
		max int
	}{
		{strings.Repeat("a", 10), 100},
		{strings.Repeat("a", 101), 100},
		{strings.Repeat("€", 1000), 100},
		{strings.Repeat("€", 1000), 101},
		{strings.Repeat("\xff", 500), 64},
	} {
		got := truncate(tc.in, tc.max)
		if len(tc.in) <= tc.max {
			if got != tc.in {
				t.Errorf("truncate changed a short string")
			}
			continue
		}
		i := strings.LastIndex(got, "…[truncated, ")
		if len(got) > tc.max || i < 0 || got[:i] != tc.in[:i] || got[i:] != fmt.Sprintf(truncatedMark, len(tc.in)-i) {
			t.Errorf("truncate(%d bytes, %d) = %q", len(tc.in), tc.max, got)
		}
		if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
			t.Errorf("truncate split a rune: %q", got)
		}
	}
}

func TestCappedWriter(t *testing.T) {
	w := &cappedWriter{max: 64}
	for range 100 {
		fmt.Fprint(w, "0123456789")
	}
	got := w.String()
	if len(got) > 64 || !strings.HasSuffix(got, fmt.Sprintf(truncatedMark, 1000-strings.Index(got, "…"))) {
		t.Errorf("String() = %q (%d bytes)", got, len(got))
	}
	if w.buf.Len() > 64 {
		t.Errorf("kept %d bytes, more than the cap", w.buf.Len())
	}
}

// BenchmarkRenderMatches renders every match of a process-scope rule whose
// template reads only the process, for one user with n processes: the
// cost per match must not grow with n.
func BenchmarkRenderMatches(b *testing.B) {
	benchRender(b, `{{.proc.cmd}} {{dur .proc.age}} {{.user.count}}`)
}

// BenchmarkRenderMatchesListing renders matches whose template lists the
// user's and the executable's processes: each list is cut at
// MaxListedProcs, so the cost per match stays bounded too.
func BenchmarkRenderMatchesListing(b *testing.B) {
	benchRender(b, `{{range .user.procs}}{{.pid}} {{end}}{{range .exe_procs}}{{.cmd}} {{end}}`)
}

func benchRender(b *testing.B, message string) {
	for _, n := range []int{500, 2000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			snap := userSnapshot(n, "worker --pool www")
			rs := loadOK(b, yamlFile("r.yaml", `rules: [{name: r, scope: process, condition: "true",
  subject: "{{.proc.user}} {{.proc.pid}}", message: "`+message+`", actions: [alert: {}]}]`))
			ms, errs := rs.Evaluate(snap, nil)
			if len(errs) > 0 || len(ms) != n {
				b.Fatalf("%d matches, %v", len(ms), errs)
			}
			b.ResetTimer()
			for b.Loop() {
				for _, m := range ms {
					if _, _, err := m.Render(NoEnricher{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestViewUserSessions counts the distinct sessions of each user's
// counted processes: ignored ones do not add a session.
func TestViewUserSessions(t *testing.T) {
	l, probs := ParseIgnore("t.pignore", []byte("exe:/usr/sbin/httpd\n"), 1, nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	s := NewView(NewSnapshot(t0, Host{}, Load{}, []Process{
		{PID: 10, SID: 10, UID: 1001, User: "bob", Exe: "/bin/sh"},
		{PID: 11, SID: 10, UID: 1001, User: "bob", Exe: "/bin/sh"},
		{PID: 12, SID: 12, UID: 1001, User: "bob", Exe: "/bin/sh"},
		{PID: 13, SID: 13, UID: 1001, User: "bob", Exe: "/usr/sbin/httpd"},
		{PID: 14, SID: 10, UID: 1002, User: "eve", Exe: "/bin/sh"},
		{PID: 15, SID: 15, UID: 48, User: "apache", Exe: "/usr/sbin/httpd"},
	}), l)
	for uid, want := range map[int]int{1001: 2, 1002: 1, 48: 0} {
		if u := s.UserOf(uid); u == nil || u.Sessions != want {
			t.Errorf("uid %d: %+v, want %d sessions", uid, u, want)
		}
	}
}

// FuzzTruncate checks truncate's promises on any text and cap: the
// result fits, keeps a prefix of the text, says how many bytes it left
// out, and does not split a rune of valid UTF-8.
func FuzzTruncate(f *testing.F) {
	f.Add("plain", 100)
	f.Add(strings.Repeat("€", 100), 64)
	f.Add(strings.Repeat("\xff\x00", 100), 40)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 40 || limit > 1<<20 {
			t.Skip()
		}
		got := truncate(s, limit)
		if len(s) <= limit {
			if got != s {
				t.Fatalf("changed a text within the cap")
			}
			return
		}
		i := strings.LastIndex(got, "…[truncated, ")
		if len(got) > limit || i < 0 || got[:i] != s[:i] || got[i:] != fmt.Sprintf(truncatedMark, len(s)-i) {
			t.Fatalf("truncate(%q, %d) = %q", s, limit, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("split a rune: %q", got)
		}
	})
}
