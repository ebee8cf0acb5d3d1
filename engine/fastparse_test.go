package engine

import (
	"fmt"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/debug"
)

// defaultExprs returns the text of every CEL expression of the default
// rules: conditions and the if, for and key of their actions.
func defaultExprs(tb testing.TB) []string {
	tb.Helper()
	rs, ps := LoadRules(builtinFiles(tb))
	if len(ps) > 0 {
		tb.Fatal(FormatError(ps))
	}
	var out []string
	for _, r := range rs.Rules {
		progs := []*program{r.cond}
		for _, a := range r.Actions {
			progs = append(progs, a.ifProg, a.forProg, a.keyProg)
		}
		for _, p := range progs {
			if p != nil {
				out = append(out, p.text)
			}
		}
	}
	if len(out) < len(rs.Rules) {
		tb.Fatalf("%d expressions in %d default rules", len(out), len(rs.Rules))
	}
	return out
}

// fuzzEnv is the environment of a rule with params of every kind, like
// the ones expressions are compiled in.
func fuzzEnv(tb testing.TB) *cel.Env {
	tb.Helper()
	e, err := ruleEnv(ScopeProcess, "fuzz", map[string]any{"n": int64(1), "s": "x", "b": true, "l": []any{"a"}})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// sameParse fails when fastParse accepts x and the environment's own
// parser does not, or builds another tree: other nodes, other ids, other
// macro calls. Positions are not compared: they differ in places (a
// leading-dot name), and compileSource uses a Pratt tree only when it
// checks without error, where positions play no part.
func sameParse(t *testing.T, e *cel.Env, x string) (fast bool) {
	t.Helper()
	got, ok := fastParse(common.NewTextSource(x))
	if !ok {
		return false
	}
	want, iss := e.ParseSource(common.NewTextSource(x))
	if iss.Err() != nil {
		t.Fatalf("the Pratt parser accepts %q, the environment's parser does not: %v", x, iss.Err())
	}
	if g, w := debug.ToDebugStringWithIDs(got.NativeRep().Expr()), debug.ToDebugStringWithIDs(want.NativeRep().Expr()); g != w {
		t.Fatalf("%q parses to\n%s\nnot to\n%s", x, g, w)
	}
	gi, wi := got.NativeRep().SourceInfo(), want.NativeRep().SourceInfo()
	if len(gi.MacroCalls()) != len(wi.MacroCalls()) {
		t.Fatalf("%q: %d macro calls, not %d", x, len(gi.MacroCalls()), len(wi.MacroCalls()))
	}
	for id, call := range wi.MacroCalls() {
		g, ok := gi.GetMacroCall(id)
		if !ok || debug.ToDebugStringWithIDs(g) != debug.ToDebugStringWithIDs(call) {
			t.Fatalf("%q: macro call %d differs", x, id)
		}
	}
	if got.Source().Content() != want.Source().Content() {
		t.Fatalf("%q: source %q, not %q", x, got.Source().Content(), want.Source().Content())
	}
	return true
}

// fastParseSeeds are expressions of every construct: macros, optional
// syntax, literals of each kind, escapes, comments, and mistakes.
var fastParseSeeds = []string{
	`proc.connections.exists(c, c.remote_port in [22, 80]) && proc.cmdline.all(a, a != "")`,
	`[1, 2].map(x, x * 2).filter(y, y > 2).exists_one(z, z == 4) && has(proc.exe)`,
	`{"a": 1, "b": 2}.?a.orValue(0) + [0, ?optional.none()].size()`,
	`proc.exe.matches("^/usr/(s)?bin/") ? b"\x00\377" : bytes("1MiB")`,
	`r"raw\n" + '''triple
quoted''' + "\u00e9\t" + '\''`,
	`-1 - -2u + 3.5e-1 + 0x1F + 1e3 // a comment`,
	`!(a || b) && (c ? d : e)[0].f["g"]`,
	`.proc.pid == 1 && engine.Process{pid: 1}.pid == 1`,
	`proc.pid == `,
	`proc.pid = 1`,
	`"unterminated`,
	`a.b.c.d.e.f.g(h, i...)`,
	`in`,
	`1 +* 2`,
	`[1, 2,]`,
	``,
	"\u00e9 == 1",
	"0X1F == 31",
	"`a.b` == 1",
}

// TestFastParseMatches holds the Pratt parser to the environment's parser
// on the default rules' expressions and the seeds, and checks that the
// default rules do take the fast path (a change of options that sends
// them all the slow way would otherwise go unseen).
func TestFastParseMatches(t *testing.T) {
	e := fuzzEnv(t)
	for _, x := range defaultExprs(t) {
		if !sameParse(t, e, x) {
			t.Errorf("default expression %q does not take the fast parse", x)
		}
	}
	for _, x := range fastParseSeeds {
		sameParse(t, e, x)
	}
}

// TestCompileSourceErrorsUnchanged checks that compileSource reports the
// very errors, words and positions, of the environment's CompileSource,
// for mistakes of syntax (where the Pratt parser's own messages differ)
// and of type.
func TestCompileSourceErrorsUnchanged(t *testing.T) {
	e := fuzzEnv(t)
	for _, x := range []string{
		`proc.pid == `, `proc.pid = 1`, `"unterminated`, `1 +* 2`, `in`, ``, `[1, 2,]`,
		`proc.pidd > 1`, `params.nn + 1`, `proc.pid + "x"`, `duration(params.n)`, `bytes(b"x")`,
		"proc.pid > 1 &&\n  proc.exe == 2",
		// A leading-dot name, which the Pratt parser places at the dot.
		`.proc.pidd == 1`, `.proc.pid == 1 && .nothere`,
		strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300),
	} {
		got, giss := compileSource(e, common.NewTextSource(x))
		want, wiss := e.CompileSource(common.NewTextSource(x))
		if (got == nil) != (want == nil) {
			t.Errorf("%q: compileSource gives %v, CompileSource %v", x, got, want)
		}
		if g, w := issuesText(giss), issuesText(wiss); g != w {
			t.Errorf("%q: compileSource reports\n%s\nCompileSource reports\n%s", x, g, w)
		}
	}
}

// issuesText is every error of iss with its position.
func issuesText(iss *cel.Issues) string {
	if iss == nil {
		return ""
	}
	var b strings.Builder
	for _, e := range iss.Errors() {
		fmt.Fprintf(&b, "%d:%d: %s\n", e.Location.Line(), e.Location.Column(), e.Message)
	}
	return b.String()
}

// FuzzFastParse holds the Pratt parser to the environment's parser: what
// it accepts, the other accepts with the same tree, ids and positions.
func FuzzFastParse(f *testing.F) {
	for _, x := range defaultExprs(f) {
		f.Add(x)
	}
	for _, x := range fastParseSeeds {
		f.Add(x)
	}
	e := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, x string) {
		sameParse(t, e, x)
	})
}

// BenchmarkParse parses the default rules' expressions with the Pratt
// parser (and the round trip that hands its tree to the checker) and with
// the environment's ANTLR parser, both warm.
func BenchmarkParse(b *testing.B) {
	exprs := defaultExprs(b)
	e := fuzzEnv(b)
	b.Run("pratt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, x := range exprs {
				if _, ok := fastParse(common.NewTextSource(x)); !ok {
					b.Fatalf("%q does not take the fast parse", x)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(exprs)), "ns/expr")
	})
	b.Run("antlr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, x := range exprs {
				if _, iss := e.ParseSource(common.NewTextSource(x)); iss.Err() != nil {
					b.Fatal(iss.Err())
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(exprs)), "ns/expr")
	})
}
