package engine

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with the file testdata/name, or rewrites the file
// when the test runs with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it)\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

const fixtureDir = "testdata/fixtures"

// fixtureBase is the rule file every fixture test runs against.
func fixtureBase(t testing.TB) []File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return []File{{Path: fixtureDir + "/rules.yaml", Data: data}}
}

// runFixtureFile runs testdata/fixtures/name against the base rules.
func runFixtureFile(t *testing.T, name string) []FixtureResult {
	t.Helper()
	path := fixtureDir + "/" + name
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	results, ps := RunFixtures(File{Path: path, Data: data}, fixtureBase(t), os.ReadFile)
	if len(ps) > 0 {
		t.Fatalf("%s does not load:\n%s", name, FormatError(ps))
	}
	return results
}

// runInline runs a fixture given as text, as f_test.yaml in the fixture
// directory, whose rule_files may name the files in extra or in the
// directory.
func runInline(t *testing.T, text string, extra map[string]string) ([]FixtureResult, Problems) {
	t.Helper()
	readFile := func(p string) ([]byte, error) {
		if s, ok := extra[p]; ok {
			return []byte(s), nil
		}
		return os.ReadFile(p)
	}
	return RunFixtures(File{Path: fixtureDir + "/f_test.yaml", Data: []byte(text)}, fixtureBase(t), readFile)
}

func TestRunFixturesPass(t *testing.T) {
	for file, n := range map[string]int{"pass_test.yaml": 9, "defaults_test.yaml": 2, "selection_test.yaml": 1} {
		t.Run(file, func(t *testing.T) {
			results := runFixtureFile(t, file)
			if len(results) != n {
				t.Errorf("%d results, want %d", len(results), n)
			}
			for _, r := range results {
				if r.File != fixtureDir+"/"+file {
					t.Errorf("result file %q", r.File)
				}
				if !r.Passed || r.Diff != "" {
					t.Errorf("FAIL %s\n%s", r.Test, r.Diff)
				}
			}
		})
	}
}

// Each kind of failure explains itself; the exact text is in
// testdata/fixtures/<test name>.golden.
func TestRunFixturesFailureDiffs(t *testing.T) {
	results := runFixtureFile(t, "fail_test.yaml")
	results = append(results, runFixtureFile(t, "evalerror_test.yaml")...)
	want := []string{"unexpected firing", "missing firing", "actions differ", "message mismatch", "wrong entity in a later step", "evaluation error"}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, r := range results {
		if r.Test != want[i] {
			t.Errorf("result %d is %q, want %q", i, r.Test, want[i])
			continue
		}
		t.Run(strings.ReplaceAll(r.Test, " ", "-"), func(t *testing.T) {
			if r.Passed {
				t.Fatal("passed")
			}
			golden(t, "fixtures/"+strings.ReplaceAll(r.Test, " ", "-")+".golden", []byte(r.Diff))
		})
	}
}

func TestRunFixturesLoadErrors(t *testing.T) {
	snap := "{processes: [{pid: 7, exe: /bin/sh}]}"
	tests := []struct {
		name    string
		fixture string
		extra   map[string]string
		want    []wantProblem
	}{
		{
			name:    "unknown top-level key",
			fixture: "rule: [fx-old]\ntests: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:1:1: unknown key "rule" in a fixture file (known keys: rules, rule_files, ignore, tests)`, "rule:"}},
		},
		{
			name:    "unknown key in a test",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expected: []\n",
			want: []wantProblem{
				{`testdata/fixtures/f_test.yaml:4:5: unknown key "expected" in a test (known keys: name, steps, snapshot, expect)`, "expected"},
				{`testdata/fixtures/f_test.yaml:2:5: a step needs expect: list what fires, or write expect: [] when nothing may`, "name: t"},
			},
		},
		{
			name:    "unknown key in a step",
			fixture: "tests:\n  - name: t\n    steps:\n      - at: 0s\n        snapshot: " + snap + "\n        expect: []\n        when: now\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:7:9: unknown key "when" in a step (known keys: at, snapshot, expect)`, "when"}},
		},
		{
			name:    "unknown process key",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, vsize: 1MiB}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:37: unknown key "vsize" in processes entry (known keys: pid, ppid, pgid, sid, uid, user, exe, exe_deleted, exe_mismatch, comm, cmdline, state, start, age, cpu, vmsize, rss, threads, connections, listening, parent_exe, parent_exe_deleted, pgrp_exe, unit, cgroup)`, "vsize"}},
		},
		{
			name:    "unknown key in an expect entry",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: [{rule: fx-old, pdi: 7}]\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:29: unknown key "pdi" in an expect entry (known keys: rule, pid, user, sid, actions, message)`, "pdi"}},
		},
		{
			name:    "duplicate key",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, pid: 8}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:37: duplicate key "pid" in processes entry`, "pid: 8"}},
		},
		{
			name:    "duplicate pid",
			fixture: "tests:\n  - name: t\n    snapshot:\n      processes:\n        - {pid: 7}\n        - {pid: 8}\n        - {pid: 7, exe: /bin/sh}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:7:11: duplicate pid 7 in snapshot`, "{pid: 7, exe"}},
		},
		{
			name:    "pid missing",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{exe: /bin/sh}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:28: a process needs a pid above 0`, "{exe"}},
		},
		{
			name:    "bad size",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, vmsize: 12 parsecs}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:45: vmsize: bad size "12 parsecs": write a number with an optional unit, like 4096, 200MB or 512MiB`, "12 parsecs"}},
		},
		{
			name:    "size as a float",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, rss: 1.5}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:42: rss: "1.5" is not a whole number`, "1.5"}},
		},
		{
			name:    "bad duration",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, age: 2 hours}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:42: age: bad duration "2 hours": write a duration such as 90s, 10m or 2h`, "2 hours"}},
		},
		{
			name:    "duration as a number",
			fixture: "tests:\n  - name: t\n    snapshot: {host: {uptime: 3600}}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:31: uptime: bad duration "3600": write a duration such as 90s, 10m or 2h`, "3600"}},
		},
		{
			name:    "bad at",
			fixture: "tests:\n  - name: t\n    steps:\n      - at: later\n        snapshot: " + snap + "\n        expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:13: at: bad duration "later": write a duration such as 90s, 10m or 2h`, "later"}},
		},
		{
			name:    "bad start",
			fixture: "tests:\n  - name: t\n    snapshot: {processes: [{pid: 7, start: yesterday}]}\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:44: start: bad timestamp "yesterday": write RFC 3339, like 2026-01-01T00:00:00Z`, "yesterday"}},
		},
		{
			name:    "non-increasing at",
			fixture: "tests:\n  - name: t\n    steps:\n      - at: 10m\n        snapshot: " + snap + "\n        expect: []\n      - at: 5m\n        expect: []\n      - at: 5m\n        expect: []\n",
			want: []wantProblem{
				{`testdata/fixtures/f_test.yaml:7:9: step at 5m0s does not come after the step before (10m0s): steps must move forward in time`, "at: 5m"},
				{`testdata/fixtures/f_test.yaml:9:9: step at 5m0s does not come after the step before (5m0s): steps must move forward in time`, "at: 5m"},
			},
		},
		{
			name:    "two steps without at",
			fixture: "tests:\n  - name: t\n    steps:\n      - snapshot: " + snap + "\n        expect: []\n      - expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:6:9: step at 0s does not come after the step before (0s): steps must move forward in time`, "expect"}},
		},
		{
			name:    "expect entry without rule",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: [{pid: 7}]\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:14: an expect entry needs a rule`, "{pid: 7}"}},
		},
		{
			name:    "step without expect",
			fixture: "tests:\n  - name: t\n    steps:\n      - at: 0s\n        snapshot: " + snap + "\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:9: a step needs expect: list what fires, or write expect: [] when nothing may`, "at: 0s"}},
		},
		{
			name:    "short form without expect",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:2:5: a step needs expect: list what fires, or write expect: [] when nothing may`, "name: t"}},
		},
		{
			name:    "expect not a list",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: nothing\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:13: expect must be a list; write expect: [] when nothing may fire`, "nothing"}},
		},
		{
			name:    "first step without snapshot",
			fixture: "tests:\n  - name: t\n    steps:\n      - at: 0s\n        expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:9: the first step needs a snapshot`, "at: 0s"}},
		},
		{
			name:    "steps and short form together",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: []\n    steps: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:2:5: test "t": give either steps or snapshot and expect, not both`, "name: t"}},
		},
		{
			name:    "test without steps",
			fixture: "tests:\n  - name: t\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:2:5: test "t" has no steps: give steps, or snapshot and expect`, "name: t"}},
		},
		{
			name:    "test without name",
			fixture: "tests:\n  - snapshot: " + snap + "\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:2:5: a test needs a name`, "snapshot"}},
		},
		{
			name:    "bad message regex",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: [{rule: fx-old, pid: 7, message: 'a(b'}]\n",
			want:    []wantProblem{{"testdata/fixtures/f_test.yaml:4:14: message: bad regular expression: error parsing regexp: missing closing ): `a(b`", "{rule"}},
		},
		{
			name:    "unknown action in expect",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: [{rule: fx-old, pid: 7, actions: [alert, page]}]\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:14: unknown action "page" in expect: use alert, kill, run or suppress`, "{rule"}},
		},
		{
			name:    "unknown rule name in rules",
			fixture: "rules: [fx-old, fx-nope]\ntests:\n  - name: t\n    snapshot: " + snap + "\n    expect: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:1:17: unknown rule "fx-nope"`, "fx-nope"}},
		},
		{
			name:    "unknown rule name in expect",
			fixture: "tests:\n  - name: t\n    snapshot: " + snap + "\n    expect: [{rule: fx-od, pid: 7}]\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:4:14: expect names unknown rule "fx-od"`, "{rule: fx-od"}},
		},
		{
			name:    "missing rule_files entry",
			fixture: "rule_files: [enable-forkbomb.yaml, nosuch.yaml]\ntests: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:1:36: rule_files: cannot read nosuch.yaml: open testdata/fixtures/nosuch.yaml: no such file or directory`, "nosuch.yaml"}},
		},
		{
			name:    "a rule file with a problem",
			fixture: "rule_files: [broken.yaml]\ntests: []\n",
			extra:   map[string]string{"testdata/fixtures/broken.yaml": "rules:\n  - name: fx-old\n    params: {x: 1}\n"},
			want:    []wantProblem{{`testdata/fixtures/broken.yaml:3:14: rule "fx-old" has no param "x" (it has: )`, ""}},
		},
		{
			name:    "bad ignore line",
			fixture: "ignore: |\n  exe:/bin/ok\n  bogus\ntests: []\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:3:3: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`, "bogus"}},
		},
		{
			name:    "tests not a list",
			fixture: "tests: {a: 1}\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:1:8: tests must be a list`, "{a: 1}"}},
		},
		{
			name:    "empty file",
			fixture: "# nothing\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:1: empty fixture file: give tests`, ""}},
		},
		{
			name:    "YAML syntax error",
			fixture: "tests:\n  - name: 'unterminated\n",
			want:    []wantProblem{{`testdata/fixtures/f_test.yaml:2: invalid YAML: found unexpected end of stream`, ""}},
		},
		{
			name:    "every problem at once",
			fixture: "rules: [nope]\ntests:\n  - name: a\n    snapshot: {processes: [{pid: 1}, {pid: 1}]}\n    expect: [{}]\n  - name: b\n    steps: [{at: 1s, expect: []}]\n",
			want: []wantProblem{
				{`testdata/fixtures/f_test.yaml:4:38: duplicate pid 1 in snapshot`, "{pid: 1}]}"},
				{`testdata/fixtures/f_test.yaml:5:14: an expect entry needs a rule`, "{}"},
				{`testdata/fixtures/f_test.yaml:7:13: the first step needs a snapshot`, "{at: 1s"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, ps := runInline(t, tt.fixture, tt.extra)
			if results != nil {
				t.Errorf("results from a fixture that does not load: %v", results)
			}
			files := []File{{Path: fixtureDir + "/f_test.yaml", Data: []byte(tt.fixture)}}
			for p, s := range tt.extra {
				files = append(files, File{Path: p, Data: []byte(s)})
			}
			if tt.name == "a rule file with a problem" {
				// Located in another file or by line only: compare the text.
				if len(ps) != 1 || ps[0].Error() != tt.want[0].err {
					t.Fatalf("got\n%s\nwant %s", FormatError(ps), tt.want[0].err)
				}
				return
			}
			checkProblems(t, files, ps, tt.want)
		})
	}
}

// The `ignore:` block of a fixture is located in the fixture file: its
// first line is the line after `ignore: |`.
func TestRunFixturesIgnoreLines(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    wantProblem
	}{
		{"tests: []\nignore: |\n  exe:/bin/ok\n  pexe:(\n", wantProblem{"testdata/fixtures/f_test.yaml:4:8: bad regex in pexe: error parsing regexp: missing closing ): `(`: use RE2 syntax (no look-around or back-references)", "("}},
		{"tests: []\nignore: |\n    exe:/bin/ok\n      bogus\n", wantProblem{`testdata/fixtures/f_test.yaml:4:7: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`, "bogus"}},
		{"tests: []\nignore: 'pcmd:a)'\n", wantProblem{"testdata/fixtures/f_test.yaml:2:15: bad regex in pcmd: error parsing regexp: unexpected ): `a)`: use RE2 syntax (no look-around or back-references)", "a)"}},
	} {
		_, ps := runInline(t, tt.fixture, nil)
		checkProblems(t, []File{{Path: fixtureDir + "/f_test.yaml", Data: []byte(tt.fixture)}}, ps, []wantProblem{tt.want})
	}
}

// Steps that reuse a snapshot see it later: ages and the uptime advance,
// nothing else changes.
func TestRunFixturesStepsAdvance(t *testing.T) {
	rules := "rules:\n  - name: fx-ages\n    scope: process\n    condition: 'true'\n" +
		"    subject: 'age {{dur .proc.age}} uptime {{dur .host.uptime}} now {{.now.Format \"15:04:05\"}} start {{.proc.start.Format \"15:04:05\"}} total {{.load.total}}'\n" +
		"    actions: [alert: {}]\n"
	results, ps := runInline(t, `rules: [fx-ages]
rule_files: [ages.yaml]
tests:
  - name: ages advance
    steps:
      - at: 1m
        snapshot:
          host: {uptime: 1h}
          processes: [{pid: 7, age: 10m}]
        expect: [{rule: fx-ages, pid: 7, message: '^age 10m uptime 1h now 00:01:00 start 23:51:00 total 1\n$'}]
      - at: 11m30s
        expect: [{rule: fx-ages, pid: 7, message: '^age 20m30s uptime 1h10m30s now 00:11:30 start 23:51:00 total 1\n$'}]
      - at: 2h
        snapshot:
          host: {uptime: 5m, boot: "2025-12-31T00:00:00Z"}
          processes: [{pid: 7, age: 1s}, {pid: 8, start: "2025-12-31T23:00:00Z"}]
          load: {total: 99}
        expect:
          - {rule: fx-ages, pid: 7, message: '^age 1s uptime 26h now 02:00:00 start 01:59:59 total 99\n$'}
          - {rule: fx-ages, pid: 8, message: '^age 3h '}
`, map[string]string{"testdata/fixtures/ages.yaml": rules})
	if len(ps) > 0 {
		t.Fatal(FormatError(ps))
	}
	for _, r := range results {
		if !r.Passed {
			t.Errorf("FAIL %s\n%s", r.Test, r.Diff)
		}
	}
}

// A process restated with the same start in a later snapshot keeps its
// identity (its suppression holds although the fixture's host boot moved),
// and a reused pid with a new start is a new process.
func TestRunFixturesProcessIdentity(t *testing.T) {
	rules := "rules:\n  - name: fx-once\n    scope: process\n    condition: 'true'\n    subject: 'key {{.key}}'\n" +
		"    actions: [alert: {}, suppress: {for: 1h}]\n"
	results, ps := runInline(t, `rules: [fx-once]
rule_files: [once.yaml]
tests:
  - name: identity
    steps:
      - snapshot: {processes: [{pid: 7, age: 10m}]}
        expect: [{rule: fx-once, pid: 7, message: '^key 7@176722500000\n$'}]
      - at: 1m
        snapshot: {processes: [{pid: 7, age: 11m}]}
        expect: []
      - at: 2m
        snapshot: {processes: [{pid: 7, age: 1s}]}
        expect: [{rule: fx-once, pid: 7, message: '^key 7@176722571900\n$'}]
`, map[string]string{"testdata/fixtures/once.yaml": rules})
	if len(ps) > 0 {
		t.Fatal(FormatError(ps))
	}
	if len(results) != 1 || !results[0].Passed {
		t.Errorf("results %+v", results)
	}
}

// An action whose expression fails is an evaluation error that fails the
// test; the match still fires, and a suppress whose key failed still ran
// on the entity's identity: it is listed and holds in the next step.
func TestRunFixturesActionError(t *testing.T) {
	rules := "rules:\n  - name: fx-key\n    scope: process\n    condition: 'true'\n" +
		"    actions: [alert: {}, kill: {if: 'proc.cmdline[1] == \"x\"'}, suppress: {for: 1h, key: 'proc.cmdline[1]'}]\n"
	results, ps := runInline(t, `rules: [fx-key]
rule_files: [key.yaml]
tests:
  - name: one-word argv
    steps:
      - snapshot: {processes: [{pid: 7, exe: /bin/sh}]}
        expect: [{rule: fx-key, pid: 7, actions: [alert, suppress]}]
      - at: 1m
        expect: []
`, map[string]string{"testdata/fixtures/key.yaml": rules})
	if len(ps) > 0 {
		t.Fatal(FormatError(ps))
	}
	if len(results) != 1 || results[0].Passed {
		t.Fatalf("results %+v: want one failed test", results)
	}
	want := "  step 1 (at 0s): evaluation error: rule fx-key, pid 7: kill action: if: "
	want2 := "  step 1 (at 0s): evaluation error: rule fx-key, pid 7: suppress action: key: "
	d := results[0].Diff
	if !strings.Contains(d, want) || !strings.Contains(d, want2) || strings.Contains(d, "step 2") || strings.Contains(d, "actions\n") {
		t.Errorf("diff:\n%s\nwant the two action errors of step 1 and nothing else", d)
	}
}

// A test's expectations may list the same rule on several entities, in
// any order; an alert action's own text is searched too.
func TestRunFixturesMatching(t *testing.T) {
	rules := `rules:
  - name: fx-two
    scope: process
    condition: proc.uid == 1001
    subject: "rule subject {{.proc.pid}}"
    actions:
      - alert: {}
      - alert: {channels: [ops], subject: "ops subject {{.proc.comm}}"}
`
	results, ps := runInline(t, `rules: [fx-two]
rule_files: [two.yaml]
tests:
  - name: order and texts
    snapshot: {processes: [{pid: 7, uid: 1001, exe: /bin/a}, {pid: 8, uid: 1001, exe: /bin/b}]}
    expect:
      - {rule: fx-two, pid: 8, message: '^ops subject b'}
      - {rule: fx-two, pid: 7, message: '^rule subject 7', actions: [alert, alert]}
  - name: an action list without a duplicate
    snapshot: {processes: [{pid: 7, uid: 1001, exe: /bin/a}]}
    expect:
      - {rule: fx-two, pid: 7, actions: [alert]}
`, map[string]string{"testdata/fixtures/two.yaml": rules})
	if len(ps) > 0 {
		t.Fatal(FormatError(ps))
	}
	if len(results) != 2 || !results[0].Passed {
		t.Fatalf("results %+v", results)
	}
	if results[1].Passed || results[1].Diff != "  step 1 (at 0s):\n    fx-two on pid 7: actions\n      want [alert]\n      got  [alert, alert]\n" {
		t.Errorf("diff %q", results[1].Diff)
	}
}

func TestFixtureSnapshotBuild(t *testing.T) {
	given := FixtureEpoch.Add(time.Minute)
	fs := &fixtureSnapshot{
		Host: &Host{Name: "h", Uptime: time.Hour},
		Processes: []Process{
			{PID: 1},
			{PID: 4242, UID: 1001, Exe: "/usr/bin/php", Age: time.Hour},
			{PID: 4243, PPID: 4242, PGID: 4242, SID: 4200, UID: 0, User: "admin", Comm: "x", Exe: "/bin/sh", Cmdline: []string{"sh ", "-c", "x  "}, State: "Z"},
			{PID: 4244, Cmdline: []string{}},
		},
	}
	s := fs.build(given, given.Add(10*time.Minute))
	if !s.Time.Equal(FixtureEpoch.Add(11*time.Minute)) || s.Host.Procs != 4 || s.Load.Total != 4 || s.Host.Uptime != 70*time.Minute || !s.Host.Boot.Equal(given.Add(-time.Hour)) {
		t.Errorf("host %+v load %+v time %v", s.Host, s.Load, s.Time)
	}
	type facts struct {
		ppid, pgid, sid int
		user, comm      string
		cmdline         string
		cmd, state      string
		age             time.Duration
	}
	want := []facts{
		{0, 1, 1, "root", "", "[]", "", "S", 10 * time.Minute},
		{1, 4242, 4242, "1001", "php", "[/usr/bin/php]", "/usr/bin/php", "S", 70 * time.Minute},
		{4242, 4242, 4200, "admin", "x", "[sh  -c x  ]", "sh  -c x", "Z", 10 * time.Minute},
		{1, 4244, 4244, "root", "", "[]", "", "S", 10 * time.Minute},
	}
	for i, p := range s.Procs {
		got := facts{p.PPID, p.PGID, p.SID, p.User, p.Comm, "[" + strings.Join(p.Cmdline, " ") + "]", p.Cmd, p.State, p.Age}
		if got != want[i] {
			t.Errorf("process %d:\n got  %+v\n want %+v", p.PID, got, want[i])
		}
		if !p.Start.Add(p.Age).Equal(s.Time) {
			t.Errorf("process %d: start %v + age %v is not now", p.PID, p.Start, p.Age)
		}
	}
	// Building does not change the fixture, so a later step starts over.
	if fs.Processes[1].User != "" || fs.Processes[1].Age != time.Hour || fs.Host.Uptime != time.Hour {
		t.Errorf("build changed its input: %+v %+v", fs.Processes[1], fs.Host)
	}
}

// The snapshot of a fixture step is what `ptrule facts` prints, so every
// key EncodeSnapshot writes must be accepted.
func TestFixtureSnapshotSchema(t *testing.T) {
	names, _ := yamlFields(reflect.TypeFor[Process]())
	want := "pid ppid pgid sid uid user exe exe_deleted exe_mismatch comm cmdline state start age cpu vmsize rss threads connections listening parent_exe parent_exe_deleted pgrp_exe unit cgroup"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("process keys:\n%s\nwant\n%s", got, want)
	}
}
