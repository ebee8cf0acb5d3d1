package tick

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/builtin/proctest"
	"ptrule/builtin/state"
	"ptrule/engine"
)

// TestTickIgnoreHits runs two ticks and checks that the entry that hid
// each process is counted once per tick and saved, that an expired entry
// hides nothing and is reported once per load, and that an entry that hid
// nothing has no hits.
func TestTickIgnoreHits(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
	tree.AddProc(proctest.Proc{PID: 200, UID: 1001, Exe: "/usr/bin/y", Age: time.Hour})
	tree.AddProc(proctest.Proc{PID: 300, UID: 1001, Exe: "/usr/bin/y", Age: time.Hour})
	col, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	rs, ps := engine.LoadRules([]engine.File{
		{Path: "r.yaml", Data: []byte(`rules:
  - {name: seen, scope: process, every: 1h, condition: "!ignored", actions: [alert: {}]}
`)},
		{Path: "site.pignore", Data: []byte(`# ptrule: reason="old job" owner=ops expires=2020-01-01
exe:/usr/bin/x
exe:/usr/bin/y
exe:/usr/bin/unused
`)},
	})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	entries := rs.Ignore.Entries()
	expired, used, unused := entries[0], entries[1], entries[2]

	dir := t.TempDir()
	hits, err := state.ReadIgnoreHits(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(col)
	load := func() {
		r.Load(rs, time.Minute, act.New(act.Config{Sender: nullSender{}, Enricher: engine.NoEnricher{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Perform: true}), &memStore{MemStore: engine.NewMemStore()})
	}
	load()
	r.CountIgnoreHits(hits)

	tick := func() *Report {
		t.Helper()
		r.next["seen"] = time.Time{} // due again
		rep := r.Tick(context.Background(), nil)
		if rep == nil || rep.HitsErr != nil || rep.CollectErr != nil {
			t.Fatalf("tick: %+v", rep)
		}
		return rep
	}
	first := tick()
	if len(first.Decisions) != 1 || first.Decisions[0].Proc.PID != 100 {
		t.Errorf("first tick decisions %+v, want only pid 100, which the expired entry no longer hides", first.Decisions)
	}
	if len(first.Expired) != 1 || first.Expired[0].Pos.Line != 2 {
		t.Errorf("first tick expired %v, want line 2", first.Expired)
	}
	second := tick()
	if len(second.Expired) != 0 {
		t.Errorf("second tick reported %v again within a day of the load", second.Expired)
	}

	saved, err := state.ReadIgnoreHits(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := saved.Get(used); h.Hits != 4 || h.LastHit.IsZero() || h.LastHit.Before(first.Start.Add(-time.Second)) {
		t.Errorf("used entry: %+v, want 4 hits (2 processes, 2 ticks) and a last hit", h)
	}
	for _, e := range []engine.IgnoreEntry{expired, unused} {
		if h := saved.Get(e); h.Hits != 0 || !h.LastHit.IsZero() {
			t.Errorf("%v: %+v, want no hits", e, h)
		}
	}

	// A reload reports the expired entry again.
	load()
	if third := tick(); len(third.Expired) != 1 {
		t.Errorf("after a reload expired %v, want the entry reported again", third.Expired)
	}
}

// TestReportLogsExpired checks the daemon's log line for an expired entry:
// a warning naming the entry, its expiry, reason and owner.
func TestReportLogsExpired(t *testing.T) {
	l, ps := engine.ParseIgnore("site.pignore", []byte("# ptrule: reason=\"old job\" owner=ops expires=2020-01-31\nexe:/usr/bin/x\n"), 1, nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	var buf strings.Builder
	rep := &Report{Shortest: time.Hour, Expired: l.Entries()}
	rep.Log(slog.New(slog.NewTextHandler(&buf, nil)))
	want := `level=WARN msg="ignore entry expired: it hides nothing any more; renew its expires= or remove the line" entry="site.pignore:2: exe:/usr/bin/x" expired=2020-01-31 reason="old job" owner=ops`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log:\n%s\nwant a line containing\n%s", buf.String(), want)
	}
}
