package act

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ptrule/engine"
)

// decisions loads rules and evaluates them against snap.
func decisions(t *testing.T, rules string, snap *engine.Snapshot) []engine.Decision {
	t.Helper()
	rs, ps := engine.LoadRules([]engine.File{{Path: "rules.yaml", Data: []byte(rules)}})
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	matches, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return engine.Decide(matches, engine.NewMemStore(), snap.Time)
}

func testSnapshot() *engine.Snapshot {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	proc := func(pid, pgid, sid, uid int, user string) engine.Process {
		return engine.Process{PID: pid, PPID: 1, PGID: pgid, SID: sid, UID: uid, User: user, Exe: "/usr/bin/x",
			Cmdline: []string{"x", "--flag"}, Cmd: "x --flag", Start: now.Add(-time.Hour), StartTicks: uint64(pid) * 10}
	}
	return &engine.Snapshot{Time: now, Host: engine.Host{Name: "web1"}, Procs: []engine.Process{
		proc(100, 100, 100, 1001, "bob"),
		proc(101, 101, 100, 1001, "bob"),
		proc(102, 101, 100, 1001, "bob"),
		proc(200, 200, 200, 1002, "eve"),
	}}
}

// TestKillRequest checks which processes each kill target names, and the
// members of a group or session the snapshot saw, which tie its number to
// the matched one.
func TestKillRequest(t *testing.T) {
	ids := func(pids ...int) []ProcID {
		var out []ProcID
		for _, p := range pids {
			out = append(out, ProcID{PID: p, StartTicks: uint64(p) * 10})
		}
		return out
	}
	for _, tc := range []struct {
		name, rule string
		want       KillRequest
		plan       string
	}{
		{"process", `{name: k, scope: process, condition: proc.pid == 101, actions: [kill: {}]}`,
			KillRequest{Signal: 9, Procs: ids(101)}, "SIGKILL to process 101"},
		{"group", `{name: k, scope: process, condition: proc.pid == 102, actions: [kill: {target: group, signal: TERM, grace: 2s}]}`,
			KillRequest{Signal: 15, Grace: 2 * time.Second, PGID: 101, Seen: ids(101, 102)},
			"SIGTERM to process group 101, then SIGKILL to what is still alive after 2s"},
		{"session of a process", `{name: k, scope: process, condition: proc.pid == 102, actions: [kill: {target: session, signal: HUP, grace: 1m}]}`,
			KillRequest{Signal: 1, Grace: time.Minute, SID: 100, Seen: ids(100, 101, 102)},
			"SIGHUP to session 100, then SIGKILL to what is still alive after 1m0s"},
		{"session scope", `{name: k, scope: session, condition: session.sid == 100, actions: [kill: {}]}`,
			KillRequest{Signal: 9, SID: 100, Seen: ids(100, 101, 102)}, "SIGKILL to session 100"},
		{"group in session scope", `{name: k, scope: session, condition: session.sid == 100, actions: [kill: {target: group}]}`,
			KillRequest{Signal: 9, PGID: 100, Seen: ids(100)}, "SIGKILL to process group 100"},
		{"user of a process", `{name: k, scope: process, condition: proc.pid == 100, actions: [kill: {target: user}]}`,
			KillRequest{Signal: 9, Procs: ids(100, 101, 102)}, "SIGKILL to user bob (3 processes)"},
		{"user scope", `{name: k, scope: user, condition: user.name == "eve", actions: [kill: {signal: "15"}]}`,
			KillRequest{Signal: 15, Procs: ids(200)}, "SIGTERM to user eve (1 processes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := decisions(t, "rules: ["+tc.rule+"]", testSnapshot())
			if len(ds) != 1 || len(ds[0].Actions) != 1 {
				t.Fatalf("got %d decisions", len(ds))
			}
			got, refusal := killRequest(ds[0], ds[0].Actions[0])
			if got.Signal != tc.want.Signal || got.Grace != tc.want.Grace || got.PGID != tc.want.PGID ||
				got.SID != tc.want.SID || !slices.Equal(got.Procs, tc.want.Procs) || !slices.Equal(got.Seen, tc.want.Seen) || refusal != "" {
				t.Errorf("got %+v (refusal %q), want %+v", got, refusal, tc.want)
			}
			// The dry run says what will really be sent, escalation included.
			o := testActor(false, false).Apply(context.Background(), ds[0], false)
			var planned []int
			for _, ids := range [][]ProcID{tc.want.Procs, tc.want.Seen} {
				for _, id := range ids {
					planned = append(planned, id.PID)
				}
			}
			if r := o.Actions[0]; r.Result != ResultDryRun || r.Detail != tc.plan || r.Kill == nil ||
				r.Kill.Mode != engine.ModeDryRun || !slices.Equal(r.Kill.Planned, planned) || len(r.Kill.Signalled) != 0 {
				t.Errorf("dry run = %+v (kill %+v), want detail %q, planned %v and nothing signalled", r, r.Kill, tc.plan, planned)
			}
		})
	}
}

// rootSnapshot holds a process of root and one of bob.
func rootSnapshot() *engine.Snapshot {
	s := testSnapshot()
	s.Procs = append(s.Procs, engine.Process{PID: 300, PGID: 300, SID: 300, UID: 0, User: "root", Exe: "/usr/sbin/x", StartTicks: 3000})
	return s
}

// TestKillRootUser checks that target user on root is refused unless the
// kill says allow_root: true, in the dry run too.
func TestKillRootUser(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		refused    bool
	}{
		{"user scope", `{name: k, scope: user, condition: user.uid == 0, actions: [kill: {}]}`, true},
		{"user of a process", `{name: k, scope: process, condition: proc.pid == 300, actions: [kill: {target: user}]}`, true},
		{"allowed", `{name: k, scope: user, condition: user.uid == 0, actions: [kill: {allow_root: true}]}`, false},
		{"explicitly not allowed", `{name: k, scope: user, condition: user.uid == 0, actions: [kill: {allow_root: false}]}`, true},
		{"other user", `{name: k, scope: user, condition: user.uid == 1001, actions: [kill: {}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := decisions(t, "rules: ["+tc.rule+"]", rootSnapshot())
			if len(ds) != 1 {
				t.Fatalf("got %d decisions", len(ds))
			}
			_, refusal := killRequest(ds[0], ds[0].Actions[0])
			if (refusal != "") != tc.refused || (tc.refused && !strings.Contains(refusal, "allow_root: true")) {
				t.Errorf("refusal = %q, want refused %v", refusal, tc.refused)
			}
			o := testActor(false, false).Apply(context.Background(), ds[0], false)
			if got := strings.Contains(o.Actions[0].Detail, "would be refused"); got != tc.refused {
				t.Errorf("dry run detail %q, want it to say it would be refused: %v", o.Actions[0].Detail, tc.refused)
			}
		})
	}
}

// liveProcess returns the snapshot view of a live process started by
// startAs: its true start ticks, in its own session and group.
func liveProcess(t *testing.T, pid, uid int, user string) engine.Process {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	if err != nil {
		t.Fatalf("stat of %d: %v", pid, err)
	}
	return engine.Process{PID: pid, PPID: 1, PGID: pid, SID: pid, UID: uid, User: user, Exe: "/usr/bin/sleep", StartTicks: ticks}
}

// TestKillActionResult performs kills on processes of the test and checks
// the action result: ok only when every target was signalled, refused
// with the lists when any was refused, error when nothing was signalled.
func TestKillActionResult(t *testing.T) {
	needRoot(t)
	now := time.Now()
	snapOf := func(procs ...engine.Process) *engine.Snapshot {
		return &engine.Snapshot{Time: now, Host: engine.Host{Name: "web1"}, Procs: procs}
	}
	t.Run("ok", func(t *testing.T) {
		v := startAs(t, nobodyUID, "sleep", "300")
		p := liveProcess(t, v.Process.Pid, nobodyUID, "nobody")
		ds := decisions(t, "rules: [{name: k, scope: process, condition: proc.pid == "+strconv.Itoa(p.PID)+", actions: [kill: {}]}]", snapOf(p))
		o := testActor(true, false).Apply(context.Background(), ds[0], false)
		r := o.Actions[0]
		if r.Result != ResultOK || r.Kill == nil || !slices.Equal(r.Kill.Signalled, []int{p.PID}) {
			t.Fatalf("result = %+v", r)
		}
		_ = v.Wait()
		if ws := v.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("victim ended with %v, want SIGKILL", v.ProcessState)
		}
		buf, _ := json.Marshal(o.Actions)
		want := `[{"kind":"kill","result":"ok","kill":{"mode":"enforce","planned":[` + strconv.Itoa(p.PID) + `],"signal":"SIGKILL","target":"process ` + strconv.Itoa(p.PID) +
			`","signalled":[` + strconv.Itoa(p.PID) + `],"gone":[],"refused":[]}}]`
		if !strings.HasSuffix(string(buf), want) {
			t.Errorf("json = %s\nwant it to end with %s", buf, want)
		}
	})
	t.Run("all gone", func(t *testing.T) {
		v := startAs(t, nobodyUID, "sleep", "300")
		p := liveProcess(t, v.Process.Pid, nobodyUID, "nobody")
		_ = v.Process.Kill()
		_ = v.Wait()
		ds := decisions(t, "rules: [{name: k, scope: process, condition: proc.pid == "+strconv.Itoa(p.PID)+", actions: [kill: {}]}]", snapOf(p))
		r := testActor(true, false).Apply(context.Background(), ds[0], false).Actions[0]
		if r.Result != ResultError || !strings.HasPrefix(r.Error, "nothing was signalled: gone "+strconv.Itoa(p.PID)) {
			t.Errorf("result = %+v, want error nothing was signalled", r)
		}
	})
	t.Run("partial", func(t *testing.T) {
		a := startAs(t, nobodyUID, "sleep", "300")
		b := startAs(t, nobodyUID, "sleep", "300")
		pa := liveProcess(t, a.Process.Pid, nobodyUID, "nobody")
		pb := liveProcess(t, b.Process.Pid, nobodyUID, "nobody")
		pb.StartTicks++ // as if b's pid had been reused since the snapshot
		ds := decisions(t, "rules: [{name: k, scope: user, condition: user.uid == 65534, actions: [kill: {}]}]", snapOf(pa, pb))
		r := testActor(true, false).Apply(context.Background(), ds[0], false).Actions[0]
		if r.Result != ResultRefused || r.Kill == nil || !slices.Equal(r.Kill.Signalled, []int{pa.PID}) ||
			r.Error != "refused "+strconv.Itoa(pb.PID)+": pid reused (start time differs)" {
			t.Errorf("result = %+v (kill %+v), want refused with %d signalled", r, r.Kill, pa.PID)
		}
		if !strings.Contains(r.Detail, "signalled "+strconv.Itoa(pa.PID)+"; refused "+strconv.Itoa(pb.PID)) {
			t.Errorf("detail %q does not list what was signalled and refused", r.Detail)
		}
		if !alive(pb.PID) {
			t.Error("the refused process was killed")
		}
	})
	t.Run("root without allow_root", func(t *testing.T) {
		// A process of nobody that the snapshot calls root's: were the
		// refusal missing, it would be killed.
		v := startAs(t, nobodyUID, "sleep", "300")
		p := liveProcess(t, v.Process.Pid, 0, "root")
		ds := decisions(t, "rules: [{name: k, scope: user, condition: user.uid == 0, actions: [kill: {}]}]", snapOf(p))
		r := testActor(true, false).Apply(context.Background(), ds[0], false).Actions[0]
		if r.Result != ResultRefused || r.Kill == nil || len(r.Kill.Signalled) != 0 || r.Kill.Refusal != r.Error || !strings.Contains(r.Error, "allow_root") {
			t.Errorf("result = %+v, want refused for root", r)
		}
		if !alive(p.PID) {
			t.Error("target user on root killed without allow_root")
		}
	})
	t.Run("foreign proc", func(t *testing.T) {
		v := startAs(t, nobodyUID, "sleep", "300")
		p := liveProcess(t, v.Process.Pid, nobodyUID, "nobody")
		ds := decisions(t, `rules: [{name: k, scope: process, condition: proc.pid == `+strconv.Itoa(p.PID)+`, actions: [kill: {}, run: {command: /bin/true}]}]`, snapOf(p))
		a := testActor(true, false)
		a.foreign = ForeignProcfs(t.TempDir())
		o := a.Apply(context.Background(), ds[0], false)
		for _, r := range o.Actions {
			if r.Result != ResultRefused || !strings.Contains(r.Error, "not a procfs mount") {
				t.Errorf("%s: result = %+v, want refused: not a procfs", r.Kind, r)
			}
		}
		if !alive(p.PID) {
			t.Error("a kill read from a fake tree signalled a real process")
		}
	})
}

// testActor acts on this host's /proc, with a recording sender whose
// default channel is log, and a log that is thrown away.
func testActor(perform, monitor bool) *Actor {
	return New(Config{
		Perform: perform, Monitor: monitor, MonitorRepeat: time.Hour,
		Sender: &recordingSender{defaults: []string{"log"}}, Enricher: engine.NoEnricher{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// recordingSender records the alerts sent to it, per channel. A channel
// not in known (log is always known) fails with an unknown-channel error.
type recordingSender struct {
	defaults []string
	known    []string
	sent     []string // "channel: subject"
	alerts   []Alert
}

func (s *recordingSender) Send(_ context.Context, a Alert, channels []string) []Delivery {
	var out []Delivery
	for _, ch := range channels {
		if ch != "log" && !slices.Contains(s.known, ch) {
			out = append(out, Delivery{Channel: ch, Err: errors.New("unknown channel")})
			continue
		}
		s.sent = append(s.sent, ch+": "+a.Subject)
		s.alerts = append(s.alerts, a)
		out = append(out, Delivery{Channel: ch})
	}
	return out
}

func (s *recordingSender) Route(_ string, channels []string) (send, skip []string) {
	if len(channels) == 0 {
		return s.defaults, nil
	}
	return channels, nil
}

// TestRunAction runs an lfd-style action script through the act step: it
// receives the rendered argv and the facts in PTRULE_* variables.
func TestRunAction(t *testing.T) {
	needRoot(t)
	dir := sharedDir(t)
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "action.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+out+"\nenv | grep '^PTRULE_' | sort >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rule := `rules: [{name: pt-deleted-like, scope: process, condition: proc.pid == 100, params: {action: "` + script + `"},
  actions: [run: {command: "{{.params.action}}", args: ["{{.proc.exe}} (deleted)", "{{.proc.pid}}", "{{.proc.user}}", "{{.proc.ppid}}"]}]}]`
	ds := decisions(t, rule, testSnapshot())

	// A dry run and monitor mode run nothing.
	for _, a := range []*Actor{testActor(false, false), testActor(true, true)} {
		o := a.Apply(context.Background(), ds[0], false)
		if o.Actions[0].Result != ResultDryRun || !strings.Contains(o.Actions[0].Detail, script+" /usr/bin/x (deleted) 100 bob 1") {
			t.Errorf("dry run: %+v", o.Actions[0])
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a dry run ran the script")
		}
	}

	o := testActor(true, false).Apply(context.Background(), ds[0], false)
	if r := o.Actions[0]; r.Result != ResultOK {
		t.Fatalf("run: %s: %.300s", r.Result, r.Error)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"/usr/bin/x (deleted)\n100\nbob\n1\n",
		"PTRULE_CMD=x --flag\n", "PTRULE_EXE=/usr/bin/x\n", "PTRULE_EXE_MISMATCH=false\n", "PTRULE_PID=100\n", "PTRULE_PPID=1\n",
		"PTRULE_RULE=pt-deleted-like\n", "PTRULE_USER=bob\n", "PTRULE_HOST=web1\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("script saw:\n%s\nwant it to contain %q", got, want)
		}
	}

	// A world-writable script is refused, with the reason.
	if err := os.Chmod(script, 0o777); err != nil {
		t.Fatal(err)
	}
	o = testActor(true, false).Apply(context.Background(), ds[0], false)
	if o.Actions[0].Result != ResultRefused || !strings.Contains(o.Actions[0].Error, "writable") {
		t.Errorf("world-writable script: %+v", o.Actions[0])
	}
}

// TestAlertAction checks that an alert reaches the log channel with the
// rendered subject, that a dry run sends nothing, and that a channel's
// failure is the action's error.
func TestAlertAction(t *testing.T) {
	rule := `rules: [{name: a, scope: process, condition: proc.pid == 200, subject: "hello {{.proc.user}}", actions: [alert: {}]}]`
	ds := decisions(t, rule, testSnapshot())
	a := testActor(true, false)
	sender := a.sender.(*recordingSender)
	o := a.Apply(context.Background(), ds[0], false)
	if o.Actions[0].Result != ResultOK || !slices.Equal(sender.sent, []string{"log: hello eve"}) {
		t.Errorf("result %+v, sent %q", o.Actions[0], sender.sent)
	}
	sender.sent = nil
	a.perform = false
	if o := a.Apply(context.Background(), ds[0], false); o.Actions[0].Result != ResultDryRun || len(sender.sent) != 0 {
		t.Errorf("dry run: result %+v, sent %q", o.Actions[0], sender.sent)
	}
	a.perform = true
	sender.defaults = []string{"ops-mail"}
	if o := a.Apply(context.Background(), ds[0], false); o.Actions[0].Result != ResultError || !strings.Contains(o.Actions[0].Error, "ops-mail: unknown channel") {
		t.Errorf("unknown channel: %+v", o.Actions[0])
	}
}

// TestActionExpressionErrors checks the act step for actions whose
// expressions failed for the entity: each is reported as an error with the
// CEL message; it does not run, except a suppress whose key failed, which
// runs on the entity's identity; the match's other actions run.
func TestActionExpressionErrors(t *testing.T) {
	rule := `rules: [{name: a, scope: process, condition: proc.pid == 200, actions: [
  alert: {if: 'proc.cmdline[5] == ""'},
  alert: {},
  suppress: {for: 1h, key: 'proc.cmdline[5]'},
  suppress: {for: 'duration(proc.cmdline[5])'}]}]`
	ds := decisions(t, rule, testSnapshot())
	if len(ds) != 1 || ds[0].Status != engine.StatusFired {
		t.Fatalf("decisions %+v: the match must fire", ds)
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	a := testActor(true, false)
	a.log = log
	o := a.Apply(context.Background(), ds[0], false)
	want := []struct{ result, error, detail string }{
		{ResultError, "if: ", "not run"},
		{ResultOK, "", "to log"},
		{ResultError, "key: ", "quiet for 1h0m0s (key 200@2000)"},
		{ResultError, "for: ", "not run"},
	}
	if len(o.Actions) != len(want) {
		t.Fatalf("results %+v", o.Actions)
	}
	for i, w := range want {
		r := o.Actions[i]
		if r.Result != w.result || !strings.HasPrefix(r.Error, w.error) || r.Detail != w.detail ||
			(w.error != "" && !strings.Contains(r.Error, "index")) {
			t.Errorf("action %d (%s): %+v, want %s %q… %q with the CEL message", i+1, r.Kind, r, w.result, w.error, w.detail)
		}
	}
	if sent := a.sender.(*recordingSender).sent; len(sent) != 1 {
		t.Errorf("alerts sent %q, want 1 (the alert whose if failed is not sent)", sent)
	}
	if n := strings.Count(buf.String(), `msg="action expression failed"`); n != 3 {
		t.Errorf("%d action errors logged, want 3:\n%s", n, buf.String())
	}
}

// TestRunActionLongCmdline runs an action about a process whose command
// line is longer than the kernel takes in one environment string: the
// program still starts, sees PTRULE_CMD capped with a marker, and the run
// is logged at info level. A run that fails is logged at error level.
func TestRunActionLongCmdline(t *testing.T) {
	needRoot(t)
	dir := sharedDir(t)
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "action.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$PTRULE_CMD\" > "+out+"\nprintf '%s\\n' \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot()
	argv := []string{"x"}
	for range 3000 {
		argv = append(argv, strings.Repeat("a", 63))
	}
	snap.Procs[0].Cmdline, snap.Procs[0].Cmd = argv, strings.Join(argv, " ")
	rule := `rules: [{name: r, scope: process, condition: proc.pid == 100, actions: [run: {command: "` + script + `", args: ["{{.proc.cmd}}"]}]}]`
	ds := decisions(t, rule, snap)

	var logs strings.Builder
	a := testActor(true, false)
	a.log = slog.New(slog.NewTextHandler(&logs, nil))
	o := a.Apply(context.Background(), ds[0], false)
	if r := o.Actions[0]; r.Result != ResultOK {
		t.Fatalf("run: %s: %.300s", r.Result, r.Error)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env, arg, _ := strings.Cut(string(got), "\n")
	arg = strings.TrimSuffix(arg, "\n")
	if len(arg) > engine.MaxFieldBytes || !strings.Contains(arg, "…[truncated, ") {
		t.Errorf("the argument {{.proc.cmd}} arrived with %d bytes, ending %q", len(arg), arg[max(0, len(arg)-40):])
	}
	if len(env) > MaxEnvValue || !strings.HasPrefix(snap.Procs[0].Cmd, env[:strings.LastIndex(env, "…")]) ||
		!strings.Contains(env, "…[truncated, ") {
		t.Errorf("PTRULE_CMD arrived with %d bytes, ending %q", len(env), env[max(0, len(env)-40):])
	}
	if !strings.Contains(logs.String(), "level=INFO msg=run") {
		t.Errorf("a clean run is not logged at info level: %.300s", logs.String())
	}

	logs.Reset()
	if err := os.Chmod(script, 0o777); err != nil {
		t.Fatal(err)
	}
	if r := a.Apply(context.Background(), ds[0], false).Actions[0]; r.Result != ResultRefused {
		t.Fatalf("world-writable script: %s: %.300s", r.Result, r.Error)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=run") {
		t.Errorf("a refused run is not logged at error level: %.300s", logs.String())
	}
}

// TestAlertSaysWhatKillDid runs a kill and then an alert on a live process
// in each mode: the alert, rendered after the kill, says what was really
// done; the decision's subject is that alert's; and only monitor mode
// holds the match quiet for monitor_repeat.
func TestAlertSaysWhatKillDid(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name             string
		perform, monitor bool
		subject          string
		dies, held       bool
	}{
		{"enforce", true, false, "Killed 1 of 1 process (SIGKILL)", true, false},
		{"monitor", true, true, "Would kill 1 process (monitor mode: nothing was signalled)", false, true},
		{"dry run", false, false, "Would kill 1 process (dry run: nothing was signalled)", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := startAs(t, nobodyUID, "sleep", "300")
			p := liveProcess(t, v.Process.Pid, nobodyUID, "nobody")
			snap := &engine.Snapshot{Time: time.Now(), Host: engine.Host{Name: "web1"}, Procs: []engine.Process{p}}
			ds := decisions(t, "rules: [{name: k, scope: process, condition: proc.pid == "+strconv.Itoa(p.PID)+
				`, subject: "{{killed .outcome.kill}}", actions: [kill: {}, alert: {}]}]`, snap)
			o := testActor(tc.perform, tc.monitor).Apply(context.Background(), ds[0], false)
			if o.Subject != tc.subject {
				t.Errorf("subject %q, want %q", o.Subject, tc.subject)
			}
			if r := o.Actions[1]; r.Alert == nil || !slices.Equal(r.Alert.Channels, []string{"log"}) || r.Detail != "to log" {
				t.Errorf("alert result %+v, want its channels", r)
			}
			if tc.dies {
				_ = v.Wait()
				if ws := v.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("victim ended with %v, want SIGKILL", v.ProcessState)
				}
			} else if !alive(p.PID) {
				t.Error("the process was killed in a mode that kills nothing")
			}
			store := engine.NewMemStore()
			o.Commit(store)
			if _, held := store.Until("monitor:k", ds[0].Key); held != tc.held {
				t.Errorf("held for monitor_repeat: %v, want %v", held, tc.held)
			}
		})
	}
}

// TestAlertCarriesData checks that an alert carries what channels such as
// webhooks send as data: the rule's scope, the entity's facts, and what
// the actions before it did (here a kill that monitor mode only reported).
func TestAlertCarriesData(t *testing.T) {
	ds := decisions(t, `rules: [{name: a, scope: process, condition: proc.pid == 200, actions: [kill: {}, alert: {}]}]`, testSnapshot())
	a := testActor(true, true)
	a.Apply(context.Background(), ds[0], false)
	rec := a.sender.(*recordingSender)
	if len(rec.alerts) != 1 {
		t.Fatalf("%d alerts sent", len(rec.alerts))
	}
	al := rec.alerts[0]
	kill, _ := al.Outcomes["kill"].(map[string]any)
	if al.Scope != "process" || al.Facts["pid"] != 200 || al.Facts["user"] != "eve" || kill["mode"] != engine.ModeMonitor || kill["planned"] != 1 {
		t.Errorf("scope %q, facts %v, outcomes %v", al.Scope, al.Facts, al.Outcomes)
	}
}
