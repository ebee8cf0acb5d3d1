package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"ptrule/builtin/proc"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{100, 1, 1, 1, 100}, 1},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its argument: %v", in)
			}
		}
	}
}

// TestCPUAndMemoryOfSelf reads this test's own /proc entries: the CPU time
// grows with work done, and VmHWM is never below VmRSS.
func TestCPUAndMemoryOfSelf(t *testing.T) {
	pid := os.Getpid()
	c0, err := cpuOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if c, err := cpuOf(pid); err != nil {
			t.Fatal(err)
		} else if c-c0 >= 20*time.Millisecond {
			break
		}
		x := 0
		for i := range 10_000_000 {
			x += i
		}
		_ = x
	}
	c1, err := cpuOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	if c1-c0 < 20*time.Millisecond {
		t.Errorf("CPU time grew by %v over 2 s of busy work", c1-c0)
	}
	rss, hwm, err := memOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d, VmHWM %d", rss, hwm)
	}
}

func TestMustHaveRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, []byte(`{"rule":"pt-suspicious"}`+"\n"+`{"rule":"pt-load"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mustHaveRule(path, "pt-load"); err != nil {
		t.Error(err)
	}
	if err := mustHaveRule(path, "pt-deleted"); err == nil {
		t.Error("no pt-deleted line, but mustHaveRule found one")
	}
}

// TestPopulationStartsAndReaps starts a small population as the driver
// does and stops it: every process exists with its sockets, and after stop
// none is left, not even a zombie child.
func TestPopulationStartsAndReaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start processes as nobody")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: t.TempDir(), unprivileged: 60}
	var err error
	if e.sleep, err = exec.LookPath("sleep"); err != nil {
		t.Skip(err)
	}
	if e.sh, err = exec.LookPath("sh"); err != nil {
		t.Skip(err)
	}
	pop, err := startPopulation(e, 200)
	t.Cleanup(cleanup)
	if err != nil {
		t.Fatal(err)
	}
	if got := pop.count(); got != 200 {
		t.Errorf("%d processes, want 200", got)
	}
	if pop.tcp != 10 || pop.udp != 4 || pop.files == 0 {
		t.Errorf("tcp %d, udp %d, files %d: want 10, 4 and some", pop.tcp, pop.udp, pop.files)
	}
	// pop.nobody counts what runs as nobody: 60% of the sleepers'
	// sessions, the TCP holders and half the UDP ones.
	if got := countNobody(pop); got != pop.nobody || pop.nobody < 60 || pop.nobody > 160 {
		t.Errorf("%d processes of the population run as nobody, counted %d", got, pop.nobody)
	}
	// A TCP holder has its socket as fd 3.
	holder := pop.leaders[0].Process.Pid
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", holder)); err != nil || !strings.HasPrefix(target, "socket:[") {
		t.Errorf("process %d fd 3: %q, %v; want a socket", holder, target, err)
	}
	pop.stop()
	if got := pop.count(); got != 0 {
		t.Errorf("%d processes left after stop", got)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("a child is left after stop: wait4 says %v", err)
	}
}

// countNobody counts the processes of pop's sessions whose /proc directory
// belongs to nobody.
func countNobody(pop *population) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, d := range ents {
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		st, err := proc.ParseStat(data)
		fi, err2 := os.Stat("/proc/" + d.Name())
		if err == nil && err2 == nil && pop.sids[st.Session] && st.State != "Z" && fi.Sys().(*syscall.Stat_t).Uid == nobody {
			n++
		}
	}
	return n
}
