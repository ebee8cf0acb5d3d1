package engine

import (
	"fmt"
	"regexp"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
)

var pointer = regexp.MustCompile(`0x[0-9a-f]+|<nil>`)

// FuzzExprNeeds checks that lazy field access with exprNeeds is sound: a
// process-scope expression gives the same result over a lazy snapshot,
// with what exprNeeds names read beforehand, as over the eager snapshot it
// was made from.
func FuzzExprNeeds(f *testing.F) {
	for _, s := range []string{
		"proc.rss > 0", "proc.connections.size() > 0", "has(proc.listening)", "proc.?listening.hasValue()",
		"dyn(proc).connections.size()", "[proc].exists(p, p.listening.exists(s, s.local_port > 0))",
		"proc == proc", "string(proc.pid)", "[proc][0].cmd", "{'p': proc}.p.unit",
		`proc.connections.map(c, c.remote_ip).join(",")`, "optional.of(proc).exe",
		"user.pids.size()", "dyn(session).count", "session.leader_exe", "params.n > 0", "ignored",
		"proc.parent_exe + proc.pgrp_exe", "dyn(proc).parent_exe", "[user][0].count", "user == user",
	} {
		f.Add(s)
	}
	env, err := ruleEnv(ScopeProcess, "r", map[string]any{"n": int64(1)})
	if err != nil {
		f.Fatal(err)
	}
	ign, ps := ParseIgnore("x.pignore", []byte("exe:/usr/bin/php\n"), 1, nil)
	if len(ps) > 0 {
		f.Fatal(ps)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ast, iss := env.CompileSource(common.NewTextSource(text))
		if iss != nil && iss.Err() != nil {
			return
		}
		prg, err := env.Program(ast, cel.CostLimit(100_000))
		if err != nil {
			return
		}
		eval := func(s *Snapshot) string {
			s.LoadAll(exprNeeds(ast))
			v := NewView(s, ign)
			if exprNeeds(ast).Has(FactAggregates) {
				v.Users()
				v.Sessions()
			}
			var out []string
			for i := range v.Procs {
				p := &v.Procs[i]
				a := vars{proc: p, procIdx: i + 1, user: v.userOf(p.UID), session: v.sessionOf(p.SID), snap: v, params: map[string]any{"n": int64(1)}}
				val, _, err := prg.Eval(&a)
				if err != nil {
					out = append(out, "error "+err.Error())
					continue
				}
				out = append(out, fmt.Sprintf("%v", val.Value()))
			}
			// Pointers (a process's lazy state, an aggregate's) differ.
			return pointer.ReplaceAllString(fmt.Sprint(out), "0x")
		}
		lazy, _ := lazyCopy(sampleSnapshot())
		a, b := eval(sampleSnapshot()), eval(lazy)
		if a != b {
			t.Fatalf("%q reads out of sight of lazy access (needs %b):\neager %s\nlazy  %s", text, exprNeeds(ast), a, b)
		}
	})
}
