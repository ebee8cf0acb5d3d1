package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/builtin/state"
	"ptrule/engine"
)

func cmdScan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scan", "[--config F] [--rules P]... [--proc DIR] [--format text|json] [--act]",
		"ptrule scan --format json --rules ./site-rules/", stderr)
	var c commonFlags
	c.register(fs, true)
	format := fs.String("format", "text", "output format: text or json (one object per line)")
	perform := fs.Bool("act", false, "perform the actions (kill, run, send alerts, persist suppressions); without it nothing is done")
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
	if *perform && cfg.Mode != modeMonitor {
		if err := act.CheckProcfs(c.proc); err != nil {
			fmt.Fprintf(stderr, "ptrule scan: --act refused: %v. A pid read there may name an unrelated process on this host; scan acts only on the procfs of its own PID namespace. Drop --proc to act on this host, drop --act for a dry run, or use mode: monitor\n", err)
			return exitUsage
		}
	}
	col, err := newCollector(c.proc)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule scan:", err)
		return exitFailure
	}
	// Facts are read as the rules reach them; the process directories
	// stay open until the scan ends.
	snap, err := col.Collect(collect.CollectOptions{})
	if err != nil {
		fmt.Fprintln(stderr, "ptrule scan:", err)
		return exitFailure
	}
	defer snap.Release()
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
	var fileStore *state.FileStore
	if *perform {
		fileStore, err = state.OpenFileStore(cfg.StateDir, snap.Time, clk)
		if err != nil {
			log.Warn("suppression state could not be read and starts empty", "err", err)
		}
	} else {
		fileStore, _ = state.ReadFileStore(cfg.StateDir, snap.Time, clk)
	}
	a := newActor(cfg, c.proc, log, *perform, newDispatcher(cfg, log))
	ctx := context.Background()
	var fired, suppressed int
	for _, d := range a.Decide(matches, fileStore, snap.Time) {
		o := a.Apply(ctx, d, true)
		if d.Status == engine.StatusFired {
			fired++
			if *perform {
				o.Commit(fileStore)
			}
		} else {
			suppressed++
		}
		if *format == "json" {
			o.WriteJSON(stdout)
		} else {
			o.WriteText(stdout)
		}
		for _, r := range o.Actions {
			if r.Result == act.ResultError {
				code = exitFailure
			}
		}
	}
	if *perform {
		if err := fileStore.Save(time.Now()); err != nil {
			fmt.Fprintln(stderr, "ptrule scan: saving suppression state:", err)
			code = exitFailure
		}
	}
	if *format == "text" {
		fmt.Fprintf(stdout, "%d processes scanned, %d rules: %d fired, %d suppressed", len(snap.Procs), enabledCount(rs), fired, suppressed)
		if !*perform {
			fmt.Fprint(stdout, " (dry run: nothing was sent, killed or run; add --act to act)")
		}
		fmt.Fprintln(stdout)
	}
	return code
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
