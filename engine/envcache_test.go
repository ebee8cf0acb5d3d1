package engine

import (
	"fmt"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"
)

// newScopeEnvAlone builds the environment of one scope from nothing, as
// every scope once was: the reference that newScopeEnv, an extension of
// sharedEnv, must declare exactly like.
func newScopeEnvAlone(s Scope) (*cel.Env, error) {
	return cel.NewCustomEnv(append(sharedOptions(), scopeVariables(s)...)...)
}

// scopeExprs are expressions whose compilation tells the scopes apart:
// each scope's variables, the other scopes' variables (undeclared), the
// library subset (CEL's bytes() excluded, ptrule's kept), the extensions,
// optional syntax and mistakes of type.
var scopeExprs = []string{
	`proc.pid > 1 && proc.connections.exists(c, c.remote_port == 22)`,
	`user.count > 3 && !ignored`,
	`session.count > 3`,
	`host.cpus > 1 && load.avg1 > 2.0 && now > timestamp("2026-01-01T00:00:00Z")`,
	`bytes("1MiB") > 1 && bytes(4096) == 4096`,
	`bytes(b"x") == 1`,
	`"a,b".split(",").size() == 2 && [3, 1].sort()[0] == 1 && sets.contains([1], [1]) && math.greatest(1, 2) == 2`,
	`optional.of(1).hasValue() && {"a": 1}.?a.orValue(0) == 1`,
	`proc.pid + "x"`,
	`proc.no_such_field`,
	`1 == 1.0`,
}

// TestScopeEnvsDeclareTheSame holds every scope's environment, extended
// from the shared one, to the environment that scope had when it was built
// alone: the same declarations, and the same result or the same errors
// for every expression.
func TestScopeEnvsDeclareTheSame(t *testing.T) {
	for _, s := range scopes {
		got, err := newScopeEnv(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := newScopeEnvAlone(s)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := configYAML(t, got), configYAML(t, want); g != w {
			t.Errorf("scope %s declares\n%s\nalone it declares\n%s", s, g, w)
		}
		for _, x := range scopeExprs {
			if g, w := compileOutcome(got, x), compileOutcome(want, x); g != w {
				t.Errorf("scope %s, %s:\n got  %s\n want %s", s, x, g, w)
			}
		}
	}
}

// configYAML describes an environment's declarations.
func configYAML(t *testing.T, e *cel.Env) string {
	t.Helper()
	c, err := e.ToConfig("ptrule")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// compileOutcome is the result type of x in e, or its errors.
func compileOutcome(e *cel.Env, x string) string {
	ast, iss := e.Compile(x)
	if iss.Err() != nil {
		return "error: " + iss.Err().Error()
	}
	return "type: " + ast.OutputType().String()
}

// TestScopeEnvsTellScopesApart checks that the corpus above can fail
// TestScopeEnvsDeclareTheSame: a scope's variables compile in it and not
// in the scope without them.
func TestScopeEnvsTellScopesApart(t *testing.T) {
	proc, err := newScopeEnv(ScopeProcess)
	if err != nil {
		t.Fatal(err)
	}
	host, err := newScopeEnv(ScopeHost)
	if err != nil {
		t.Fatal(err)
	}
	x := scopeExprs[0]
	if g := compileOutcome(proc, x); g != "type: "+types.BoolType.String() {
		t.Errorf("process scope: %s gives %s", x, g)
	}
	if g := compileOutcome(host, x); g == compileOutcome(proc, x) {
		t.Errorf("host scope compiles %s like the process scope: %s", x, g)
	}
}

// BenchmarkScopeEnvs builds the four scope environments the way
// newScopeEnv does (shared declarations built once, each scope an
// extension) and the way they once were (each scope built alone). The
// shared declarations are built anew in each iteration, so "shared" is
// the whole cost of the first rule load.
func BenchmarkScopeEnvs(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			shared, err := newSharedEnv()
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range scopes {
				e, err := shared.Extend(scopeVariables(s)...)
				if err != nil {
					b.Fatal(err)
				}
				mustCheck(b, e, s)
			}
		}
	})
	b.Run("alone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range scopes {
				e, err := newScopeEnvAlone(s)
				if err != nil {
					b.Fatal(err)
				}
				mustCheck(b, e, s)
			}
		}
	})
}

// mustCheck compiles one expression in e, so that the type checker's
// declarations, built lazily, are part of what is measured.
func mustCheck(b *testing.B, e *cel.Env, s Scope) {
	if _, iss := e.Compile(fmt.Sprintf("now > timestamp(0) || %q == %q", s, s)); iss.Err() != nil {
		b.Fatal(iss.Err())
	}
}
