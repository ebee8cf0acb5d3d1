package act

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// These tests start real processes as nobody in their own sessions, and
// kill and reap only what they started.

const nobodyUID = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start processes as other users")
	}
}

// sharedDir returns a directory every user can enter and read, removed at
// the end of the test (t.TempDir lies under a directory only root enters).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ptrule-act-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startAs starts argv as uid in a new session and registers its killing
// and reaping.
func startAs(t *testing.T, uid int, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)},
	}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v as uid %d: %v", argv, uid, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // this pid only: the one we started
		_ = cmd.Wait()
	})
	return cmd
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && data[i+2] != 'Z'
}
