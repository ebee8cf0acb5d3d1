package main

import (
	"fmt"
	"io"
	"slices"

	"ptrule/builtin/collect"
	"ptrule/engine"
)

func cmdFacts(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("facts", "[--proc DIR] [--pid N]... [--format yaml|json]",
		"ptrule facts --pid 4242 > situation.yaml   # paste under `snapshot:` in a fixture", stderr)
	proc := fs.String("proc", "/proc", "the /proc tree to read")
	var pids intListFlag
	fs.Var(&pids, "pid", "only this process (repeatable)")
	format := fs.String("format", "yaml", "output format: yaml or json")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *format != "yaml" && *format != "json" {
		fmt.Fprintf(stderr, "ptrule facts: unknown --format %q: use yaml or json\n", *format)
		return exitUsage
	}
	col, err := newCollector(*proc)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule facts:", err)
		return exitFailure
	}
	snap, err := col.Collect(collect.CollectOptions{Read: engine.FactRead, PIDs: pids})
	if err != nil {
		fmt.Fprintln(stderr, "ptrule facts:", err)
		return exitFailure
	}
	defer snap.Release()
	// Every fact is printed, those taken from other processes too.
	snap.LoadAll(engine.FactAll)
	for _, pid := range pids {
		if !slices.ContainsFunc(snap.Procs, func(p engine.Process) bool { return p.PID == pid }) {
			fmt.Fprintf(stderr, "ptrule facts: no process %d\n", pid)
		}
	}
	out, err := engine.EncodeSnapshot(snap, *format)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule facts:", err)
		return exitFailure
	}
	stdout.Write(out)
	return exitOK
}
