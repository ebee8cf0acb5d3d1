package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/builtin/state"
	"ptrule/engine"
)

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "RULE [--pid N | --user NAME | --sid N] [--proc DIR] [--fixture F [--test NAME] --step K] [--format text|json]",
		"ptrule explain php-long-running --pid 4242\nptrule explain forkbomb --fixture rules.d/forkbomb_test.yaml --step 2", stderr)
	var c commonFlags
	c.register(fs, true)
	var t engine.Target
	fs.IntVar(&t.PID, "pid", 0, "the process to explain a process-scope rule for")
	fs.StringVar(&t.User, "user", "", "the user (name) to explain a user-scope rule for")
	fs.IntVar(&t.SID, "sid", 0, "the session to explain a session-scope rule for")
	fixture := fs.String("fixture", "", "explain a step of this fixture file instead of the live host")
	test := fs.String("test", "", "the fixture's test (needed when it has several)")
	step := fs.Int("step", 0, "the fixture step, from 1")
	format := fs.String("format", "text", "output format: text or json")
	// The rule's name comes first; flags may follow it.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		fmt.Fprintln(stderr, "ptrule explain: give one rule name, e.g. ptrule explain php-long-running --pid 4242")
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "ptrule explain: unknown --format %q: use text or json\n", *format)
		return exitUsage
	}
	if (*fixture == "") != (*step == 0) {
		fmt.Fprintln(stderr, "ptrule explain: --fixture and --step go together: the fixture file and the step (from 1) to explain")
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	var (
		rs    *engine.RuleSet
		snap  *engine.Snapshot
		store engine.Store
		actor *act.Actor
	)
	if *fixture != "" {
		src := c.sources(stderr)
		cfg, err := loadConfig(c.config, src.trust)
		if err != nil {
			fmt.Fprintln(stderr, engine.FormatError(err))
			return exitUsage
		}
		base, err := ruleFiles(cfg, src)
		if err != nil {
			fmt.Fprintln(stderr, "ptrule explain:", err)
			return exitUsage
		}
		files, err := src.trust.FixtureFiles(*fixture)
		if err == nil && len(files) != 1 {
			err = fmt.Errorf("%s: give one fixture file, not a directory", *fixture)
		}
		if err != nil {
			fmt.Fprintln(stderr, "ptrule explain:", err)
			return exitUsage
		}
		var mem *engine.MemStore
		rs, snap, mem, err = engine.FixtureStep(files[0], base, src.trust.ReadFile, *test, *step)
		if err != nil {
			fmt.Fprintln(stderr, engine.FormatError(err))
			return exitUsage
		}
		store = mem
		// A fixture is judged as `ptrule test` judges it: enforce mode,
		// a dry run, and nothing read from this host.
		actor = act.New(act.Config{Sender: notifySender{newDispatcher(cfg, log)}, Enricher: engine.NoEnricher{}, Log: log,
			Foreign: "the processes are a fixture's"})
	} else {
		cfg, loaded, ok := c.load(stderr)
		if !ok {
			return exitUsage
		}
		rs = loaded
		col, err := newCollector(c.proc)
		if err != nil {
			fmt.Fprintln(stderr, "ptrule explain:", err)
			return exitFailure
		}
		snap, err = col.Collect(collect.CollectOptions{Read: engine.FactRead})
		if err != nil {
			fmt.Fprintln(stderr, "ptrule explain:", err)
			return exitFailure
		}
		defer snap.Release()
		// The daemon's suppressions are read, as scan's dry run reads
		// them, and never written.
		clk, _ := col.BootClock()
		fileStore, err := state.ReadFileStore(cfg.StateDir, snap.Time, clk)
		if err != nil {
			fmt.Fprintf(stderr, "ptrule explain: the suppression state could not be read, so no suppression is shown: %v\n", err)
		}
		store = fileStore
		actor = newActor(cfg, c.proc, log, false, newDispatcher(cfg, log))
	}

	ex, err := rs.Explain(snap, name, t)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule explain:", err)
		if errors.Is(err, engine.ErrNoEntity) {
			return exitFailure
		}
		return exitUsage
	}
	rep := newExplainReport(ex, actor, store, snap.Time)
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.writeText(stdout)
	}
	if ex.Err != nil {
		return exitFailure
	}
	return exitOK
}

// explainReport is what `ptrule explain` prints: its JSON form, from which
// the text is made.
type explainReport struct {
	Rule      string `json:"rule"`
	Scope     string `json:"scope"`
	Entity    string `json:"entity"`
	Key       string `json:"key,omitempty"`
	Condition string `json:"condition"`
	// Status is "fired", "suppressed" or "no match".
	Status    string             `json:"status"`
	Matched   bool               `json:"matched"`
	Error     string             `json:"error,omitempty"`
	Steps     []explainStep      `json:"steps"`
	Ignored   bool               `json:"ignored"`
	IgnoredBy *explainIgnore     `json:"ignored_by,omitempty"`
	Suppress  *explainSuppressed `json:"suppressed_by,omitempty"`
	Actions   []explainAction    `json:"actions"`
}

type explainStep struct {
	Offset int    `json:"offset"`
	Depth  int    `json:"depth"`
	Text   string `json:"text"`
	Value  string `json:"value"`
}

type explainIgnore struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Entry string `json:"entry"`
}

type explainSuppressed struct {
	Key           string    `json:"key"`
	Until         time.Time `json:"until"`
	MonitorRepeat bool      `json:"monitor_repeat,omitempty"`
}

type explainAction struct {
	Kind string `json:"kind"`
	At   string `json:"at"`
	If   string `json:"if,omitempty"`
	// Decided is what the `if` gave: always, true, false or an error.
	Decided string `json:"decided"`
	// Would is what the action would do, from a dry run; absent for an
	// action whose `if` kept it from running.
	Would *act.ActionResult `json:"would,omitempty"`
}

// newExplainReport joins the explanation with the suppression state and
// the actor's dry run of the match's actions. A suppressed match runs no
// action; its actions are dry-run as if it fired, to show what they would
// do once the suppression ends.
func newExplainReport(ex *engine.Explanation, actor *act.Actor, store engine.Store, now time.Time) *explainReport {
	rep := &explainReport{
		Rule: ex.Rule.Name, Scope: string(ex.Rule.Scope), Entity: ex.Entity, Condition: engine.Display(ex.Condition),
		Status: "no match", Matched: ex.Matched, Ignored: ex.Ignored, Steps: []explainStep{}, Actions: []explainAction{},
	}
	if ex.Err != nil {
		rep.Error = engine.Display(ex.Err.Error())
	}
	for _, s := range ex.Steps {
		rep.Steps = append(rep.Steps, explainStep(s))
	}
	if e := ex.IgnoredBy; e != nil {
		rep.IgnoredBy = &explainIgnore{File: engine.Display(e.Pos.File), Line: e.Pos.Line, Entry: engine.Display(e.Item + ":" + e.Value)}
	}
	if ex.Match == nil {
		return rep
	}
	rep.Key = act.DisplayKey(ex.Match.Key)
	d := actor.Decide([]*engine.Match{ex.Match}, store, now)[0]
	rep.Status = string(d.Status)
	if d.Status == engine.StatusSuppressed {
		rep.Suppress = &explainSuppressed{Key: act.DisplayKey(d.SuppressedBy), Until: d.Until, MonitorRepeat: d.ByMonitor}
		d.Status = engine.StatusFired
	}
	res := actor.Apply(context.Background(), d, false)
	planned := res.Actions
	for _, a := range ex.Actions {
		ea := explainAction{Kind: string(a.Kind), At: engine.Display(a.Pos.String()), If: engine.Display(a.If), Decided: a.Decided}
		if a.Planned && len(planned) > 0 {
			ea.Would = &planned[0]
			planned = planned[1:]
		}
		rep.Actions = append(rep.Actions, ea)
	}
	return rep
}

// writeText writes the report for people.
func (r *explainReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "rule %s (%s scope), %s\n", r.Rule, r.Scope, r.Entity)
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "condition: ERROR, no match: %s\n", r.Error)
	case r.Matched:
		fmt.Fprintln(w, "condition: MATCHED")
	default:
		fmt.Fprintln(w, "condition: did not match")
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %s%s = %s\n", strings.Repeat("  ", s.Depth), s.Text, s.Value)
	}
	switch {
	case r.IgnoredBy != nil:
		fmt.Fprintf(w, "ignored: true, by %s:%d: %s\n", r.IgnoredBy.File, r.IgnoredBy.Line, r.IgnoredBy.Entry)
	case r.Scope == "process" || r.Scope == "user":
		fmt.Fprintln(w, "ignored: false, no ignore-list entry matches")
	}
	if !r.Matched {
		fmt.Fprintln(w, "result: no match, so no action and no suppression apply")
		return
	}
	if s := r.Suppress; s != nil {
		by := ""
		if s.MonitorRepeat {
			by = " (monitor_repeat)"
		}
		fmt.Fprintf(w, "suppression: ACTIVE for key %s until %s%s: the match does not fire\n", s.Key, s.Until.Format(time.RFC3339), by)
		fmt.Fprintln(w, "actions (what each would do once the suppression ends; dry run):")
	} else {
		fmt.Fprintf(w, "suppression: none active for key %s: the match fires\n", r.Key)
		fmt.Fprintln(w, "actions (dry run: nothing was sent, killed or run):")
	}
	for _, a := range r.Actions {
		cond := "no if"
		if a.If != "" {
			cond = fmt.Sprintf("if %s gave %s", a.If, a.Decided)
		}
		fmt.Fprintf(w, "  %-8s %s: %s", a.Kind, a.At, cond)
		switch {
		case a.Would == nil:
			fmt.Fprint(w, "; skipped")
		case a.Would.Error != "":
			fmt.Fprintf(w, "; %s (%s)", a.Would.Result, a.Would.Error)
		default:
			fmt.Fprintf(w, "; would: %s %s", a.Would.Result, a.Would.Detail)
		}
		fmt.Fprintln(w)
	}
}
