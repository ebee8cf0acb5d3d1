package tick

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// spyCollector keeps the snapshots it collects, for a test to see what
// the tick read of them.
type spyCollector struct {
	Collector
	snaps []*engine.Snapshot
}

func (c *spyCollector) Collect(opts collect.CollectOptions) (*engine.Snapshot, error) {
	s, err := c.Collector.Collect(opts)
	if s != nil {
		c.snaps = append(c.snaps, s)
	}
	return s, err
}

// TestTickReadsWhatRulesReach checks that a tick reads a process's sockets,
// command line and executable only when a due rule reaches them for that
// process: root's daemon is passed over at proc.uid, and the sockets of
// the user's process are read only in the tick where the rule reading
// them is due.
func TestTickReadsWhatRulesReach(t *testing.T) {
	tree := proctest.New(t)
	tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "10.0.0.1:4000", Remote: "198.51.100.7:6667", Inode: 77})
	tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "0.0.0.0:22", Inode: 78})
	tree.AddProc(proctest.Proc{PID: 100, UID: 0, Exe: "/usr/sbin/sshd", Cmdline: []string{"sshd"}, Sockets: []uint64{78}})
	tree.AddProc(proctest.Proc{PID: 200, UID: 1001, Exe: "/usr/bin/x", Cmdline: []string{"x", "-c"}, Sockets: []uint64{77}})
	real, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	col := &spyCollector{Collector: real}
	rs, ps := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: net, scope: process, every: 1h, condition: 'proc.uid != 0 && proc.connections.size() > 0', actions: [alert: {}]}
  - {name: cmd, scope: process, every: 1m, condition: 'proc.uid != 0 && proc.cmd == "y"', actions: [alert: {}]}
`)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	r := NewRunner(col)
	r.Load(rs, time.Minute, act.New(act.Config{Sender: nullSender{}, Enricher: engine.NoEnricher{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), nil)

	// Both rules are due: net fires on pid 200, read whole for its alert.
	if rep := r.Tick(context.Background(), nil); rep == nil || rep.Fired() != 1 {
		t.Fatalf("first tick: %+v", rep)
	}
	root, user := &col.snaps[0].Procs[0], &col.snaps[0].Procs[1]
	if root.Exe != "" || root.Cmd != "" || root.Listening != nil {
		t.Errorf("root's daemon was read: exe %q cmd %q listening %v", root.Exe, root.Cmd, root.Listening)
	}
	if user.Exe != "/usr/bin/x" || len(user.Connections) != 1 {
		t.Errorf("the matched process was not read whole: %+v", *user)
	}

	// A minute later only cmd is due: the command line is read, the
	// sockets are not.
	r.next["cmd"] = time.Time{}
	if rep := r.Tick(context.Background(), nil); rep == nil || len(rep.Due) != 1 {
		t.Fatalf("second tick: %+v", rep)
	}
	root, user = &col.snaps[1].Procs[0], &col.snaps[1].Procs[1]
	if root.Cmd != "" || user.Cmd != "x -c" || user.Connections != nil || user.Exe != "" {
		t.Errorf("second tick read root cmd %q, user cmd %q, user sockets %v, user exe %q; want only the user's command line",
			root.Cmd, user.Cmd, user.Connections, user.Exe)
	}
}

// memStore is a MemStore that counts its marks and saves.
type memStore struct {
	*engine.MemStore
	marks, saves int
}

func (s *memStore) Suppress(rule, key string, until time.Time) {
	s.marks++
	s.MemStore.Suppress(rule, key, until)
}

func (s *memStore) Save(time.Time) error { s.saves++; return nil }

// nullSender accepts every alert.
type nullSender struct{}

func (nullSender) Send(_ context.Context, _ act.Alert, channels []string) []act.Delivery {
	out := make([]act.Delivery, len(channels))
	for i, ch := range channels {
		out[i] = act.Delivery{Channel: ch}
	}
	return out
}

func (nullSender) Route(_ string, channels []string) (send, skip []string) {
	if len(channels) == 0 {
		return []string{"log"}, nil
	}
	return channels, nil
}

// TestTickReport runs ticks over a fake /proc and checks their reports: the
// due rules, the counts, each decision with what its actions did, the
// saved state, nil when nothing is due, and Last, which another goroutine
// reads while the ticks run (the race detector checks the publication).
func TestTickReport(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
	tree.AddProc(proctest.Proc{PID: 200, UID: 1001, Exe: "/usr/bin/y", Age: time.Hour})
	col, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	rs, ps := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: x, scope: process, every: 1h, condition: 'proc.exe == "/usr/bin/x"', actions: [alert: {}, suppress: {for: 1h}]}
  - {name: bad, scope: process, every: 1h, condition: 'proc.cmdline[5] == ""', actions: [alert: {}]}
  - {name: off, scope: process, enabled: false, condition: "true", actions: [alert: {}]}
`)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	store := &memStore{MemStore: engine.NewMemStore()}
	r := NewRunner(col)
	r.Load(rs, time.Minute, act.New(act.Config{Sender: nullSender{}, Enricher: engine.NoEnricher{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Perform: true}), store)

	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
				if rep := r.Last(); rep != nil {
					_ = rep.Fired()
				}
			}
		}
	}()
	defer func() { close(stop); <-readerDone }()

	if r.Last() != nil {
		t.Fatal("Last before any tick is not nil")
	}
	rep := r.Tick(context.Background(), nil)
	if rep == nil || r.Last() != rep {
		t.Fatalf("report %v, Last %v: want the tick's report published", rep, r.Last())
	}
	if !slices.Equal(rep.Due, []string{"x", "bad"}) || rep.Shortest != time.Hour || rep.Processes != 2 || rep.Matches != 1 ||
		len(rep.EvalErrors) != 2 || rep.CollectErr != nil || rep.SaveErr != nil || rep.Stopped || store.saves != 1 || store.marks != 1 {
		t.Errorf("report %+v (saves %d)", rep, store.saves)
	}
	if len(rep.Decisions) != 1 || rep.Fired() != 1 || rep.Decisions[0].Proc.PID != 100 ||
		len(rep.Decisions[0].Actions) != 2 || rep.Decisions[0].Actions[0].Result != act.ResultOK {
		t.Errorf("decisions %+v, want x on pid 100 fired with its alert sent", rep.Decisions)
	}
	if rep.Took() != rep.Collect+rep.Evaluate+rep.Act || rep.Overran() {
		t.Errorf("took %s (collect %s, evaluate %s, act %s), overran %v", rep.Took(), rep.Collect, rep.Evaluate, rep.Act, rep.Overran())
	}

	// Nothing is due an hour early: no report, and Last keeps the last.
	if again := r.Tick(context.Background(), nil); again != nil || r.Last() != rep {
		t.Errorf("a tick with nothing due returned %+v", again)
	}
	if w := r.Wait(time.Now()); w <= 59*time.Minute || w > time.Hour {
		t.Errorf("Wait = %s, want about an hour", w)
	}
}

// TestTickStopped checks that a tick asked to stop before it acts applies
// no decision and records no mark.
func TestTickStopped(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
	col, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: x, scope: process, condition: "true", actions: [alert: {}, suppress: {for: 1h}]}
`)}})
	store := &memStore{MemStore: engine.NewMemStore()}
	r := NewRunner(col)
	r.Load(rs, time.Minute, act.New(act.Config{Sender: nullSender{}, Enricher: engine.NoEnricher{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Perform: true}), store)
	stopping := make(chan struct{})
	close(stopping)
	rep := r.Tick(context.Background(), stopping)
	if !rep.Stopped || len(rep.Decisions) != 0 || store.saves != 0 {
		t.Errorf("report %+v (saves %d), want stopped before any decision", rep, store.saves)
	}
	if store.marks != 0 {
		t.Errorf("%d marks recorded for a decision never applied", store.marks)
	}
}

// followSender is a nullSender whose channels follow alerts while they
// hold, recording what each Hold call was told.
type followSender struct {
	nullSender
	follows bool
	calls   []heldCall
}

type heldCall struct {
	rule   string
	period time.Duration
	held   []act.Held
}

func (f *followSender) Follows() bool { return f.follows }

func (f *followSender) Hold(_ context.Context, rule string, period time.Duration, held []act.Held, _ time.Time) []act.Delivery {
	f.calls = append(f.calls, heldCall{rule, period, held})
	return nil
}

// TestTickFollowsHoldingMatches checks that after each tick the channels
// that follow alerts (Alertmanager) are told every match of each due rule
// that holds: fired, then suppressed, with its rendered subject; then none
// once the process is gone, which resolves it. A rule that failed for some
// entity is not reported, a dry run reports nothing, and a sender without
// following channels is not asked.
func TestTickFollowsHoldingMatches(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
	col, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	rs, ps := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: x, scope: process, every: 1m, condition: 'proc.exe == "/usr/bin/x"', subject: 'x runs as {{.proc.pid}}',
     actions: [alert: {channels: [am]}, suppress: {for: 1h}]}
  - {name: bad, scope: process, every: 1m, condition: 'proc.cmdline[5] == ""', actions: [alert: {}]}
`)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	run := func(perform, follows bool, ticks int, between func(i int)) []heldCall {
		t.Helper()
		sender := &followSender{follows: follows}
		r := NewRunner(col)
		r.Load(rs, time.Minute, act.New(act.Config{Sender: sender, Enricher: engine.NoEnricher{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Perform: perform}), &memStore{MemStore: engine.NewMemStore()})
		for i := range ticks {
			if between != nil {
				between(i)
			}
			r.next = map[string]time.Time{} // every rule due at each tick
			r.Tick(context.Background(), nil)
		}
		return sender.calls
	}

	calls := run(true, true, 3, func(i int) {
		if i == 2 {
			if err := os.RemoveAll(tree.Dir(100)); err != nil {
				t.Fatal(err)
			}
		}
	})
	// bad fails on pid 100 in the first two ticks, so it is left out
	// there; in the third nothing fails, and nothing holds.
	var xs []heldCall
	bads := 0
	for _, c := range calls {
		switch c.rule {
		case "x":
			xs = append(xs, c)
		case "bad":
			bads++
			if len(c.held) != 0 {
				t.Errorf("bad held %+v", c.held)
			}
		}
	}
	if len(xs) != 3 || bads != 1 {
		t.Fatalf("Hold calls %+v: want x at each of 3 ticks, bad only at the third", calls)
	}
	for i, c := range xs {
		want := 1
		if i == 2 {
			want = 0 // the process is gone: nothing holds, which resolves it
		}
		if c.rule != "x" || c.period != time.Minute || len(c.held) != want {
			t.Errorf("tick %d: Hold(%s, %s, %d held), want x, 1m, %d", i+1, c.rule, c.period, len(c.held), want)
			continue
		}
		if want == 1 {
			h := c.held[0]
			// Tick 2's match is suppressed, and still holds.
			if h.Alert.Subject != "x runs as 100" || h.Alert.PID != 100 || !slices.Equal(h.Channels, []string{"am"}) {
				t.Errorf("tick %d: held %+v", i+1, h)
			}
		}
	}
	if calls := run(false, true, 1, nil); len(calls) != 0 {
		t.Errorf("a dry run told the channels %+v", calls)
	}
	if calls := run(true, false, 1, nil); len(calls) != 0 {
		t.Errorf("a sender with no following channel was asked: %+v", calls)
	}
}

// recordingSender records what each alert said of the matches suppressed
// before it, whether it could be queued, and the ends of ticks.
type recordingSender struct {
	nullSender
	notQueued  bool
	suppressed []int
	endTicks   int
}

func (s *recordingSender) Send(_ context.Context, a act.Alert, channels []string) []act.Delivery {
	s.suppressed = append(s.suppressed, a.Suppressed)
	out := make([]act.Delivery, len(channels))
	for i, ch := range channels {
		out[i] = act.Delivery{Channel: ch, NotQueued: s.notQueued}
		if s.notQueued {
			out[i].Err = errors.New("spool full")
		}
	}
	return out
}

func (s *recordingSender) EndTick() { s.endTicks++ }

// TestTickCountsSuppressed checks that the alert after a suppression says
// how many matches the suppression silenced, that every tick ends its
// sender's tick (digests), and that a match whose alert could not be
// queued is not suppressed: the next tick alerts again.
func TestTickCountsSuppressed(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
	col, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	rs, ps := engine.LoadRules([]engine.File{{Path: "r.yaml", Data: []byte(`rules:
  - {name: x, scope: process, condition: 'proc.exe == "/usr/bin/x"', actions: [alert: {}, suppress: {for: 1h}]}
`)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	sender := &recordingSender{}
	r := NewRunner(col)
	load := func() {
		r.Load(rs, time.Minute, act.New(act.Config{Sender: sender, Enricher: engine.NoEnricher{},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Perform: true}), &memStore{MemStore: engine.NewMemStore()})
	}
	tick := func() {
		r.next = map[string]time.Time{}
		r.Tick(context.Background(), nil)
	}
	load()
	tick() // fires
	tick() // suppressed
	tick() // suppressed
	// The suppression ends (a fresh store holds no mark) while the count
	// lives on: the next alert says two matches were silenced.
	r.store = &memStore{MemStore: engine.NewMemStore()}
	tick() // fires again
	if !slices.Equal(sender.suppressed, []int{0, 2}) || sender.endTicks != 4 {
		t.Errorf("alerts said %v suppressed, %d tick ends; want [0 2] and 4", sender.suppressed, sender.endTicks)
	}
	if len(r.quiet) != 0 {
		t.Errorf("counts left after the alert: %v", r.quiet)
	}

	// An alert that could not be queued records no suppression.
	sender.notQueued, sender.suppressed = true, nil
	load()
	tick()
	tick()
	if len(sender.suppressed) != 2 {
		t.Errorf("%d alerts in two ticks whose alert could not be queued, want 2: the match must not be suppressed", len(sender.suppressed))
	}
}
