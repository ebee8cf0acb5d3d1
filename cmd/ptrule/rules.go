package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"ptrule/engine"
)

func cmdRules(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rules", "[--config F] [--rules P]...",
		"ptrule rules --rules /etc/ptrule/rules.d/site.yaml", stderr)
	var c commonFlags
	c.register(fs, false)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	_, rs, ok := c.load(stderr)
	if !ok {
		return exitUsage
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPE\tENABLED\tEVERY\tDEFINED IN\tPATCHED BY")
	for _, r := range rs.Rules {
		every := "interval"
		if r.Every > 0 {
			every = r.Every.String()
		}
		patches := make([]string, len(r.Patches))
		for i, p := range r.Patches {
			patches[i] = fileLine(p)
		}
		if len(patches) == 0 {
			patches = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", r.Name, r.Scope, r.Enabled, every, fileLine(r.Origin), strings.Join(patches, ", "))
	}
	tw.Flush()
	return exitOK
}

func fileLine(p engine.Pos) string { return fmt.Sprintf("%s:%d", p.File, p.Line) }
