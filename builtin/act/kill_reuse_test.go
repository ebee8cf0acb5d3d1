package act

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ptrule/builtin/proc"
)

// These tests cover what the kill must do when the world changed between
// the snapshot and the signal: a PID or a session id reused, a member that
// left its group or session, a /proc that is not the one signals refer to.
// PID reuse is made on purpose inside a throw-away PID namespace, where
// /proc/sys/kernel/ns_last_pid says which PID the next process gets.

// nsScenarioEnv names the scenario TestKillNamespaceHelper runs.
const nsScenarioEnv = "PTRULE_TEST_KILL_NS"

// runInPIDNamespace runs TestKillNamespaceHelper with scenario as pid 1 of
// a new PID namespace with its own /proc, and fails t with its output if
// the scenario failed. prelude, shell commands run as pid 1 before it
// becomes the helper, may start processes that take the first pids (the
// helper's threads take pids too). Everything dies with the namespace.
func runInPIDNamespace(t *testing.T, scenario, prelude string) {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) to make a PID namespace")
	}
	cmd := exec.Command("unshare", "-p", "-f", "--mount-proc", "sh", "-c", prelude+`exec "$0" "$@"`,
		os.Args[0], "-test.run=^TestKillNamespaceHelper$", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), nsScenarioEnv+"="+scenario)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "unshare failed") {
			t.Skipf("cannot make a PID namespace here: %s", out)
		}
		t.Fatalf("scenario %s in a PID namespace: %v\n%s", scenario, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestKillNamespaceHelper") {
		t.Fatalf("scenario %s did not run to the end:\n%s", scenario, out)
	}
}

// TestKillNamespaceHelper is not a test on its own: runInPIDNamespace runs
// the test binary with it as pid 1 of a new PID namespace.
func TestKillNamespaceHelper(t *testing.T) {
	scenario := os.Getenv(nsScenarioEnv)
	if scenario == "" {
		t.Skip("helper for the tests that need a PID namespace")
	}
	if os.Getpid() != 1 {
		t.Fatalf("helper runs as pid %d, want pid 1 of a new namespace", os.Getpid())
	}
	switch scenario {
	case "pid2":
		nsPID2(t)
	case "pid-reuse":
		nsPIDReuse(t)
	case "session-reuse":
		nsGroupReuse(t, "session")
	case "group-reuse":
		nsGroupReuse(t, "group")
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
}

// TestKillPID2InNamespace checks that pid 2 and its children are
// ordinary processes inside a PID namespace: a kernel thread is known by
// its flag, not its pid.
func TestKillPID2InNamespace(t *testing.T) {
	runInPIDNamespace(t, "pid2", `sh -c "sleep 300 & wait" & `)
}

func nsPID2(t *testing.T) {
	k := NewKiller()
	// The prelude started pid 2, a shell, whose child is sleep.
	var kid ProcID
	for deadline := time.Now().Add(10 * time.Second); kid.PID == 0; time.Sleep(10 * time.Millisecond) {
		for _, st := range k.scan(func(st proc.Stat) bool { return st.PPID == 2 && st.Comm == "sleep" }) {
			kid = ProcID{PID: st.PID, StartTicks: st.StartTime}
		}
		if time.Now().After(deadline) {
			t.Fatal("setup: pid 2 started no sleep within 10s")
		}
	}
	two := ProcID{PID: 2, StartTicks: startTicks(t, 2)}
	got := k.Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{two, kid}})
	if want := []int{2, kid.PID}; !slices.Equal(got.Signalled, want) || len(got.Refused) != 0 {
		t.Errorf("result = %+v, want %v signalled", got, want)
	}
	waitGone(t, 2, two.StartTicks)
	waitGone(t, kid.PID, kid.StartTicks)
}

// startAtPID starts a new session running sleep that gets pid, and that
// started on a later clock tick than after: a process that reuses the PID
// of one the snapshot saw.
func startAtPID(t *testing.T, pid int, after uint64) *child {
	t.Helper()
	for range 100 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot choose the next pid: %v", err)
		}
		p, _ := startProc(t, true, 0, nil, "sleep", "300")
		if p.id().PID != pid {
			t.Fatalf("setup: the new process got pid %d, want %d", p.id().PID, pid)
		}
		if p.start > after {
			return p
		}
		// Same clock tick as the old process: the start time cannot tell
		// them apart. Try again on a later tick.
		p.cmd.Process.Kill()
		p.wait(t)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("setup: no later clock tick after 100 tries")
	return nil
}

// TestKillPIDReusedAfterSnapshot checks that a process that got the PID
// of the one the snapshot saw, and started after it, is not signalled.
func TestKillPIDReusedAfterSnapshot(t *testing.T) { runInPIDNamespace(t, "pid-reuse", "") }

func nsPIDReuse(t *testing.T) {
	old, _ := startProc(t, true, 0, nil, "sleep", "300")
	seen := old.id()
	old.cmd.Process.Kill()
	old.wait(t)
	reuser := startAtPID(t, seen.PID, seen.StartTicks)

	got := NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{seen}})
	if len(got.Signalled) != 0 || len(got.Refused) != 1 || got.Refused[0].Reason != "pid reused (start time differs)" {
		t.Errorf("result = %+v, want pid %d refused as reused", got, seen.PID)
	}
	if !running(reuser.id().PID, reuser.start) {
		t.Fatal("the process that reused the pid was killed")
	}
}

// TestKillSessionReused and TestKillGroupReused check that a session or
// process group whose number was taken by a new one after the snapshot is
// refused, not signalled; the same request naming the new one as seen
// signals it, so the refusal is about identity alone.
func TestKillSessionReused(t *testing.T) { runInPIDNamespace(t, "session-reuse", "") }

func TestKillGroupReused(t *testing.T) { runInPIDNamespace(t, "group-reuse", "") }

func nsGroupReuse(t *testing.T, what string) {
	// startProc makes each process the leader of a new session and group.
	old, _ := startProc(t, true, 0, nil, "sleep", "300")
	seen := old.id()
	old.cmd.Process.Kill()
	old.wait(t)
	reuser := startAtPID(t, seen.PID, seen.StartTicks)
	st, err := NewKiller().readStat(seen.PID)
	if err != nil || st.Session != seen.PID || st.PGrp != seen.PID {
		t.Fatalf("setup: want pid %d to lead session and group %d, got %+v (%v)", seen.PID, seen.PID, st, err)
	}

	req := func(seen ProcID) KillRequest {
		r := KillRequest{Signal: syscall.SIGKILL, Seen: []ProcID{seen}}
		if what == "session" {
			r.SID = seen.PID
		} else {
			r.PGID = seen.PID
		}
		return r
	}
	got := NewKiller().Kill(context.Background(), req(seen))
	want := map[string]string{"group": "process group", "session": "session"}[what] + " id reused"
	if len(got.Signalled) != 0 || len(got.Refused) != 1 || !strings.HasPrefix(got.Refused[0].Reason, want) {
		t.Errorf("result = %+v, want a refusal %q", got, want)
	}
	if !running(reuser.id().PID, reuser.start) {
		t.Fatalf("the %s that reused the number was killed", what)
	}

	got = NewKiller().Kill(context.Background(), req(reuser.id()))
	if !slices.Equal(got.Signalled, []int{seen.PID}) {
		t.Errorf("with the new process as seen: result = %+v, want it signalled", got)
	}
	if sig := reuser.wait(t); sig != syscall.SIGKILL {
		t.Errorf("ended by %v, want SIGKILL", sig)
	}
}

// leaverEnv tells TestKillLeaverHelper what to leave on SIGUSR1.
const leaverEnv = "PTRULE_TEST_KILL_LEAVER"

// TestKillLeaverHelper is not a test on its own: TestKillMemberLeft runs
// the test binary with it, as a member of a group and session that leaves
// them (setpgid or setsid) when it gets SIGUSR1.
func TestKillLeaverHelper(t *testing.T) {
	what := os.Getenv(leaverEnv)
	if what == "" {
		t.Skip("helper for TestKillMemberLeft")
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	fmt.Println(os.Getpid())
	<-usr1
	var err error
	if what == "session" {
		_, err = syscall.Setsid()
	} else {
		err = syscall.Setpgid(0, 0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "leaving:", err)
		os.Exit(1)
	}
	time.Sleep(300 * time.Second)
	os.Exit(0)
}

// TestKillMemberLeft checks the re-check after a member's pidfd is open: a
// process the pass read as a member, that leaves the group or session
// before it is signalled, is reported gone and left alive, while the rest
// of the group or session is signalled.
func TestKillMemberLeft(t *testing.T) {
	requireRoot(t)
	for _, what := range []string{"group", "session"} {
		t.Run(what, func(t *testing.T) {
			leader, lines := startProc(t, false, 1, []string{leaverEnv + "=" + what}, "sh", "-c",
				`"$0" -test.run='^TestKillLeaverHelper$' & wait`, os.Args[0])
			member := pidsStarts(t, lines)[0]
			t.Cleanup(func() {
				NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{member}})
			})
			k := NewKiller()
			in := func(st proc.Stat) int {
				if what == "session" {
					return st.Session
				}
				return st.PGrp
			}
			if st, err := k.readStat(member.PID); err != nil || in(st) != leader.id().PID {
				t.Fatalf("setup: member %d is not in %s %d: %+v (%v)", member.PID, what, leader.id().PID, st, err)
			}
			left := false
			k.beforeCheck = func(pid int) {
				if pid != member.PID {
					return
				}
				syscall.Kill(pid, syscall.SIGUSR1)
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if st, err := k.readStat(pid); err == nil && in(st) != leader.id().PID {
						left = true
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("member %d did not leave the %s within 10s", pid, what)
						return
					}
				}
			}
			req := KillRequest{Signal: syscall.SIGKILL, Seen: []ProcID{leader.id(), member}}
			if what == "session" {
				req.SID = leader.id().PID
			} else {
				req.PGID = leader.id().PID
			}
			got := k.Kill(context.Background(), req)
			if !left {
				t.Fatal("the member was never read by the kill")
			}
			wantGone := []KillNote{{PID: member.PID, Reason: "left the " + map[string]string{"group": "process group", "session": "session"}[what] + " before it was signalled"}}
			if !slices.Equal(got.Signalled, []int{leader.id().PID}) || !slices.Equal(got.Gone, wantGone) {
				t.Errorf("result = %+v, want %d signalled and %+v", got, leader.id().PID, wantGone)
			}
			if sig := leader.wait(t); sig != syscall.SIGKILL {
				t.Errorf("leader ended by %v, want SIGKILL", sig)
			}
			if !running(member.PID, member.StartTicks) {
				t.Error("the member that left was killed")
			}
		})
	}
}

// TestCheckProcfs checks which trees count as the procfs of ptrule's own
// PID namespace: /proc does; a copied tree that looks right does not, nor
// does the procfs of another PID namespace.
func TestCheckProcfs(t *testing.T) {
	if err := CheckProcfs("/proc"); err != nil {
		t.Fatalf("CheckProcfs(/proc) = %v", err)
	}
	fake := fakeOwnProc(t, os.Getpid())
	if err := CheckProcfs(fake); err == nil || !strings.Contains(err.Error(), "not a procfs mount") {
		t.Errorf("CheckProcfs(fake tree) = %v, want not a procfs mount", err)
	}

	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) to make a PID namespace")
	}
	ns := exec.Command("unshare", "-p", "-f", "--mount-proc", "sleep", "300")
	ns.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// unshare waits for its child: killing its session stops both,
		// and Wait reaps unshare.
		syscall.Kill(-ns.Process.Pid, syscall.SIGKILL)
		ns.Wait()
	})
	other := filepath.Join("/proc", strconv.Itoa(ns.Process.Pid), "root", "proc")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// Until unshare's child has mounted it, the path shows our /proc.
		if b, err := os.ReadFile(filepath.Join(other, "1", "comm")); err == nil && string(b) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("the PID namespace's /proc did not appear within 10s")
		}
	}
	if err := CheckProcfs(other); err == nil || !strings.Contains(err.Error(), "another PID namespace") {
		t.Errorf("CheckProcfs(procfs of another PID namespace) = %v, want refused", err)
	}
}

// fakeOwnProc builds a tree that copies what /proc shows of pid and of
// ptrule itself: what a user could hand to --proc to steer a kill.
func fakeOwnProc(t *testing.T, pids ...int) string {
	t.Helper()
	dir := t.TempDir()
	for _, pid := range append(pids, os.Getpid()) {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"stat", "status"} {
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(strconv.Itoa(os.Getpid()), filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKillRefusesForeignProc checks that a killer reading a tree that is
// not the procfs of its PID namespace signals nothing, even when the tree
// names a live process with its true start time.
func TestKillRefusesForeignProc(t *testing.T) {
	requireRoot(t)
	p, _ := startProc(t, true, 0, nil, "sleep", "300")
	k := NewKiller()
	k.procRoot = fakeOwnProc(t, p.id().PID)
	got := k.Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{p.id()}, SID: p.id().PID})
	if len(got.Signalled) != 0 || len(got.Refused) != 2 || !strings.Contains(got.Refused[0].Reason, "not a procfs mount") {
		t.Errorf("result = %+v, want the process and the session refused", got)
	}
	if !running(p.id().PID, p.start) {
		t.Fatal("a kill read from a fake tree signalled a real process")
	}
}

// TestKillResultString checks the one-line text of a result, which logs
// and `scan` print.
func TestKillResultString(t *testing.T) {
	tests := []struct {
		name string
		res  KillResult
		want string
	}{
		{"all signalled", KillResult{Signal: "SIGKILL", Target: "session 700", Signalled: []int{700, 701}},
			"SIGKILL to session 700: signalled 700,701"},
		{"nothing", KillResult{Signal: "SIGKILL", Target: "user bob (0 processes)"},
			"SIGKILL to user bob (0 processes): nothing to signal"},
		{"partial", KillResult{Signal: "SIGTERM", Target: "process group 9", Signalled: []int{9},
			Gone: []KillNote{{10, "no such process"}}, Refused: []KillNote{{11, "pid reused (start time differs)"}}},
			"SIGTERM to process group 9: signalled 9; gone 10 (no such process); refused 11 (pid reused (start time differs))"},
		{"escalated", KillResult{Signal: "SIGTERM", Target: "process 5", Signalled: []int{5, 6},
			Escalation: &KillEscalation{Grace: KillDuration(time.Minute), Waited: KillDuration(time.Minute), Exited: []int{6}, Killed: []int{5}}},
			"SIGTERM to process 5: signalled 5,6; still alive after 1m0s of grace: SIGKILL to 5"},
		{"cut short", KillResult{Signal: "SIGHUP", Target: "process 5", Signalled: []int{5},
			Escalation: &KillEscalation{Grace: KillDuration(time.Minute), Waited: KillDuration(10 * time.Second), CutShort: true, Killed: []int{5}}},
			"SIGHUP to process 5: signalled 5; grace 1m0s cut short after 10s as ptrule was stopping: SIGKILL to 5"},
		{"all exited", KillResult{Signal: "SIGTERM", Target: "process 5", Signalled: []int{5},
			Escalation: &KillEscalation{Grace: KillDuration(time.Minute), Waited: KillDuration(time.Second), Exited: []int{5}}},
			"SIGTERM to process 5: signalled 5; all exited within 1s of the 1m0s grace"},
		{"kill failed", KillResult{Signal: "SIGTERM", Target: "process 5", Signalled: []int{5},
			Escalation: &KillEscalation{Grace: KillDuration(time.Second), Waited: KillDuration(time.Second), Failed: []KillNote{{5, "sending SIGKILL failed: operation not permitted"}}}},
			"SIGTERM to process 5: signalled 5; still alive after 1s of grace; SIGKILL failed for 5 (sending SIGKILL failed: operation not permitted)"},
	}
	for _, tt := range tests {
		if got := tt.res.String(); got != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.name, got, tt.want)
		}
	}
	for sig, want := range map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM", 40: "signal 40"} {
		if got := SignalName(sig); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", sig, got, want)
		}
	}
}

// forkerEnv names the file TestKillForkerHelper writes its child's pid to.
const forkerEnv = "PTRULE_TEST_KILL_FORKER"

// TestKillForkerHelper is not a test on its own: TestKillLateMember runs
// the test binary with it as a session leader that starts a child in its
// session when it gets SIGUSR1, and writes the child's pid to a file.
func TestKillForkerHelper(t *testing.T) {
	out := os.Getenv(forkerEnv)
	if out == "" {
		t.Skip("helper for TestKillLateMember")
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	fmt.Println("ready")
	<-usr1
	child := exec.Command("sleep", "300")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out+".tmp", []byte(strconv.Itoa(child.Process.Pid)), 0o644); err != nil {
		os.Exit(1)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		os.Exit(1)
	}
	time.Sleep(300 * time.Second)
	os.Exit(0)
}

// TestKillLateMember checks that a member born while the kill runs is
// still signalled in a later pass when every process known to be in the
// session is gone by then (killed and reaped): it started before the
// session was last proven to be the matched one.
func TestKillLateMember(t *testing.T) {
	requireRoot(t)
	pidFile := filepath.Join(t.TempDir(), "child")
	leader, _ := startProc(t, false, 1, []string{forkerEnv + "=" + pidFile}, os.Args[0], "-test.run=^TestKillForkerHelper$")
	sid := leader.id().PID
	var late ProcID
	t.Cleanup(func() {
		if late.PID != 0 {
			NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{late}})
		}
	})
	k := NewKiller()
	k.beforeCheck = func(pid int) {
		switch {
		case pid == sid && late.PID == 0:
			// Pass 1 has listed the leader alone: now it forks.
			syscall.Kill(pid, syscall.SIGUSR1)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if b, err := os.ReadFile(pidFile); err == nil {
					late = pidsStarts(t, []string{string(b)})[0]
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the leader started no child within 10s")
				}
			}
			// Let the clock tick past the child's start, so that the
			// proof of pass 1 comes strictly after it.
			time.Sleep(30 * time.Millisecond)
		case pid == late.PID:
			// Pass 2: the leader, the only process known to be in the
			// session, is killed and reaped before the child is checked.
			select {
			case <-leader.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the leader was not reaped within 10s")
			}
		}
	}
	got := k.Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, SID: sid, Seen: []ProcID{leader.id()}})
	if late.PID == 0 {
		t.Fatal("setup: no late member")
	}
	if want := []int{sid, late.PID}; !slices.Equal(got.Signalled, want) || len(got.Refused) != 0 {
		t.Errorf("result = %+v, want %v signalled", got, want)
	}
	waitGone(t, late.PID, late.StartTicks)
}
