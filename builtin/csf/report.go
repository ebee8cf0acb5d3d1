package csf

import (
	"fmt"
	"strings"
)

// Report is what `ptrule import-csf` prints: each directive and what it
// became, the config line, the ignore list's differences from lfd, and
// what could not be read.
func Report(conv *Conversion, ign *IgnoreConversion) string {
	var b strings.Builder
	b.WriteString("csf.conf:\n")
	if len(conv.Directives) == 0 {
		b.WriteString("  no Process Tracking directive set\n")
	}
	for _, d := range conv.Directives {
		fmt.Fprintf(&b, "  %s: %s = %s -> %s\n", d.Pos, d.Name, quote(d.Value), d.Became)
	}
	if len(conv.Unset) > 0 {
		fmt.Fprintf(&b, "  not set, ptrule's defaults apply: %s\n", strings.Join(conv.Unset, ", "))
	}
	b.WriteString("\nconfig (ptrule.yaml):\n")
	if conv.Interval == "" {
		b.WriteString("  PT_INTERVAL not set: the config's interval (default 60s) applies\n")
	} else {
		fmt.Fprintf(&b, "  %s\n", conv.Interval)
	}
	if ign != nil {
		fmt.Fprintf(&b, "\ncsf.pignore: %d entries\n", ign.Entries)
		for _, n := range ign.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	var problems []string
	for _, p := range conv.Problems {
		problems = append(problems, p.String())
	}
	if ign != nil {
		for _, p := range ign.Problems {
			problems = append(problems, p.String())
		}
	}
	if len(problems) > 0 {
		b.WriteString("\ncould not import:\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	return b.String()
}
