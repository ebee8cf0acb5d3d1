package rules

import (
	"os"
	"strings"
	"testing"

	"ptrule/builtin/collect"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// TestMain removes the benchmarks' generated trees at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveGenerated()
	os.Exit(code)
}

// BenchmarkEvaluateRule evaluates each default rule alone, enabled by a
// patch when it ships disabled, over the snapshot of a generated tree of
// 1,000 processes (proctest.Gen) with every fact read; "defaults" is
// every rule as shipped, which is what a daemon tick evaluates. ns/proc is
// the cost per process; the snapshot's derivation (ignore list, sessions,
// users) is in every figure, as it is in every evaluation.
func BenchmarkEvaluateRule(b *testing.B) {
	const n = 1000
	tree, _ := proctest.Generated(b, proctest.Gen{Procs: n, Seed: 1})
	c, err := collect.NewCollector(tree.Root())
	if err != nil {
		b.Fatal(err)
	}
	// Every fact read beforehand: the figures are evaluation alone.
	snap, err := c.Collect(collect.CollectOptions{Read: engine.FactRead})
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Release()
	snap.LoadAll(engine.FactAll)
	files, err := Files()
	if err != nil {
		b.Fatal(err)
	}
	base, ps := engine.LoadRules(files)
	if len(ps) > 0 {
		b.Fatal(engine.FormatError(ps))
	}
	run := func(b *testing.B, rs *engine.RuleSet, due func(*engine.Rule) bool) {
		// One evaluation before the clock starts, so that anything an
		// evaluation caches in the snapshot is there for every round.
		ms, errs := rs.Evaluate(snap, due)
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		b.ReportAllocs()
		for b.Loop() {
			rs.Evaluate(snap, due)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/proc")
		b.ReportMetric(float64(len(ms)), "matches")
	}
	b.Run("defaults", func(b *testing.B) { run(b, base, nil) })
	for _, r := range base.Rules {
		name := r.Name
		b.Run(name, func(b *testing.B) {
			patch := engine.File{Path: "bench-enable.yaml", Data: []byte("rules:\n  - {name: " + name + ", enabled: true}\n")}
			rs, ps := engine.LoadRules(append(files[:len(files):len(files)], patch))
			if len(ps) > 0 {
				b.Fatal(engine.FormatError(ps))
			}
			run(b, rs, func(r *engine.Rule) bool { return r.Name == name })
		})
	}
	if !strings.HasPrefix(base.Rules[0].Name, "pt-") {
		b.Fatalf("unexpected first default rule %q", base.Rules[0].Name)
	}
}
