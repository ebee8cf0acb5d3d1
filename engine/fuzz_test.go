package engine

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"unicode/utf8"
)

// boundedRange matches the template ranges whose length a snapshot
// bounds: over the lists of the facts.
var boundedRange = regexp.MustCompile(`range\s+(\$\w+\s*(,\s*\$\w+\s*)?:=\s*)?\$?\.(proc\.(connections|listening|cmdline)|user\.(procs|pids)|session\.(procs|pids|users)|exe_procs)\b`)

// unboundedRange reports whether a template may range over a number
// ({{range 100000000000}}): text/template has no budget, so loading such
// a rule runs as long as the number says (a known limitation, not what
// these fuzz tests look for).
func unboundedRange(data []byte) bool {
	return bytes.Contains(boundedRange.ReplaceAll(data, nil), []byte("range"))
}

// checkFuzzProblems checks what every problem must have: a file, a
// non-negative line and column, a message, a caret inside or just past
// its source line.
func checkFuzzProblems(t *testing.T, ps Problems) {
	t.Helper()
	for _, p := range ps {
		if p == nil {
			t.Fatal("nil problem")
		}
		if p.Pos.File == "" || p.Pos.Line < 0 || p.Pos.Col < 0 {
			t.Fatalf("bad position %#v: %v", p.Pos, p)
		}
		if p.Msg == "" {
			t.Fatalf("empty message at %v", p.Pos)
		}
		col := p.Pos.Col
		if p.caret > 0 {
			col = p.caret // masking a secret moved it
		}
		if p.Source != "" && col > utf8.RuneCountInString(p.Source)+1 {
			t.Fatalf("caret past the end of its line: %s", p.Excerpt())
		}
		_ = p.Excerpt()
	}
	_ = FormatError(ps)
}

// fuzzSnapshot is a small host with every kind of entity: few processes,
// so that an expensive expression costs little fuzzing time.
func fuzzSnapshot() *Snapshot {
	s := sampleSnapshot()
	s.Procs = append(s.Procs[:2], Process{PID: 9000, PPID: 1, PGID: 9000, SID: 9000, UID: 1001, User: "bob\n\x1b", Exe: "/tmp/\xff", Cmdline: []string{}, State: "Z"})
	return s
}

// seedFiles adds the rule files found in dirs (and their fixtures) as
// seeds.
func seedFiles(f *testing.F, pattern string, dirs ...string) {
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			if data, err := os.ReadFile(m); err == nil {
				f.Add(data)
			}
		}
	}
}

// FuzzLoadRules feeds rule files to LoadRules, after a base file so that
// patches meet a rule, and evaluates, decides and renders whatever loads.
func FuzzLoadRules(f *testing.F) {
	for _, s := range []string{
		"",
		"---\n",
		okRule,
		patchBase,
		benchRules,
		"rules:\n  - name: fx-vmsize\n    params: {limit: 1GiB, repeat: 2h}\n    enabled: false\n",
		"rules:\n  - name: fx-vmsize\n    params: {limit: 5}\n  - name: fx-old\n    scope: user\n",
		"rules:\n  - name: a\n    scope: process\n    condition: >-\n      proc.pid > 1 &&\n        proc.pidd > 1\n    actions: [alert: {}]\n",
		"rules:\n  - name: a\n    scope: process\n    condition: |\n      proc.exe.matches(\"^/usr/\") &&\n      bytes(\"1.5GiB\") > proc.rss\n    actions: [alert: {}]\n",
		"rules:\n  - name: a\n    scope: process\n    condition: \"proc.exe == \\\"x\\\" && proc.pidd > 1\"\n    actions: [alert: {}]\n",
		"rules:\n  - name: a\n    scope: process\n    condition: 'proc.exe == ''x'' ||\n      proc.pidd > 1'\n    actions: [alert: {}]\n",
		"rules:\n  - name: a\n    scope: session\n    params: {max: 2}\n    condition: session.count >= params.max\n    subject: '{{range .session.procs}}{{.pid}} {{end}}'\n    actions: [kill: {target: group, signal: TERM, grace: 5s}, alert: {channels: [x], message: '{{.session.sid}}'}]\n",
		"rules:\n  - name: a\n    scope: user\n    condition: '!ignored && user.count > 1'\n    actions: [suppress: {for: 'duration(\"1h\")', key: 'user.name'}, run: {command: /bin/true, args: ['{{.user.name}}'], timeout: 5s}]\n",
		"rules:\n  - name: a\n    scope: host\n    every: 30s\n    params: {l: [1, 2], f: 1.5}\n    condition: load.avg1 > params.f && params.l.size() == 2\n    actions: [alert: {if: 'true'}, kill: {}]\n",
		"rules:\n  - {name: Bad, scope: galaxy}\n  - 3\n  - name: a\n    name: b\nfoo: 1\n",
		"rules:\n  - name: a\n    scope: process\n    condition: \"true\n",
		"rules: &a\n  - *a\n",
		"x: &a [*a]\n",
	} {
		f.Add([]byte(s))
	}
	seedFiles(f, "*.yaml", filepath.Join("testdata", "fixtures"), filepath.Join("..", "rules.d"))

	baseData, err := os.ReadFile(filepath.Join(fixtureDir, "rules.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	base := File{Path: "base.yaml", Data: baseData}
	f.Fuzz(func(t *testing.T, data []byte) {
		if unboundedRange(data) {
			t.Skip()
		}
		rs, ps := LoadRules([]File{base, {Path: "f.yaml", Data: data}})
		if rs == nil {
			t.Fatal("nil RuleSet")
		}
		checkFuzzProblems(t, ps)
		for _, r := range rs.Rules {
			if r.cond == nil || r.Name == "" || r.Origin.File == "" {
				t.Fatalf("rule %q loaded without a condition or origin", r.Name)
			}
			if rs.Rule(r.Name) != r {
				t.Fatalf("rule %q not found by name", r.Name)
			}
		}
		if len(ps) > 0 {
			return
		}
		snap := fuzzSnapshot()
		ms, _ := rs.Evaluate(snap, nil)
		for _, d := range Decide(ms, NewMemStore(), snap.Time) {
			_, _, _ = d.Render(NoEnricher{})
			for _, a := range d.Actions {
				switch a.Kind {
				case ActAlert:
					_, _, _ = d.RenderAlert(a, NoEnricher{})
				case ActRun:
					_, _, _ = d.RenderRun(a, NoEnricher{})
				}
			}
		}
	})
}

// FuzzRunFixtures feeds fixture files to RunFixtures against the small
// base rule file of the fixture tests.
func FuzzRunFixtures(f *testing.F) {
	for _, s := range []string{
		"",
		"tests: []\n",
		"rules: [fx-old]\ntests:\n  - name: t\n    snapshot: {processes: [{pid: 7, uid: 1001, age: 2h}]}\n    expect: [{rule: fx-old, pid: 7, actions: [alert, suppress], message: 'pid 7'}]\n",
		"rule_files: [extra.yaml, x.pignore]\nignore: |\n  exe:/bin/x\n  Include x.pignore\ntests:\n  - name: t\n    steps:\n      - at: 0s\n        snapshot: {host: {name: h, uptime: 1h}, load: {avg1: 9}, processes: [{pid: 1}, {pid: 2, sid: 1, start: \"2025-01-01T00:00:00Z\"}]}\n        expect: [{rule: fx-load}, {rule: fx-forkbomb, sid: 1}]\n      - at: 1h\n        expect: []\n",
		"tests:\n  - name: t\n    steps:\n      - {at: 10m, snapshot: {processes: [{pid: 7}, {pid: 7}]}, expect: [{}]}\n      - {at: 5m}\n",
		"tests:\n  - name: t\n    snapshot: {processes: [{pid: 4242, uid: 1001, user: bob, exe: /usr/bin/php, vmsize: 900MiB, rss: 12 parsecs, age: 2 hours}]}\n    expect: [{rule: fx-vmsize, pid: 4242, message: 'a(b'}]\n",
		"rules: [nope]\nrule_files: [missing.yaml]\ntests: {a: 1}\n",
	} {
		f.Add([]byte(s))
	}
	seedFiles(f, "*_test.yaml", filepath.Join("testdata", "fixtures"), filepath.Join("..", "rules.d"))

	baseData, err := os.ReadFile(filepath.Join(fixtureDir, "rules.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	base := []File{{Path: "base.yaml", Data: baseData}}
	extra := map[string]string{
		"extra.yaml": "rules:\n  - name: fx-forkbomb\n    enabled: true\n    params: {max: 2}\n",
		"x.pignore":  "user:nobody\nInclude x.pignore\n",
	}
	readFile := func(p string) ([]byte, error) {
		if s, ok := extra[p]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		results, ps := RunFixtures(File{Path: "f_test.yaml", Data: data}, base, readFile)
		checkFuzzProblems(t, ps)
		if len(ps) > 0 && results != nil {
			t.Fatal("results from a fixture that does not load")
		}
		for _, r := range results {
			if r.File != "f_test.yaml" || r.Passed != (r.Diff == "") {
				t.Fatalf("bad result %+v", r)
			}
		}
	})
}
