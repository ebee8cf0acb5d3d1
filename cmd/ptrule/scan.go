package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"ptrule/builtin"
	"ptrule/engine"
)

func cmdScan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scan", "[--config F] [--rules P]... [--proc DIR] [--format text|json] [--act]",
		"ptrule scan --format json --rules ./site-rules/", stderr)
	var c commonFlags
	c.register(fs, true)
	format := fs.String("format", "text", "output format: text or json (one object per line)")
	act := fs.Bool("act", false, "perform the actions (kill, run, send alerts, persist suppressions); without it nothing is done")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "ptrule scan: unknown --format %q: use text or json\n", *format)
		return exitUsage
	}
	cfg, rs, ok := c.load(stderr)
	if !ok {
		return exitUsage
	}
	if *act && cfg.Mode != modeMonitor {
		if err := builtin.CheckProcfs(c.proc); err != nil {
			fmt.Fprintf(stderr, "ptrule scan: --act refused: %v. A pid read there may name an unrelated process on this host; scan acts only on the procfs of its own PID namespace. Drop --proc to act on this host, drop --act for a dry run, or use mode: monitor\n", err)
			return exitUsage
		}
	}
	col, err := newCollector(c.proc)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule scan:", err)
		return exitFailure
	}
	snap, err := col.Collect(builtin.CollectOptions{Sockets: needsSockets(rs, nil)})
	if err != nil {
		fmt.Fprintln(stderr, "ptrule scan:", err)
		return exitFailure
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	code := exitOK
	matches, errs := rs.Evaluate(snap, nil)
	for _, err := range errs {
		fmt.Fprintln(stderr, "ptrule scan:", err)
		code = exitFailure
	}

	// A dry run reads the daemon's state to show what it has silenced,
	// and never commits to it.
	clk, _ := col.BootClock()
	var fileStore *builtin.FileStore
	if *act {
		fileStore, err = builtin.OpenFileStore(cfg.StateDir, snap.Time, clk)
		if err != nil {
			log.Warn("suppression state could not be read and starts empty", "err", err)
		}
	} else {
		fileStore, _ = builtin.ReadFileStore(cfg.StateDir, snap.Time, clk)
	}
	a := newActor(cfg, c.proc, log, *act)
	ctx := context.Background()
	var fired, suppressed int
	for _, d := range engine.Decide(matches, fileStore, snap.Time) {
		o := a.act(ctx, d, true)
		if d.Status == engine.StatusFired {
			fired++
			if *act {
				d.Commit(fileStore)
			}
		} else {
			suppressed++
		}
		if *format == "json" {
			writeJSON(stdout, o)
		} else {
			writeText(stdout, o)
		}
		for _, r := range o.Actions {
			if r.Result == resultError {
				code = exitFailure
			}
		}
	}
	if *act {
		if err := fileStore.Save(time.Now()); err != nil {
			fmt.Fprintln(stderr, "ptrule scan: saving suppression state:", err)
			code = exitFailure
		}
	}
	if *format == "text" {
		fmt.Fprintf(stdout, "%d processes scanned, %d rules: %d fired, %d suppressed", len(snap.Procs), enabledCount(rs), fired, suppressed)
		if !*act {
			fmt.Fprint(stdout, " (dry run: nothing was sent, killed or run; add --act to act)")
		}
		fmt.Fprintln(stdout)
	}
	return code
}

// needsSockets reports whether any enabled rule that is due reads sockets.
func needsSockets(rs *engine.RuleSet, due func(*engine.Rule) bool) bool {
	return rs.Needs(due).Has(engine.FactSockets)
}

func enabledCount(rs *engine.RuleSet) int {
	n := 0
	for _, r := range rs.Rules {
		if r.Enabled {
			n++
		}
	}
	return n
}

// scanJSON is one line of `scan --format json` (contract §5).
type scanJSON struct {
	Rule     string         `json:"rule"`
	Scope    string         `json:"scope"`
	Key      string         `json:"key"`
	PID      *int           `json:"pid,omitempty"`
	User     *string        `json:"user,omitempty"`
	SID      *int           `json:"sid,omitempty"`
	Severity string         `json:"severity"`
	Status   string         `json:"status"`
	Subject  string         `json:"subject"`
	Message  string         `json:"message"`
	Actions  []actionResult `json:"actions"`
}

func writeJSON(w io.Writer, o outcome) {
	j := scanJSON{
		Rule: o.Rule.Name, Scope: string(o.Rule.Scope), Key: o.Key, Severity: string(o.Rule.Severity),
		Status: string(o.Status), Subject: o.Subject, Message: o.Message, Actions: o.Actions,
	}
	if j.Actions == nil {
		j.Actions = []actionResult{}
	}
	switch {
	case o.Proc != nil:
		j.PID, j.User = &o.Proc.PID, &o.Proc.User
	case o.User != nil:
		j.User = &o.User.Name
	case o.Session != nil:
		j.SID = &o.Session.SID
	}
	b, _ := json.Marshal(j)
	fmt.Fprintf(w, "%s\n", b)
}

func writeText(w io.Writer, o outcome) {
	status := "FIRED"
	if o.Status == engine.StatusSuppressed {
		status = "suppressed until " + o.Until.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s %s [%s] %s: %s\n", o.Rule.Name, o.Entity(), o.Rule.Severity, status, o.Subject)
	for _, r := range o.Actions {
		fmt.Fprintf(w, "    %-8s %-8s %s", r.Kind, r.Result, r.Detail)
		if r.Error != "" {
			fmt.Fprintf(w, " (%s)", r.Error)
		}
		fmt.Fprintln(w)
	}
}
