package collect

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// nonDumpableEnv makes the test binary, started as a helper, make itself
// non-dumpable and wait to be killed (see TestMain).
const nonDumpableEnv = "PTRULE_TEST_NONDUMPABLE"

// A fact read after the collection comes from the process the collection
// saw: when its directory is replaced by another process's with the same
// PID, the late read still goes through the directory opened then. Read
// by path, it would describe the newcomer.
func TestCollectLateReadKeepsItsProcess(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 300, UID: 1001, Exe: "/usr/bin/first", Cmdline: []string{"first", "--one"}, Cgroup: "0::/system.slice/first.service"})
	_, snap := collectTree(t, tree, CollectOptions{})

	// PID 300 exits and a new process takes its number.
	if err := os.Rename(tree.Dir(300), tree.Dir(300)+".gone"); err != nil {
		t.Fatal(err)
	}
	tree.AddProc(proctest.Proc{PID: 300, UID: 1001, Exe: "/usr/bin/second", Cmdline: []string{"second"}, Cgroup: "0::/system.slice/second.service"})

	p := &snap.Procs[0]
	p.Need(engine.FactCmdline | engine.FactCgroup)
	if p.Cmd != "first --one" || p.Unit != "first.service" {
		t.Errorf("late read gave cmd %q unit %q, want the first process's", p.Cmd, p.Unit)
	}
}

// A process whose facts are read after it exited keeps what was read and
// leaves the rest empty: nothing is read from a later process.
func TestCollectLateReadOfAnExitedProcess(t *testing.T) {
	proctest.NeedRoot(t)
	cmd := exec.Command("/bin/sleep", "1000")
	pid := startReal(t, cmd, "/bin/sleep\x001000\x00")
	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(CollectOptions{PIDs: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if len(snap.Procs) != 1 {
		t.Fatalf("collected %d processes, want %d", len(snap.Procs), pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	p := &snap.Procs[0]
	p.Need(engine.FactAll)
	if p.PID != pid || p.Cmd != "" || p.Exe != "" {
		t.Errorf("after exit: pid %d cmd %q exe %q, want %d with nothing read", p.PID, p.Cmd, p.Exe, pid)
	}
}

// The effective uid comes from the owner of /proc/PID, which is the euid
// even for a non-dumpable process, whose files there belong to root: a
// process cannot pass for root by calling prctl(PR_SET_DUMPABLE, 0).
func TestCollectRealNonDumpableUID(t *testing.T) {
	proctest.NeedRoot(t)
	t.Setenv(nonDumpableEnv, "1")
	// The test binary, where nobody may run it.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(proctest.SharedDir(t), "helper")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := proctest.StartAs(t, nobody, bin, "-test.run=^$")
	pid := cmd.Process.Pid
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	// Non-dumpable once its environ belongs to root.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "environ"), &st); err == nil && st.Uid == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never became non-dumpable", pid)
		}
	}
	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(CollectOptions{PIDs: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if len(snap.Procs) != 1 || snap.Procs[0].UID != nobody || snap.Procs[0].User != "nobody" {
		t.Fatalf("non-dumpable process of nobody collected as %+v", snap.Procs)
	}
}

// runNonDumpable is the helper of TestCollectRealNonDumpableUID.
func runNonDumpable() {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		os.Exit(3)
	}
	time.Sleep(time.Hour)
	os.Exit(0)
}

// A host with more processes than descriptors to keep has the rest read
// at once, whole: the snapshot is the same.
func TestCollectOverTheOpenBudget(t *testing.T) {
	tree := proctest.New(t)
	for pid := 100; pid < 104; pid++ {
		tree.AddProc(proctest.Proc{PID: pid, UID: 1001, Exe: "/usr/bin/x" + strconv.Itoa(pid), Cmdline: []string{"x", strconv.Itoa(pid)}})
	}
	c, err := NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	c.maxOpen = 2
	snap, err := c.Collect(CollectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	// Before anything asks, the last two were read whole, the first two
	// not yet.
	var read []string
	for i := range snap.Procs {
		read = append(read, snap.Procs[i].Cmd)
	}
	if want := []string{"", "", "x 102", "x 103"}; !slices.Equal(read, want) {
		t.Errorf("command lines before any read: %q, want %q", read, want)
	}
	snap.LoadAll(engine.FactAll)
	for i := range snap.Procs {
		p := &snap.Procs[i]
		if want := "x " + strconv.Itoa(p.PID); p.Cmd != want || p.Exe != "/usr/bin/x"+strconv.Itoa(p.PID) {
			t.Errorf("pid %d: cmd %q exe %q", p.PID, p.Cmd, p.Exe)
		}
	}
}
