package engine

import (
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FixtureEpoch is the moment `at: 0s` stands for in every fixture.
var FixtureEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FixtureResult is the outcome of one test of a fixture file.
type FixtureResult struct {
	File, Test string
	Passed     bool
	// Diff explains a failure, step by step, for people.
	Diff string
}

// fixtureSnapshot is the `snapshot` schema: what `ptrule facts` prints.
type fixtureSnapshot struct {
	Host      *Host     `yaml:"host"`
	Load      *Load     `yaml:"load"`
	Processes []Process `yaml:"processes"`
}

type expectation struct {
	Rule    string   `yaml:"rule"`
	PID     *int     `yaml:"pid"`
	User    *string  `yaml:"user"`
	SID     *int     `yaml:"sid"`
	Actions []string `yaml:"actions"`
	Message *string  `yaml:"message"`

	pos Pos
	re  *regexp.Regexp
}

type step struct {
	at     time.Duration
	snap   *fixtureSnapshot
	expect []*expectation
	pos    Pos
}

type fixtureTest struct {
	name  string
	steps []*step
}

// RunFixtures loads the fixture file f and runs its tests against the rule
// files base (the built-in and configured rules), plus the fixture's own
// rule_files and ignore lines. readFile reads rule_files entries, resolved
// against the fixture's directory. A fixture that cannot be loaded yields
// Problems and no results.
func RunFixtures(f File, base []File, readFile func(string) ([]byte, error)) ([]FixtureResult, Problems) {
	fx, ps := parseFixture(f, base, readFile)
	if len(ps) > 0 {
		return nil, ps
	}
	rs, ps := fx.ruleSet()
	if len(ps) > 0 {
		return nil, ps
	}
	var results []FixtureResult
	for _, t := range fx.tests {
		results = append(results, t.run(f.Path, rs))
	}
	return results, nil
}

// fixture is a parsed fixture file, its rules not yet loaded.
type fixture struct {
	src *source
	// files are the rule files to load: the base ones, then rule_files.
	files []File
	// only are the rules the fixture selects (nil for every enabled rule),
	// onlyNodes where each was named.
	only      []string
	onlyNodes []*yaml.Node
	// ignore are the fixture's own ignore lines, which come after every
	// file's.
	ignore *IgnoreList
	tests  []*fixtureTest
}

// parseFixture reads the keys of fixture file f; base are the rule files
// its rule_files add to.
func parseFixture(f File, base []File, readFile func(string) ([]byte, error)) (*fixture, Problems) {
	src := newSource(f.Path, f.Data)
	root, p := src.parseYAML()
	if p != nil {
		return nil, Problems{p}
	}
	if root == nil {
		return nil, Problems{src.problemAt(Pos{File: f.Path, Line: 1}, "empty fixture file: give tests")}
	}
	var ps Problems
	fx := &fixture{src: src, files: slices.Clone(base)}
	for _, top := range src.mapping(root, "a fixture file", []string{"rules", "rule_files", "ignore", "tests"}, &ps) {
		switch top.key {
		case "rules":
			fx.only, _ = src.strList(top.value, "rules", &ps)
			if top.value.Kind == yaml.SequenceNode {
				fx.onlyNodes = top.value.Content
			}
		case "rule_files":
			fx.files = append(fx.files, fixtureRuleFiles(src, top.value, readFile, &ps)...)
		case "ignore":
			fx.ignore = fixtureIgnore(src, top.value, readFile, &ps)
		case "tests":
			fx.tests = parseTests(src, top.value, &ps)
		}
	}
	return fx, ps
}

// fixtureRuleFiles reads the rule_files list n; a relative name is
// relative to the fixture's directory.
func fixtureRuleFiles(src *source, n *yaml.Node, readFile func(string) ([]byte, error), ps *Problems) []File {
	var files []File
	names, _ := src.strList(n, "rule_files", ps)
	for i, name := range names {
		p := name
		if !path.IsAbs(p) {
			p = path.Join(path.Dir(src.path), name)
		}
		data, err := readFile(p)
		if err != nil {
			*ps = append(*ps, src.problem(n.Content[i], "rule_files: cannot read %s: %v", name, err))
			continue
		}
		files = append(files, File{Path: p, Data: data, ReadFile: readFile})
	}
	return files
}

// fixtureIgnore parses the fixture's ignore block n, its problems pointing
// into the fixture file.
func fixtureIgnore(src *source, n *yaml.Node, readFile func(string) ([]byte, error), ps *Problems) *IgnoreList {
	s, ok := src.str(n, "ignore", ps)
	if !ok {
		return nil
	}
	t := src.text(n)
	list, lps := ParseIgnore(src.path, []byte(s), t.firstLine, readFile)
	if t.verbatim && n.Style&yaml.FoldedStyle == 0 {
		// ParseIgnore counts columns in the block's text, which is
		// indented in the fixture: point into the file.
		for _, p := range lps {
			if p.Pos.File != src.path {
				continue // a problem in an included file
			}
			if p.Pos.Col > 0 {
				p.Pos.Col += t.indent
			}
			p.Source = src.line(p.Pos.Line)
		}
	}
	*ps = append(*ps, lps...)
	return list
}

// ruleSet loads the fixture's rules, adds its ignore lines, checks that
// every rule it names exists and keeps the ones it selects.
func (fx *fixture) ruleSet() (*RuleSet, Problems) {
	rs, ps := LoadRules(fx.files)
	if len(ps) > 0 {
		return nil, ps
	}
	rs.Ignore.Append(fx.ignore)
	for i, name := range fx.only {
		if rs.Rule(name) == nil {
			ps = append(ps, fx.src.problem(fx.onlyNodes[i], "unknown rule %q", name))
		}
	}
	for _, t := range fx.tests {
		for _, st := range t.steps {
			for _, e := range st.expect {
				if rs.Rule(e.Rule) == nil {
					ps = append(ps, fx.src.problemAt(e.pos, "expect names unknown rule %q", e.Rule))
				}
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	if fx.only == nil {
		return rs, nil
	}
	sel := &RuleSet{Ignore: rs.Ignore, byName: map[string]*Rule{}}
	for _, r := range rs.Rules {
		if slices.Contains(fx.only, r.Name) {
			sel.Rules = append(sel.Rules, r)
			sel.byName[r.Name] = r
		}
	}
	return sel, nil
}

func parseTests(src *source, n *yaml.Node, ps *Problems) []*fixtureTest {
	if n.Kind != yaml.SequenceNode {
		*ps = append(*ps, src.problem(n, "tests must be a list"))
		return nil
	}
	var out []*fixtureTest
	for _, tn := range n.Content {
		t := &fixtureTest{}
		var shortSet, hasSteps bool
		fields := src.mapping(tn, "a test", []string{"name", "steps", "snapshot", "expect"}, ps)
		for _, f := range fields {
			switch f.key {
			case "name":
				t.name, _ = src.str(f.value, "name", ps)
			case "steps":
				hasSteps = true
				if f.value.Kind != yaml.SequenceNode {
					*ps = append(*ps, src.problem(f.value, "steps must be a list"))
					continue
				}
				for _, sn := range f.value.Content {
					if st := parseStep(src, sn, src.mapping(sn, "a step", []string{"at", "snapshot", "expect"}, ps), ps); st != nil {
						t.steps = append(t.steps, st)
					}
				}
			case "snapshot", "expect":
				shortSet = true
			}
		}
		if t.name == "" {
			*ps = append(*ps, src.problem(tn, "a test needs a name"))
		}
		switch {
		case hasSteps && shortSet:
			*ps = append(*ps, src.problem(tn, "test %q: give either steps or snapshot and expect, not both", t.name))
		case shortSet:
			// The short form: the test's own snapshot and expect are its
			// one step at 0s.
			if st := parseStep(src, tn, fields, ps); st != nil {
				t.steps = append(t.steps, st)
			}
		case !hasSteps:
			*ps = append(*ps, src.problem(tn, "test %q has no steps: give steps, or snapshot and expect", t.name))
		}
		for i := 1; i < len(t.steps); i++ {
			if t.steps[i].at <= t.steps[i-1].at {
				*ps = append(*ps, src.problemAt(t.steps[i].pos, "step at %s does not come after the step before (%s): steps must move forward in time", t.steps[i].at, t.steps[i-1].at))
			}
		}
		if len(t.steps) > 0 && t.steps[0].snap == nil {
			*ps = append(*ps, src.problemAt(t.steps[0].pos, "the first step needs a snapshot"))
		}
		out = append(out, t)
	}
	return out
}

// parseStep reads a step from the fields of its mapping n, already checked
// for unknown and duplicate keys; fields other than at, snapshot and expect
// are the caller's.
func parseStep(src *source, n *yaml.Node, fields []field, ps *Problems) *step {
	st := &step{pos: src.pos(n)}
	hasExpect := false
	for _, f := range fields {
		switch f.key {
		case "at":
			st.at, _ = src.duration(f.value, "at", ps)
		case "snapshot":
			st.snap = &fixtureSnapshot{}
			before := len(*ps)
			src.decodeSnapshot(f.value, reflect.ValueOf(st.snap).Elem(), "snapshot", ps)
			if len(*ps) == before {
				checkSnapshot(src, f.value, st.snap, ps)
			}
		case "expect":
			hasExpect = true
			st.expect = parseExpect(src, f.value, ps)
		}
	}
	if !hasExpect {
		*ps = append(*ps, src.problem(n, "a step needs expect: list what fires, or write expect: [] when nothing may"))
		return nil
	}
	return st
}

func checkSnapshot(src *source, n *yaml.Node, s *fixtureSnapshot, ps *Problems) {
	seen := map[int]bool{}
	var procs *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "processes" {
			procs = n.Content[i+1]
		}
	}
	for i, p := range s.Processes {
		if seen[p.PID] || p.PID <= 0 {
			at := n
			if procs != nil && i < len(procs.Content) {
				at = procs.Content[i]
			}
			if p.PID <= 0 {
				*ps = append(*ps, src.problem(at, "a process needs a pid above 0"))
			} else {
				*ps = append(*ps, src.problem(at, "duplicate pid %d in snapshot", p.PID))
			}
		}
		seen[p.PID] = true
	}
}

func parseExpect(src *source, n *yaml.Node, ps *Problems) []*expectation {
	if n.Kind != yaml.SequenceNode {
		*ps = append(*ps, src.problem(n, "expect must be a list; write expect: [] when nothing may fire"))
		return nil
	}
	out := []*expectation{}
	for _, en := range n.Content {
		e := &expectation{pos: src.pos(en)}
		before := len(*ps)
		src.decode(en, reflect.ValueOf(e).Elem(), "an expect entry", ps)
		if len(*ps) > before {
			continue
		}
		if e.Rule == "" {
			*ps = append(*ps, src.problem(en, "an expect entry needs a rule"))
			continue
		}
		if e.Message != nil {
			re, err := regexp.Compile(*e.Message)
			if err != nil {
				*ps = append(*ps, src.problem(en, "message: bad regular expression: %v", err))
				continue
			}
			e.re = re
		}
		for _, a := range e.Actions {
			if _, ok := actionKeys[ActionKind(a)]; !ok {
				*ps = append(*ps, src.problem(en, "unknown action %q in expect: use alert, kill, run or suppress", a))
			}
		}
		out = append(out, e)
	}
	return out
}

// build turns a fixture snapshot given at time given into a Snapshot at
// time now, filling the contract's process defaults. Processes start
// relative to given, so their ages advance when a later step reuses the
// snapshot.
func (fs *fixtureSnapshot) build(given, now time.Time) *Snapshot {
	var host Host
	var load Load
	if fs.Host != nil {
		host = *fs.Host
	}
	if fs.Load != nil {
		load = *fs.Load
	}
	if host.Boot.IsZero() {
		host.Boot = given.Add(-host.Uptime)
	}
	host.Uptime = now.Sub(host.Boot)
	if load.Total == 0 {
		load.Total = len(fs.Processes)
	}
	procs := make([]Process, 0, len(fs.Processes))
	for _, p := range fs.Processes {
		p.FillDefaults()
		p.Cmd = strings.TrimRight(strings.Join(p.Cmdline, " "), " \t\n\r\v\f")
		if p.Start.IsZero() {
			p.Start = given.Add(-p.Age)
		}
		p.Age = now.Sub(p.Start)
		p.StartTicks = fixtureTicks(p.Start)
		p.Connections = slices.Clone(p.Connections)
		p.Listening = slices.Clone(p.Listening)
		procs = append(procs, p)
	}
	return NewSnapshot(now, host, load, procs)
}

// fixtureTicks is a fixture process's StartTicks: its start in 10ms ticks
// (the kernel's USER_HZ) since the Unix epoch, 0 before it. The reference
// is fixed rather than the fixture's host.boot, which moves with every
// restated snapshot that gives no boot: a process restated with the same
// start keeps its key from step to step, and distinct starts give distinct
// keys, as on a live host.
func fixtureTicks(start time.Time) uint64 {
	if start.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(start.UnixNano() / int64(10*time.Millisecond))
}

// fired is what one step produced for one match.
type fired struct {
	rule, entity string
	actions      []string
	texts        []string
}

func (t *fixtureTest) run(file string, rs *RuleSet) FixtureResult {
	res := FixtureResult{File: file, Test: t.name, Passed: true}
	store := NewMemStore()
	var diff strings.Builder
	var snap *fixtureSnapshot
	var given time.Time
	for i, st := range t.steps {
		now := FixtureEpoch.Add(st.at)
		if st.snap != nil {
			snap, given = st.snap, now
		}
		s := snap.build(given, now)
		matches, errs := rs.Evaluate(s, nil)
		var got []fired
		for _, err := range errs {
			fmt.Fprintf(&diff, "  step %d (at %s): evaluation error: %v\n", i+1, st.at, err)
			res.Passed = false
		}
		for _, d := range Decide(matches, store, now) {
			if d.Status != StatusFired {
				continue
			}
			f := fired{rule: d.Rule.Name, entity: entityKey(d.Match)}
			for _, a := range d.Actions {
				// An action whose expressions failed is an evaluation
				// error, like a failing condition; it is listed only if
				// it still ran (a suppress on the entity's identity).
				if a.Err != nil {
					fmt.Fprintf(&diff, "  step %d (at %s): evaluation error: rule %s, %s: %s action: %v\n", i+1, st.at, f.rule, f.entity, a.Kind, a.Err)
					res.Passed = false
				}
				if a.Runs() {
					f.actions = append(f.actions, string(a.Kind))
				}
			}
			// The rule's text, and that of every alert action with a
			// subject or message of its own: what people would read,
			// each after the actions before it, which a fixture runs
			// as a dry run.
			render := func(a *PlannedAction, o *Outcome) {
				subject, message, err := d.RenderAlertAfter(a, NoEnricher{}, o)
				if err != nil {
					fmt.Fprintf(&diff, "  step %d (at %s): %s %s: rendering failed: %v\n", i+1, st.at, f.rule, f.entity, err)
					res.Passed = false
				}
				f.texts = append(f.texts, subject+"\n"+message)
			}
			var o Outcome
			ruleText := false
			for _, a := range d.Actions {
				if !a.Runs() {
					continue
				}
				switch a.Kind {
				case ActKill:
					o.Kill = &KillOutcome{Mode: ModeDryRun, Signal: "SIG" + a.SignalName, Target: string(a.Target), Planned: d.plannedKill(a)}
				case ActRun:
					ro := &RunOutcome{Mode: ModeDryRun, Result: ModeDryRun}
					ro.Command, ro.Args, _ = d.RenderRun(a, NoEnricher{})
					o.Run = ro
				case ActAlert:
					cur := o
					if !ruleText {
						render(nil, &cur)
						ruleText = true
					}
					if a.OverridesText() {
						render(a, &cur)
					}
				}
			}
			if !ruleText {
				render(nil, &o)
			}
			got = append(got, f)
			// Actions are recorded, never executed: the decision has
			// run, and its suppressions hold from here on.
			d.Commit(store)
		}
		if msg := compareStep(st.expect, got); msg != "" {
			fmt.Fprintf(&diff, "  step %d (at %s):\n%s", i+1, st.at, msg)
			res.Passed = false
		}
	}
	res.Diff = diff.String()
	return res
}

func entityKey(m *Match) string {
	switch {
	case m.Proc != nil:
		return "pid " + strconv.Itoa(m.Proc.PID)
	case m.User != nil:
		return "user " + m.User.Name
	case m.Session != nil:
		return "sid " + strconv.Itoa(m.Session.SID)
	}
	return "host"
}

func (e *expectation) entity() string {
	switch {
	case e.PID != nil:
		return "pid " + strconv.Itoa(*e.PID)
	case e.User != nil:
		return "user " + *e.User
	case e.SID != nil:
		return "sid " + strconv.Itoa(*e.SID)
	}
	return "host"
}

// compareStep returns "" when got is exactly what expect lists, or an
// explanation of every difference.
func compareStep(expect []*expectation, got []fired) string {
	var b strings.Builder
	used := make([]bool, len(got))
	for _, e := range expect {
		found := -1
		for i, g := range got {
			if !used[i] && g.rule == e.Rule && g.entity == e.entity() {
				found = i
				break
			}
		}
		if found < 0 {
			fmt.Fprintf(&b, "    expected %s on %s to fire, but it did not\n", e.Rule, e.entity())
			continue
		}
		used[found] = true
		g := got[found]
		if e.Actions != nil {
			want, have := slices.Clone(e.Actions), slices.Clone(g.actions)
			sort.Strings(want)
			sort.Strings(have)
			if !slices.Equal(want, have) {
				fmt.Fprintf(&b, "    %s on %s: actions\n      want [%s]\n      got  [%s]\n", e.Rule, e.entity(), strings.Join(want, ", "), strings.Join(have, ", "))
			}
		}
		if e.re != nil && !slices.ContainsFunc(g.texts, e.re.MatchString) {
			fmt.Fprintf(&b, "    %s on %s: message does not match /%s/; it was:\n%s\n", e.Rule, e.entity(), e.re, indent(8, strings.Join(g.texts, "\n---\n")))
		}
	}
	for i, g := range got {
		if !used[i] {
			fmt.Fprintf(&b, "    %s fired on %s unexpectedly (actions [%s])\n", g.rule, g.entity, strings.Join(g.actions, ", "))
		}
	}
	return b.String()
}
