package engine

import (
	"reflect"
	"slices"
	"testing"
)

// Evaluate reads the snapshot and never writes it: two rule sets with
// different ignore lists evaluate one snapshot, and each keeps the counts
// of its own list, while the snapshot stays as it was built.
func TestEvaluateLeavesSnapshotAlone(t *testing.T) {
	snap := NewSnapshot(t0, Host{Name: "web1"}, Load{}, []Process{
		{PID: 12, PPID: 10, PGID: 10, SID: 10, UID: 48, User: "apache", Exe: "/usr/bin/perl"},
		{PID: 10, PPID: 1, PGID: 10, SID: 10, UID: 48, User: "apache", Exe: "/usr/sbin/httpd"},
		{PID: 11, PPID: 10, PGID: 10, SID: 10, UID: 48, User: "apache", Exe: "/usr/sbin/httpd"},
	})
	before := cloneSnapshot(snap)

	rule := ruleText("count", "user", "", "user.count > 0", "[alert: {}]")
	quiet := loadOK(t, yamlFile("r.yaml", rule), File{Path: "a.pignore", Data: []byte("exe:/usr/sbin/httpd\n")})
	plain := loadOK(t, yamlFile("r.yaml", rule))

	first, errs := quiet.Evaluate(snap, nil)
	if len(errs) > 0 || len(first) != 1 {
		t.Fatalf("with the ignore list: %d matches, errors %v", len(first), errs)
	}
	second, errs := plain.Evaluate(snap, nil)
	if len(errs) > 0 || len(second) != 1 {
		t.Fatalf("without it: %d matches, errors %v", len(second), errs)
	}
	// The first evaluation's match still sees its own counts: the second
	// evaluation did not write over them.
	if u := first[0].User; u.Count != 1 || !slices.Equal(u.PIDs, []int{12}) || u.CountAll != 3 {
		t.Errorf("first evaluation's user = %+v, want 1 counted (pid 12) of 3", *u)
	}
	if u := second[0].User; u.Count != 3 || u.CountAll != 3 {
		t.Errorf("second evaluation's user = %+v, want 3 counted of 3", *u)
	}
	if first[0].Snapshot().Snapshot != snap || second[0].Snapshot().Snapshot != snap {
		t.Error("a match's view is not of the evaluated snapshot")
	}
	if !reflect.DeepEqual(snap, before) {
		t.Errorf("Evaluate changed the snapshot:\n got  %+v\n want %+v", *snap, *before)
	}
}

// Evaluating a snapshot that was not built by NewSnapshot still finds
// every process by its PID and computes the aggregates, without sorting or
// filling it in place.
func TestViewOfUnbuiltSnapshot(t *testing.T) {
	snap := &Snapshot{Procs: []Process{
		{PID: 20, PPID: 10, PGID: 10, SID: 10, UID: 1, User: "bin", Exe: "/b"},
		{PID: 10, PPID: 1, PGID: 10, SID: 10, UID: 1, User: "bin", Exe: "/a"},
	}}
	before := cloneSnapshot(snap)
	v := NewView(snap, nil)
	if p := v.Proc(10); p == nil || p.Exe != "/a" {
		t.Errorf("Proc(10) = %+v, want the process running /a", p)
	}
	if s := v.SessionOf(10); s == nil || s.LeaderExe != "/a" || s.Count != 2 {
		t.Errorf("session 10 = %+v, want leader /a and 2 processes", s)
	}
	if !reflect.DeepEqual(snap, before) {
		t.Errorf("NewView changed the snapshot:\n got  %+v\n want %+v", *snap, *before)
	}
}

// cloneSnapshot copies a snapshot deeply enough that a change to any of
// its processes' lists shows in a comparison.
func cloneSnapshot(s *Snapshot) *Snapshot {
	c := *s
	c.Procs = slices.Clone(s.Procs)
	for i := range c.Procs {
		p := &c.Procs[i]
		p.Cmdline = slices.Clone(p.Cmdline)
		p.Connections = slices.Clone(p.Connections)
		p.Listening = slices.Clone(p.Listening)
	}
	return &c
}

// FillDefaults is the one statement of the contract's process defaults
// (§4), which fixtures and fake /proc trees both use.
func TestFillDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   Process
		want Process
	}{
		{"bare", Process{PID: 7},
			Process{PID: 7, PPID: 1, PGID: 7, SID: 7, User: "root", Cmdline: []string{""}, State: "S"}},
		{"pid 1 has no parent", Process{PID: 1, Exe: "/sbin/init"},
			Process{PID: 1, PGID: 1, SID: 1, User: "root", Exe: "/sbin/init", Comm: "init", Cmdline: []string{"/sbin/init"}, State: "S"}},
		{"a uid without a name", Process{PID: 9, UID: 1001, Exe: "/usr/bin/php"},
			Process{PID: 9, PPID: 1, PGID: 9, SID: 9, UID: 1001, User: "1001", Exe: "/usr/bin/php", Comm: "php", Cmdline: []string{"/usr/bin/php"}, State: "S"}},
		{"given fields stay", Process{PID: 9, PPID: 4, PGID: 5, SID: 6, UID: 1001, User: "bob", Exe: "/usr/bin/php", Comm: "php-fpm", Cmdline: []string{}, State: "Z"},
			Process{PID: 9, PPID: 4, PGID: 5, SID: 6, UID: 1001, User: "bob", Exe: "/usr/bin/php", Comm: "php-fpm", Cmdline: []string{}, State: "Z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.in
			p.FillDefaults()
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("got  %+v\nwant %+v", p, tt.want)
			}
		})
	}
}
