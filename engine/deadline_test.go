package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// withEvalTimeout sets evalTimeout for one test.
func withEvalTimeout(t *testing.T, d time.Duration) {
	old := evalTimeout
	evalTimeout = d
	t.Cleanup(func() { evalTimeout = old })
}

// A comprehension over a hostile command line is stopped when the
// evaluation's time is up, and reported as an EvalError for that rule and
// process that wraps context.DeadlineExceeded; expressions that have
// nothing to interrupt, and other processes, are not affected. With the
// deadline already past, the outcome does not depend on the machine's speed.
func TestEvalDeadlineInterrupts(t *testing.T) {
	withEvalTimeout(t, 0)
	rs := loadOK(t, yamlFile("r.yaml", `rules:
  - name: loop
    scope: process
    condition: 'proc.cmdline.exists(a, a.matches("^(x+x+)+y$"))'
    actions: [alert: {}]
  - name: plain
    scope: process
    condition: 'proc.comm == "agent"'
    actions: [alert: {}]
`))
	hostile := make([]string, 20000)
	for i := range hostile {
		hostile[i] = strings.Repeat("x", 30)
	}
	snap := &Snapshot{Time: FixtureEpoch, Procs: []Process{
		{PID: 10, UID: 1001, User: "1001", Comm: "agent", Cmdline: hostile},
		{PID: 11, UID: 1001, User: "1001", Comm: "sh", Cmdline: []string{"sh", "xxxy"}},
	}}
	ms, errs := rs.Evaluate(snap, nil)
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one for pid 10", errs)
	}
	var ee *EvalError
	if !errors.As(errs[0], &ee) || ee.Rule != "loop" || !strings.Contains(ee.Entity, "10") {
		t.Fatalf("error %v (%T), want an EvalError of rule loop for pid 10", errs[0], errs[0])
	}
	if !errors.Is(errs[0], context.DeadlineExceeded) || !strings.Contains(errs[0].Error(), "the time one evaluation may take") {
		t.Errorf("error %q does not say the evaluation ran out of time", errs[0])
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Rule.Name+"/"+m.Key)
	}
	// plain matches pid 10 (no comprehension to interrupt); loop still
	// evaluates pid 11, whose list is too short to reach a check.
	if len(ms) != 2 || ms[0].Rule.Name != "loop" || ms[0].Proc.PID != 11 || ms[1].Rule.Name != "plain" || ms[1].Proc.PID != 10 {
		t.Errorf("matches %v, want loop on 11 and plain on 10", got)
	}
}

// One timer serves evaluation after evaluation: when it has fired, the
// next evaluation gets a fresh context that is not done.
func TestDeadlineReuse(t *testing.T) {
	withEvalTimeout(t, time.Millisecond)
	d := newDeadline()
	defer d.close()
	ctx := d.start()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute): // a safety net, not a measurement
		t.Fatal("the deadline never fired")
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("cause %v, want DeadlineExceeded", context.Cause(ctx))
	}
	d.stop()
	withEvalTimeout(t, time.Hour)
	next := d.start()
	if next.Err() != nil {
		t.Errorf("the next evaluation starts with a done context: %v", next.Err())
	}
	d.stop()
	if next.Err() != nil {
		t.Errorf("stop ended the context: %v", next.Err())
	}
}
