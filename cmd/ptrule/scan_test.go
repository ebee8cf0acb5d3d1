package main

import (
	"slices"
	"testing"

	"ptrule/engine"
)

// TestNeedsSockets checks that a tick walks file descriptors only when a
// due rule reads sockets.
func TestNeedsSockets(t *testing.T) {
	rs, ps := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: net, scope: process, every: 60s, condition: size(proc.connections) > 0, actions: [alert: {}]}
  - {name: mem, scope: process, every: 10s, condition: proc.rss > 1, actions: [alert: {}]}
  - {name: off, scope: process, enabled: false, condition: size(proc.listening) > 0, actions: [alert: {}]}
`)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	only := func(names ...string) func(*engine.Rule) bool {
		return func(r *engine.Rule) bool { return slices.Contains(names, r.Name) }
	}
	for _, tc := range []struct {
		due  func(*engine.Rule) bool
		want bool
	}{
		{nil, true},
		{only("mem"), false},
		{only("mem", "net"), true},
		{only("off", "mem"), false},
	} {
		if got := needsSockets(rs, tc.due); got != tc.want {
			t.Errorf("needsSockets = %v, want %v", got, tc.want)
		}
	}
}
