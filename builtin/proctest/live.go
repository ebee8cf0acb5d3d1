package proctest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The helpers below serve tests that start real processes: as another
// user, in a session of their own, killed and reaped by the test that
// started them, and by no one else.

// NeedRoot skips a test that has to start processes as other users when
// it does not run as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start processes as other users")
	}
}

// SharedDir returns a directory every user can enter and read, removed at
// the end of the test (t.TempDir lies under a directory only root enters).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ptrule-live-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// StartAs starts argv as uid in a new session, in /, and registers its
// killing and reaping: that pid only, the one the test started.
func StartAs(t testing.TB, uid int, argv ...string) *exec.Cmd {
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
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// WriteScript writes a shell script into dir with the given mode (set
// after the write, so the mode is exact whatever the umask) and returns
// its path.
func WriteScript(t testing.TB, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// NobodyUID is the uid real-process tests run their processes as.
const NobodyUID = 65534

// SystemUserName is a user database for tests that read the host's real
// /proc: it names root and nobody, as every Debian system does, and no one
// else, so that the users of the machine running the tests cannot change a
// result. Install it with `proc.SystemUserName = proctest.SystemUserName`
// in TestMain.
func SystemUserName(id string) string {
	switch id {
	case "0":
		return "root"
	case strconv.Itoa(NobodyUID):
		return "nobody"
	}
	return ""
}

// OpenLoopbackSockets opens n TCP connections over the loopback (2n
// sockets and a listener) and n/5 bound UDP sockets, closed when the test
// or benchmark ends: the sockets of a small server, for benchmarks that
// read socket tables.
func OpenLoopbackSockets(tb testing.TB, n int) {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close(); s.Close() })
	}
	for range n / 5 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { u.Close() })
	}
}
