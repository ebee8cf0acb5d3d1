package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"ptrule/builtin/proctest"
)

// TestDaemonReloadRecomputesDueTimes changes, by a reload, a rule's every
// from 1h to 30s and the interval another rule follows from 60s to 10s:
// each is then due one new period after its last run, not when the old
// period said.
func TestDaemonReloadRecomputesDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tree := proctest.New(t)
		tree.AddProc(proctest.Proc{PID: 100, UID: 1001, Exe: "/usr/bin/x", Age: time.Hour})
		dir := t.TempDir()
		rulesText := func(every string) string {
			return "rules:\n  - {name: hourly, scope: host, every: " + every + ", condition: \"true\", actions: [alert: {}]}\n" +
				"  - {name: follows, scope: host, condition: \"true\", actions: [alert: {}]}\n" +
				"  - {name: steady, scope: host, every: 50s, condition: \"true\", actions: [alert: {}]}\n"
		}
		rulesPath := writeFile(t, dir, "rules.yaml", rulesText("1h"))
		config := func(interval string) string {
			return "interval: " + interval + "\nrules_dirs: []\nstate_dir: " + filepath.Join(dir, "state") + "\n"
		}
		cfg := writeFile(t, dir, "ptrule.yaml", config("60s"))
		var logs syncBuffer
		d := &daemon{config: cfg, sources: ruleSources{noBuiltin: true, rules: []string{rulesPath}},
			procRoot: tree.Root(), log: slog.New(slog.NewJSONHandler(&logs, nil))}
		sigs := make(chan os.Signal, 1)
		done := make(chan int)
		start := time.Now()
		go func() { done <- d.run(sigs) }()

		time.Sleep(125 * time.Second)
		synctest.Wait()
		writeFile(t, dir, "rules.yaml", rulesText("30s"))
		writeFile(t, dir, "ptrule.yaml", config("10s"))
		sigs <- syscall.SIGHUP
		time.Sleep(60 * time.Second)
		synctest.Wait()
		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK {
			t.Fatalf("daemon exited %d:\n%s", code, logs.String())
		}

		got := firings(logLines(t, logs.String()), start)
		for rule, want := range map[string][]time.Duration{
			// Last run at 0s: due at 30s, long past, so at the reload.
			"hourly": durations(0, 125, 155, 185),
			// Last run at 120s: due at 130s.
			"follows": durations(0, 60, 120, 130, 140, 150, 160, 170, 180),
			// Unchanged: its schedule goes on.
			"steady": durations(0, 50, 100, 150),
		} {
			if !equalDurations(got[rule], want) {
				t.Errorf("%s matched at %v, want %v", rule, got[rule], want)
			}
		}
	})
}
