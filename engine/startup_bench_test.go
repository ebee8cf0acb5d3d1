package engine

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"testing"
)

// The benchmarks of this file measure what every command pays before it
// looks at a process: building the CEL environments and loading rules
// (issue 12: `ptrule check` on the defaults within 50 ms, and 1,000 rules
// loaded within a second). They read the shipped default rules from
// ../rules.d, so they measure the rules users run.

// defaultRuleFiles returns the shipped default rules and ignore list.
func defaultRuleFiles(tb testing.TB) []File {
	tb.Helper()
	files, err := DirFiles(os.DirFS("../rules.d"), ".", "rules.d")
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatal("no default rules in ../rules.d")
	}
	return files
}

var ruleNameLine = regexp.MustCompile(`(?m)^(  - name: )(\S+)$`)

// manyRules returns n distinct rules: copies of the default rules (every
// scope, their params, templates and actions), each copy renamed so that
// every rule is a new one, spread over one file per default rule file.
func manyRules(tb testing.TB, n int) []File {
	tb.Helper()
	var defaults []File
	for _, f := range defaultRuleFiles(tb) {
		if IsRuleFile(f.Path) {
			defaults = append(defaults, f)
		}
	}
	bufs := make([]bytes.Buffer, len(defaults))
	for i := range bufs {
		bufs[i].WriteString("rules:\n")
	}
	for i := range n {
		d := i % len(defaults)
		body := bytes.TrimPrefix(defaults[d].Data, []byte("rules:\n"))
		if len(body) == len(defaults[d].Data) {
			tb.Fatalf("%s does not start with \"rules:\\n\"", defaults[d].Path)
		}
		bufs[d].Write(ruleNameLine.ReplaceAll(body, fmt.Appendf(nil, "${1}${2}-%04d", i)))
	}
	var out []File
	for i := range bufs {
		if i < n {
			out = append(out, File{Path: fmt.Sprintf("many-%d.yaml", i), Data: bufs[i].Bytes()})
		}
	}
	return out
}

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
	files := defaultRuleFiles(b)
	rs, ps := LoadRules(files)
	if len(ps) > 0 {
		b.Fatal(FormatError(ps))
	}
	loadBench(b, files, len(rs.Rules))
}

// BenchmarkLoadManyRules loads 1 and 1,000 distinct rules: ns/rule shows
// whether the cost per rule stays flat as rules are added.
func BenchmarkLoadManyRules(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			loadBench(b, manyRules(b, n), n)
		})
	}
}
