package act

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ptrule/builtin/proc"
)

// nobody is the uid and gid the test processes run as.
const nobody = 65534

// child is a process started by a test. It is reaped by a goroutine, so
// its exit is observed without racing the test; t.Cleanup kills and reaps
// it if the test did not.
type child struct {
	cmd   *exec.Cmd
	start uint64
	done  chan struct{}
	err   error // from Wait, valid after done
}

// startProc starts name args in a new session, as nobody when asNobody,
// and returns it once it runs, with the first lines it printed on stdout.
func startProc(t *testing.T, asNobody bool, lines int, env []string, name string, args ...string) (*child, []string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if asNobody {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	pw.Close()
	p := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// Process.Kill goes through a pidfd: it cannot hit a reused PID.
		cmd.Process.Kill()
		<-p.done
		pr.Close()
	})
	st, err := NewKiller().readStat(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("reading stat of %d: %v", cmd.Process.Pid, err)
	}
	p.start = st.StartTime

	var got []string
	if lines > 0 {
		read := make(chan []string, 1)
		go func() {
			var out []string
			sc := bufio.NewScanner(pr)
			for len(out) < lines && sc.Scan() {
				out = append(out, sc.Text())
			}
			read <- out
		}()
		select {
		case got = <-read:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s printed nothing for 10s", name)
		}
		if len(got) < lines {
			t.Fatalf("%s printed %q, want %d lines", name, got, lines)
		}
	}
	return p, got
}

// id returns the ProcID of p.
func (p *child) id() ProcID { return ProcID{PID: p.cmd.Process.Pid, StartTicks: p.start} }

// wait waits for p to exit and returns the signal that killed it, or -1
// when it exited on its own.
func (p *child) wait(t *testing.T) syscall.Signal {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d still runs after 10s", p.cmd.Process.Pid)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return -1
}

// running reports whether the process pid that started at start still
// runs (a zombie does not run).
func running(pid int, start uint64) bool {
	st, err := NewKiller().readStat(pid)
	return err == nil && st.StartTime == start && !st.Zombie()
}

// waitGone waits until pid (started at start) no longer runs.
func waitGone(t *testing.T, pid int, start uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); running(pid, start); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after 10s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTicks reads the start ticks of pid, failing the test if it is gone.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := NewKiller().readStat(pid)
	if err != nil {
		t.Fatalf("reading stat of %d: %v", pid, err)
	}
	return st.StartTime
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: starts processes as nobody and signals them")
	}
}

func TestKillProcID(t *testing.T) {
	requireRoot(t)
	p, _ := startProc(t, true, 0, nil, "sleep", "300")
	got := NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Target: "process", Procs: []ProcID{p.id(), p.id()}})
	want := KillResult{Signal: "SIGKILL", Target: "process", Signalled: []int{p.id().PID}, Gone: []KillNote{}, Refused: []KillNote{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result = %+v, want %+v (a PID given twice is signalled once)", got, want)
	}
	if sig := p.wait(t); sig != syscall.SIGKILL {
		t.Errorf("process ended by %v, want SIGKILL", sig)
	}
}

func TestKillGone(t *testing.T) {
	requireRoot(t)
	p, _ := startProc(t, true, 0, nil, "sleep", "300")
	p.cmd.Process.Kill()
	p.wait(t)
	got := NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{p.id()}})
	if len(got.Gone) != 1 || got.Gone[0].PID != p.id().PID || len(got.Signalled)+len(got.Refused) != 0 {
		t.Errorf("result = %+v, want pid %d gone", got, p.id().PID)
	}
}

// TestKillRefuses checks the safety rules. Signal 0 only probes, so even a
// broken check cannot harm pid 1, a kernel thread or the test itself; the
// reuse cases send SIGKILL to a process of the test and check it lives.
func TestKillRefuses(t *testing.T) {
	requireRoot(t)
	p, _ := startProc(t, true, 0, nil, "sleep", "300")
	kthread := findKernelThread(t)
	tests := []struct {
		name   string
		sig    syscall.Signal
		target ProcID
		reason string
	}{
		{"pid 1", 0, ProcID{PID: 1, StartTicks: startTicks(t, 1)}, "pid 1"},
		{"kthreadd", 0, ProcID{PID: 2, StartTicks: startTicks(t, 2)}, "kernel thread"},
		{"kernel thread", 0, ProcID{PID: kthread, StartTicks: startTicks(t, kthread)}, "kernel thread"},
		{"ptrule itself", 0, ProcID{PID: os.Getpid(), StartTicks: startTicks(t, os.Getpid())}, "ptrule itself"},
		{"parent", 0, ProcID{PID: os.Getppid(), StartTicks: startTicks(t, os.Getppid())}, "ancestor"},
		{"zero pid", 0, ProcID{PID: 0}, "not a process"},
		{"negative pid", 0, ProcID{PID: -1}, "not a process"},
		{"pid reused", syscall.SIGKILL, ProcID{PID: p.id().PID, StartTicks: p.start + 1}, "pid reused (start time differs)"},
		{"start unknown", syscall.SIGKILL, ProcID{PID: p.id().PID}, "start time unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewKiller().Kill(context.Background(), KillRequest{Signal: tt.sig, Procs: []ProcID{tt.target}})
			if len(got.Refused) != 1 || len(got.Signalled) != 0 || !strings.Contains(got.Refused[0].Reason, tt.reason) {
				t.Errorf("result = %+v, want one refusal with reason containing %q", got, tt.reason)
			}
			if !running(p.id().PID, p.start) {
				t.Fatal("the test's own process died")
			}
		})
	}
}

// TestKillRefusesGroups checks that group and session 1 are never
// signalled as a whole (signal 0, so a broken check only probes).
func TestKillRefusesGroups(t *testing.T) {
	for _, req := range []KillRequest{{PGID: 1}, {SID: 1}, {PGID: -4}, {PGID: 7, SID: 7}} {
		got := NewKiller().Kill(context.Background(), req)
		if len(got.Refused) != 1 || len(got.Signalled) != 0 {
			t.Errorf("Kill(%+v) = %+v, want one refusal", req, got)
		}
	}
	got := NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL})
	if len(got.Signalled)+len(got.Gone)+len(got.Refused) != 0 || got.Escalation != nil {
		t.Errorf("empty request: result %+v, want nothing", got)
	}
}

// findKernelThread returns a kernel thread other than kthreadd.
func findKernelThread(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 2 {
			continue
		}
		if st, err := NewKiller().readStat(pid); err == nil && st.Flags&proc.KthreadFlag != 0 {
			return pid
		}
	}
	t.Skip("no kernel thread visible (a PID namespace?)")
	return 0
}

func TestKillProcessGroup(t *testing.T) {
	requireRoot(t)
	leader, pids := startProc(t, true, 2, nil, "sh", "-c", "sleep 300 & echo $!; sleep 300 & echo $!; wait")
	kids := pidsStarts(t, pids)
	// The snapshot saw only the leader: the children stand for members
	// born after it, which the kill must still reach.
	got := NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, PGID: leader.id().PID, Seen: []ProcID{leader.id()}})
	if len(got.Signalled) != 3 || len(got.Refused) != 0 {
		t.Errorf("result = %+v, want 3 signalled", got)
	}
	if sig := leader.wait(t); sig != syscall.SIGKILL {
		t.Errorf("leader ended by %v, want SIGKILL", sig)
	}
	for _, k := range kids {
		waitGone(t, k.PID, k.StartTicks)
	}
}

// TestKillSessionHelper is not a test: TestKillSession runs the test binary
// with this as its only test, to get a session leader whose children sit in
// two process groups.
func TestKillSessionHelper(t *testing.T) {
	if os.Getenv("PTRULE_TEST_SESSION_HELPER") != "1" {
		t.Skip("helper process for TestKillSession")
	}
	own := exec.Command("sleep", "300")
	own.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	same := exec.Command("sleep", "300")
	for _, c := range []*exec.Cmd{own, same} {
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("%d\n%d\n", own.Process.Pid, same.Process.Pid)
	time.Sleep(300 * time.Second)
	os.Exit(0)
}

func TestKillSession(t *testing.T) {
	requireRoot(t)
	leader, pids := startProc(t, false, 2, []string{"PTRULE_TEST_SESSION_HELPER=1"}, os.Args[0], "-test.run=^TestKillSessionHelper$")
	kids := pidsStarts(t, pids)
	t.Cleanup(func() {
		// The children are the helper's: stop them even if the test failed.
		NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: kids})
	})
	sid := leader.id().PID
	k := NewKiller()
	own, _ := k.readStat(kids[0].PID)
	same, _ := k.readStat(kids[1].PID)
	if own.Session != sid || same.Session != sid || own.PGrp == sid || same.PGrp != sid {
		t.Fatalf("setup: want both children in session %d, one in its own group: got %+v and %+v", sid, own, same)
	}

	// The snapshot saw only the leader, as in TestKillProcessGroup.
	got := k.Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, SID: sid, Seen: []ProcID{leader.id()}})
	if len(got.Signalled) != 3 || len(got.Refused) != 0 {
		t.Errorf("result = %+v, want 3 signalled", got)
	}
	if sig := leader.wait(t); sig != syscall.SIGKILL {
		t.Errorf("leader ended by %v, want SIGKILL", sig)
	}
	for _, k := range kids {
		waitGone(t, k.PID, k.StartTicks)
	}
}

// TestKillGrace checks the escalation: whatever the first signal (but
// KILL), a process still alive after the grace gets SIGKILL, and one that
// obeys is left to exit.
func TestKillGrace(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name       string
		script     string
		sig        syscall.Signal
		grace      time.Duration
		wantSig    syscall.Signal
		wantKilled bool
	}{
		// The ignored disposition survives exec, so sleep ignores it.
		{"ignores TERM", `trap "" TERM; exec sleep 300`, syscall.SIGTERM, 300 * time.Millisecond, syscall.SIGKILL, true},
		{"ignores HUP", `trap "" HUP; exec sleep 300`, syscall.SIGHUP, 300 * time.Millisecond, syscall.SIGKILL, true},
		{"ignores INT", `trap "" INT; exec sleep 300`, syscall.SIGINT, 300 * time.Millisecond, syscall.SIGKILL, true},
		{"obeys TERM", `exec sleep 300`, syscall.SIGTERM, 20 * time.Second, syscall.SIGTERM, false},
		// USR1, unlike HUP and INT, is not left ignored by nohup or a
		// shell's background jobs, so sleep surely obeys it.
		{"obeys USR1", `exec sleep 300`, syscall.SIGUSR1, 20 * time.Second, syscall.SIGUSR1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := startProc(t, true, 0, nil, "sh", "-c", tt.script)
			// Once it is "sleep", the shell has set its trap.
			waitComm(t, p.id().PID, "sleep")
			got := NewKiller().Kill(context.Background(), KillRequest{Signal: tt.sig, Grace: tt.grace, Procs: []ProcID{p.id()}})
			pid := p.id().PID
			if !slices.Equal(got.Signalled, []int{pid}) || got.Escalation == nil {
				t.Fatalf("result = %+v, want pid %d signalled and an escalation", got, pid)
			}
			e := got.Escalation
			if e.Grace != KillDuration(tt.grace) || e.CutShort {
				t.Errorf("escalation = %+v, want grace %v, not cut short", e, tt.grace)
			}
			if tt.wantKilled {
				if !slices.Equal(e.Killed, []int{pid}) || len(e.Exited) != 0 || time.Duration(e.Waited) < tt.grace {
					t.Errorf("escalation = %+v, want SIGKILL to %d after waiting the whole %v", e, pid, tt.grace)
				}
			} else if !slices.Equal(e.Exited, []int{pid}) || len(e.Killed) != 0 || time.Duration(e.Waited) >= tt.grace {
				t.Errorf("escalation = %+v, want %d to exit within the grace", e, pid)
			}
			if sig := p.wait(t); sig != tt.wantSig {
				t.Errorf("process ended by %v, want %v", sig, tt.wantSig)
			}
		})
	}
}

// waitComm waits until pid's command name is comm: a shell that execs
// comm has run everything before the exec.
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := NewKiller().readStat(pid); err == nil && st.Comm == comm {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not become %q within 10s", pid, comm)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidsStarts turns printed PIDs into ProcIDs.
func pidsStarts(t *testing.T, pids []string) []ProcID {
	t.Helper()
	var out []ProcID
	for _, s := range pids {
		pid, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("bad pid %q: %v", s, err)
		}
		out = append(out, ProcID{PID: pid, StartTicks: startTicks(t, pid)})
	}
	return out
}

// TestKillCancelledGrace checks that an ended context cuts the grace
// short: survivors get SIGKILL at once.
func TestKillCancelledGrace(t *testing.T) {
	requireRoot(t)
	p, _ := startProc(t, true, 0, nil, "sh", "-c", `trap "" TERM; exec sleep 300`)
	waitComm(t, p.id().PID, "sleep")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got := NewKiller().Kill(ctx, KillRequest{Signal: syscall.SIGTERM, Grace: time.Hour, Procs: []ProcID{p.id()}})
	e := got.Escalation
	if e == nil || !e.CutShort || !slices.Equal(e.Killed, []int{p.id().PID}) || time.Duration(e.Waited) >= time.Hour {
		t.Fatalf("result = %+v, want SIGKILL sent early, cut short", got)
	}
	// The text tells the truth about the wait: not "after 1h0m0s".
	if text := got.String(); !strings.Contains(text, "cut short after "+e.Waited.String()) || strings.Contains(text, "1h0m0s of grace") {
		t.Errorf("text %q does not say the grace was cut short after %v", text, e.Waited)
	}
	if sig := p.wait(t); sig != syscall.SIGKILL {
		t.Errorf("process ended by %v, want SIGKILL", sig)
	}
}
