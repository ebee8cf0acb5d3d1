package engine

import (
	"testing"
)

// The benchmarks of this file measure what every command pays before it
// looks at a process: building the CEL environments and loading rules
// (issue 12: `ptrule check` on the defaults within 50 ms; 1,000 rules are
// BenchmarkLoadRuleCount's). They read the shipped default rules from
// ../rules.d, so they measure the rules users run.

// loadBench loads files once per iteration and checks the rule count.
func loadBench(b *testing.B, files []File, want int) {
	b.ReportAllocs()
	for b.Loop() {
		rs, ps := LoadRules(files)
		if len(ps) > 0 {
			b.Fatal(FormatError(ps))
		}
		if len(rs.Rules) != want {
			b.Fatalf("loaded %d rules, want %d", len(rs.Rules), want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/rule")
}

// BenchmarkLoadDefaultRules loads the default rules and ignore list, as
// `ptrule check` does, with the CEL environments already built.
func BenchmarkLoadDefaultRules(b *testing.B) {
	files := builtinFiles(b)
	rs, ps := LoadRules(files)
	if len(ps) > 0 {
		b.Fatal(FormatError(ps))
	}
	loadBench(b, files, len(rs.Rules))
}
