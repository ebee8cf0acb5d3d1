package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"ptrule/builtin/collect"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLine is the part of a JSON log line the tests read.
type logLine struct {
	Time   time.Time `json:"time"`
	Msg    string    `json:"msg"`
	Rule   string    `json:"rule"`
	At     string    `json:"at"`
	PID    int       `json:"pid"`
	Status string    `json:"status"`
	Took   string    `json:"took"`
	// Subject is an alert's subject, logged by the log channel.
	Subject string `json:"subject"`
}

func logLines(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad log line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// firings returns, per rule, the offsets from start at which it matched.
func firings(lines []logLine, start time.Time) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for _, l := range lines {
		if l.Msg == "match" {
			out[l.Rule] = append(out[l.Rule], l.Time.Sub(start).Round(time.Second))
		}
	}
	return out
}

func durations(secs ...int) []time.Duration {
	out := make([]time.Duration, len(secs))
	for i, s := range secs {
		out[i] = time.Duration(s) * time.Second
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const scheduleRules = `rules:
  - name: fast
    scope: host
    every: 10s
    condition: "true"
    actions: [alert: {}]
  - name: slow
    scope: host
    every: 30s
    condition: "true"
    actions: [alert: {}]
  - name: default
    scope: host
    condition: host.procs == 1
    actions: [alert: {}]
`

// TestDaemonLoop drives the daemon under a fake clock: rules with different
// periods, a reload with a broken file that keeps the running rules, a good
// reload, and a clean stop on SIGTERM.
func TestDaemonLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
		dir := t.TempDir()
		rulesPath := writeFile(t, dir, "rules.yaml", scheduleRules)
		cfg := writeFile(t, dir, "ptrule.yaml", "interval: 20s\nrules_dirs: []\nstate_dir: "+filepath.Join(dir, "state")+"\n")
		// A corrupt state file is reported and replaced, never fatal.
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "state"), "suppressions.json", "{not json")
		var logs syncBuffer
		d := &daemon{
			config: cfg, sources: ruleSources{noBuiltin: true, rules: []string{rulesPath}},
			procRoot: tree.Root(),
			log:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		start := time.Now()
		go func() { done <- d.run(sigs) }()

		time.Sleep(65 * time.Second)
		synctest.Wait()
		if !hasLog(logLines(t, logs.String()), "suppression state could not be read and starts empty", "") {
			t.Errorf("a corrupt state file was not reported:\n%s", logs.String())
		}
		if data, err := os.ReadFile(filepath.Join(dir, "state", "suppressions.json")); err != nil || !json.Valid(data) {
			t.Errorf("the corrupt state file was not replaced: %q, %v", data, err)
		}
		got := firings(logLines(t, logs.String()), start)
		for rule, want := range map[string][]time.Duration{
			"fast":    durations(0, 10, 20, 30, 40, 50, 60),
			"slow":    durations(0, 30, 60),
			"default": durations(0, 20, 40, 60),
		} {
			if !equalDurations(got[rule], want) {
				t.Errorf("%s matched at %v, want %v", rule, got[rule], want)
			}
		}

		// A reload with a broken file keeps the running rules.
		writeFile(t, dir, "rules.yaml", "rules:\n  - name: fast\n    scope: host\n    condition: host.nme == 1\n    actions: [alert: {}]\n")
		sigs <- syscall.SIGHUP
		time.Sleep(30 * time.Second)
		synctest.Wait()
		lines := logLines(t, logs.String())
		if !hasLog(lines, "bad rules", "") || !hasLog(lines, "reload failed: keeping the running rules", "") {
			t.Errorf("a bad reload was not reported:\n%s", logs.String())
		}
		for _, l := range lines {
			if l.Msg == "bad rules" && !strings.HasSuffix(l.At, "rules.yaml:4:20") {
				t.Errorf("bad rule reported at %q, want rules.yaml:4:20", l.At)
			}
		}
		got = firings(lines, start)
		if want := durations(0, 10, 20, 30, 40, 50, 60, 70, 80, 90); !equalDurations(got["fast"], want) {
			t.Errorf("after a bad reload fast matched at %v, want %v", got["fast"], want)
		}

		// A good reload replaces them.
		writeFile(t, dir, "rules.yaml", "rules:\n  - name: fresh\n    scope: host\n    every: 5s\n    condition: \"true\"\n    actions: [alert: {}]\n")
		sigs <- syscall.SIGHUP
		time.Sleep(11 * time.Second)
		synctest.Wait()
		got = firings(logLines(t, logs.String()), start)
		if len(got["fresh"]) != 3 || len(got["fast"]) != 10 {
			t.Errorf("after a good reload: fresh matched at %v (want 3 times), fast %v (want no more)", got["fresh"], got["fast"])
		}

		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK {
			t.Errorf("daemon exited %d after SIGTERM, want 0", code)
		}
		if !hasLog(logLines(t, logs.String()), "ptrule stopped", "") {
			t.Errorf("no clean stop logged")
		}
	})
}

// TestDaemonBadIgnoreLine starts the daemon with an ignore list holding a
// bad line: the line is logged with its place, the rest of the list is
// used, and the rules run.
func TestDaemonBadIgnoreLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/hidden", Age: time.Hour})
		tree.AddProc(proctest.Proc{PID: 200, UID: 1001, Exe: "/usr/bin/seen", Age: time.Hour})
		dir := t.TempDir()
		writeFile(t, dir, "rules.yaml", "rules:\n  - {name: any, scope: process, condition: \"!ignored\", actions: [alert: {}]}\n")
		writeFile(t, dir, "site.pignore", "exe:/usr/bin/hidden\npexe:[broken\n")
		cfg := writeFile(t, t.TempDir(), "ptrule.yaml", "rules_dirs: ["+dir+"]\nstate_dir: "+filepath.Join(dir, "state")+"\n")
		var logs syncBuffer
		d := &daemon{config: cfg, sources: ruleSources{noBuiltin: true}, procRoot: tree.Root(),
			log: slog.New(slog.NewJSONHandler(&logs, nil))}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		go func() { done <- d.run(sigs) }()
		time.Sleep(time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK {
			t.Fatalf("daemon exited %d:\n%s", code, logs.String())
		}
		lines := logLines(t, logs.String())
		bad := false
		for _, l := range lines {
			if l.Msg == "bad ignore list" && strings.HasSuffix(l.At, "site.pignore:2:6") {
				bad = true
			}
		}
		if !bad {
			t.Errorf("the bad ignore line was not logged at site.pignore:2:6:\n%s", logs.String())
		}
		var pids []int
		for _, l := range lines {
			if l.Msg == "alert" {
				pids = append(pids, l.PID)
			}
		}
		if len(pids) != 1 || pids[0] != 200 {
			t.Errorf("alerts for pids %v, want only 200 (100 is ignored by the good line)", pids)
		}
	})
}

// slowCollector takes delay for every collection, in the fake clock.
type slowCollector struct {
	snapshotter
	delay time.Duration
}

func (c slowCollector) Collect(o collect.CollectOptions) (*engine.Snapshot, error) {
	time.Sleep(c.delay)
	return c.snapshotter.Collect(o)
}

// TestDaemonOverrun drives ticks that take longer than their interval: each
// is logged with its duration and the next starts when it is done, never
// overlapping.
func TestDaemonOverrun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		dir := t.TempDir()
		rulesPath := writeFile(t, dir, "rules.yaml", "rules:\n  - {name: fast, scope: host, every: 10s, condition: \"true\", actions: [alert: {}]}\n")
		cfg := writeFile(t, dir, "ptrule.yaml", "rules_dirs: []\nstate_dir: "+filepath.Join(dir, "state")+"\n")
		col, err := collect.NewCollector(tree.Root())
		if err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		d := &daemon{
			config: cfg, sources: ruleSources{noBuiltin: true, rules: []string{rulesPath}},
			procRoot:  tree.Root(),
			collector: slowCollector{col, 25 * time.Second},
			log:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		start := time.Now()
		go func() { done <- d.run(sigs) }()
		time.Sleep(80 * time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		<-done

		lines := logLines(t, logs.String())
		if got, want := firings(lines, start)["fast"], durations(25, 50, 75); !equalDurations(got, want) {
			t.Errorf("fast matched at %v, want %v: one tick after the other", got, want)
		}
		overruns := 0
		for _, l := range lines {
			if strings.HasPrefix(l.Msg, "tick overran") {
				overruns++
				if l.Took != "25s" {
					t.Errorf("overrun logged with took=%q, want 25s", l.Took)
				}
			}
		}
		if overruns != 3 {
			t.Errorf("%d overruns logged, want 3:\n%s", overruns, logs.String())
		}
	})
}

func hasLog(lines []logLine, msg, rule string) bool {
	for _, l := range lines {
		if l.Msg == msg && (rule == "" || l.Rule == rule) {
			return true
		}
	}
	return false
}

// daemonProcess starts `ptrule run` as a subprocess (this test binary,
// re-executed as ptrule) and returns its log buffer.
func daemonProcess(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	cmd := exec.Command(os.Args[0], append([]string{"run", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "PTRULE_RUN_MAIN=1", "PTRULE_TEST_DEFAULTS="+t.TempDir())
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return cmd, &logs
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && data[i+2] != 'Z'
}

// TestDaemonEndToEnd runs the daemon binary with a 1s interval against the
// live /proc: a deleted binary run by nobody is alerted on once and then
// suppressed; with a kill action it is killed in enforce mode and left
// alone in monitor mode. The rules name the test's own pid, so nothing
// else on the machine can match.
func TestDaemonEndToEnd(t *testing.T) {
	needRoot(t)
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			victim, _ := deletedBinary(t, nobodyUID)
			pid := victim.Process.Pid
			rules := writeFile(t, t.TempDir(), "site.yaml", `rules:
  - name: pt-deleted
    params: {min_age: 0s}
  - name: site-kill-test
    scope: process
    condition: proc.pid == `+strconv.Itoa(pid)+` && proc.exe_deleted
    actions:
      - kill: {signal: KILL}
      - suppress: {for: 1h}
`)
			cfg := testConfig(t, "interval: 1s\nmode: "+mode+"\n")
			daemon, logs := daemonProcess(t, "--config", cfg, "--rules", rules)

			waitFor(t, "the kill action to be logged", func() bool {
				return strings.Contains(logs.String(), `"rule":"site-kill-test"`)
			})
			time.Sleep(3 * time.Second) // a few more ticks
			lines := logLines(t, logs.String())
			alerts := 0
			for _, l := range lines {
				if l.Msg == "alert" && l.Rule == "pt-deleted" && l.PID == pid {
					alerts++
				}
			}
			if alerts != 1 {
				t.Errorf("pt-deleted alerted %d times on pid %d over several ticks, want once:\n%s", alerts, pid, logs.String())
			}
			if mode == "enforce" {
				waitFor(t, "the victim to die", func() bool { return !alive(pid) })
			} else if !alive(pid) {
				t.Errorf("monitor mode killed pid %d", pid)
			}

			_ = daemon.Process.Signal(syscall.SIGTERM)
			if err := daemon.Wait(); err != nil {
				t.Errorf("daemon did not stop cleanly: %v\n%s", err, logs.String())
			}
			if mode == "enforce" {
				return
			}

			// The suppression survives a restart: the process, still
			// running, is not alerted on again.
			_, logs = daemonProcess(t, "--config", cfg, "--rules", rules, "--log-level", "debug")
			waitFor(t, "two ticks of the restarted daemon", func() bool {
				return strings.Count(logs.String(), `"msg":"tick"`) >= 2
			})
			lines = logLines(t, logs.String())
			if hasLog(lines, "alert", "pt-deleted") {
				for _, l := range lines {
					if l.Msg == "alert" && l.Rule == "pt-deleted" && l.PID == pid {
						t.Errorf("pt-deleted alerted again on pid %d after a restart:\n%s", pid, logs.String())
					}
				}
			}
			if !hasLog(lines, "match suppressed", "pt-deleted") {
				t.Errorf("the restarted daemon did not see pt-deleted suppressed:\n%s", logs.String())
			}
		})
	}
}

// gatedCollector blocks in Collect until released, after saying it entered.
type gatedCollector struct {
	snapshotter
	entered, release chan struct{}
}

func (c gatedCollector) Collect(o collect.CollectOptions) (*engine.Snapshot, error) {
	close(c.entered)
	<-c.release
	return c.snapshotter.Collect(o)
}

// stateMarks returns the rule/key pairs of the state file, or nil when
// there is none.
func stateMarks(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "suppressions.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Suppressions []struct{ Rule, Key string }
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("state file: %v\n%s", err, data)
	}
	var out []string
	for _, m := range f.Suppressions {
		out = append(out, m.Rule+" "+m.Key)
	}
	return out
}

// A SIGTERM that arrives while a tick collects stops the daemon before the
// tick acts, and leaves no suppression for the matches it never alerted
// on: after a restart the alert fires.
func TestDaemonStopWhileCollecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", StartTicks: 4242})
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		rulesPath := writeFile(t, dir, "rules.yaml", "rules:\n  - {name: once, scope: process, condition: 'proc.pid == 100', actions: [alert: {}, suppress: {for: 1h}]}\n")
		cfg := writeFile(t, dir, "ptrule.yaml", "rules_dirs: []\nstate_dir: "+state+"\n")
		col, err := collect.NewCollector(tree.Root())
		if err != nil {
			t.Fatal(err)
		}
		newDaemon := func(logs *syncBuffer, c snapshotter) *daemon {
			return &daemon{
				config: cfg, sources: ruleSources{noBuiltin: true, rules: []string{rulesPath}},
				procRoot: tree.Root(), collector: c,
				log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}
		}

		var logs syncBuffer
		gate := gatedCollector{col, make(chan struct{}), make(chan struct{})}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		go func() { done <- newDaemon(&logs, gate).run(sigs) }()
		<-gate.entered
		sigs <- syscall.SIGTERM
		synctest.Wait() // the stop is noted while Collect is blocked
		close(gate.release)
		if code := <-done; code != exitOK {
			t.Fatalf("daemon exited %d:\n%s", code, logs.String())
		}
		lines := logLines(t, logs.String())
		if hasLog(lines, "alert", "once") || hasLog(lines, "match", "once") {
			t.Fatalf("the abandoned tick acted:\n%s", logs.String())
		}
		if !hasLog(lines, "stop: skipping the rest of the tick", "") {
			t.Errorf("the abandoned tick was not logged:\n%s", logs.String())
		}
		if marks := stateMarks(t, state); len(marks) != 0 {
			t.Fatalf("marks saved for a match that was never alerted: %q", marks)
		}

		// Restarted, the daemon alerts, and records the mark only then.
		var logs2 syncBuffer
		sigs = make(chan os.Signal, 1)
		go func() { done <- newDaemon(&logs2, col).run(sigs) }()
		time.Sleep(time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		<-done
		if !hasLog(logLines(t, logs2.String()), "alert", "once") {
			t.Errorf("after the restart the alert did not fire:\n%s", logs2.String())
		}
		if marks := stateMarks(t, state); !slices.Equal(marks, []string{"once 100@4242"}) {
			t.Errorf("marks after the alert %q, want [once 100@4242]", marks)
		}
	})
}

// A rule whose suppress key reads proc.cmdline[1] still alerts on a process
// whose argv has one element, reports the failing key as an action error,
// and suppresses it under its identity: the next tick is quiet.
func TestDaemonSuppressKeyError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Cmdline: []string{"x"}, StartTicks: 4242})
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		rulesPath := writeFile(t, dir, "rules.yaml", "rules:\n  - {name: argv, scope: process, every: 10s, condition: 'proc.pid == 100', actions: [alert: {}, suppress: {for: 1h, key: 'proc.cmdline[1]'}]}\n")
		cfg := writeFile(t, dir, "ptrule.yaml", "rules_dirs: []\nstate_dir: "+state+"\n")
		var logs syncBuffer
		d := &daemon{
			config: cfg, sources: ruleSources{noBuiltin: true, rules: []string{rulesPath}},
			procRoot: tree.Root(),
			log:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		go func() { done <- d.run(sigs) }()
		time.Sleep(25 * time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		<-done
		lines := logLines(t, logs.String())
		alerts, suppressed := 0, 0
		for _, l := range lines {
			switch {
			case l.Msg == "alert" && l.Rule == "argv":
				alerts++
			case l.Msg == "match suppressed" && l.Rule == "argv":
				suppressed++
			}
		}
		if alerts != 1 || suppressed != 2 {
			t.Errorf("%d alerts and %d suppressed matches over three ticks, want 1 and 2:\n%s", alerts, suppressed, logs.String())
		}
		if !hasLog(lines, "action expression failed", "argv") || !strings.Contains(logs.String(), `suppress:error (key: `) {
			t.Errorf("the failing key was not reported as an action error:\n%s", logs.String())
		}
		if marks := stateMarks(t, state); !slices.Equal(marks, []string{"argv 100@4242"}) {
			t.Errorf("marks %q, want the identity fallback [argv 100@4242]", marks)
		}
	})
}

// TestDaemonMonitorRepeat runs pt-forkbomb in monitor mode over four
// ticks: the first alert says the kill was only reported, and
// monitor_repeat keeps the three ticks after it quiet, where a rule with no
// suppression would otherwise alert at every tick.
func TestDaemonMonitorRepeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		for pid := 700; pid < 706; pid++ {
			tree.AddProc(proctest.Proc{PID: pid, UID: 1001, SID: 700, Exe: "/bin/bash", Age: time.Minute})
		}
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		patch := writeFile(t, dir, "enable.yaml", "rules:\n  - {name: pt-forkbomb, enabled: true, every: 10s, params: {max: 5}}\n")
		cfg := writeFile(t, dir, "ptrule.yaml", "mode: monitor\nrules_dirs: []\nstate_dir: "+state+"\n")
		var logs syncBuffer
		d := &daemon{
			config: cfg, sources: ruleSources{rules: []string{patch}},
			procRoot: tree.Root(),
			log:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		go func() { done <- d.run(sigs) }()
		time.Sleep(35 * time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		<-done
		var subjects []string
		suppressed := 0
		for _, l := range logLines(t, logs.String()) {
			switch {
			case l.Msg == "alert" && l.Rule == "pt-forkbomb":
				subjects = append(subjects, l.Subject)
			case l.Msg == "match suppressed" && l.Rule == "pt-forkbomb":
				suppressed++
			}
		}
		want := "Fork bomb detected: session 700 (6 processes): Would kill 6 processes (monitor mode: nothing was signalled)"
		if len(subjects) != 1 || subjects[0] != want || suppressed != 3 {
			t.Errorf("alerts %q and %d suppressed matches over four ticks, want one alert %q and 3 suppressed:\n%s", subjects, suppressed, want, logs.String())
		}
		marks := stateMarks(t, state)
		if len(marks) != 1 || !strings.HasPrefix(marks[0], "monitor:pt-forkbomb 700") {
			t.Errorf("marks %q, want the monitor_repeat mark of session 700", marks)
		}
	})
}
