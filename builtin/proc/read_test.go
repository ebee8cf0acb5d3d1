package proc

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLoginName(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/usr/sbin/nologin\n"
	tests := []struct {
		name  string
		setup func(t *testing.T, etc string)
		id    string
		want  string
	}{
		{"named", func(t *testing.T, etc string) { mustWrite(t, filepath.Join(etc, "passwd"), passwd) }, "33", "web"},
		{"not in passwd", func(t *testing.T, etc string) { mustWrite(t, filepath.Join(etc, "passwd"), passwd) }, "1000", "1000"},
		{"no passwd", func(t *testing.T, etc string) {}, "0", "0"},
		{"FIFO does not hang", func(t *testing.T, etc string) {
			if err := syscall.Mkfifo(filepath.Join(etc, "passwd"), 0o644); err != nil {
				t.Skip(err)
			}
		}, "0", "0"},
		{"too large", func(t *testing.T, etc string) {
			mustWrite(t, filepath.Join(etc, "passwd"), passwd+strings.Repeat("#\n", maxPasswdSize/2))
		}, "33", "33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			etc := filepath.Join(dir, "etc")
			if err := os.MkdirAll(etc, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, etc)
			if got := LoginName(filepath.Join(dir, "proc"), tt.id); got != tt.want {
				t.Errorf("LoginName(%s) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestReadBootClock(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadBootClock(dir, 100); err == nil {
		t.Error("no stat file: no error")
	}
	mustWrite(t, filepath.Join(dir, "stat"), "cpu  1 2 3\n")
	if clk, err := ReadBootClock(dir, 100); err == nil || !clk.Boot.IsZero() || clk.TicksPerSecond != 100 {
		t.Errorf("no btime: %+v, %v", clk, err)
	}
	mustWrite(t, filepath.Join(dir, "stat"), "cpu  1 2 3\nbtime 1767225600\n")
	clk, err := ReadBootClock(dir, 250)
	if err != nil || !clk.Boot.Equal(time.Unix(1767225600, 0)) || clk.TicksPerSecond != 250 {
		t.Errorf("ReadBootClock = %+v, %v", clk, err)
	}
}

func TestIsProcfs(t *testing.T) {
	if IsProcfs(t.TempDir()) {
		t.Error("a temporary directory counts as a procfs")
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil && !IsProcfs("/proc") {
		t.Error("/proc does not count as a procfs")
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadNetTable(t *testing.T) {
	dir := t.TempDir()
	line := func(inode string) string {
		return "   1: 0100007F:1388 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 " + inode + " 1 0000000000000000 100 0 0 10 0\n"
	}
	mustWrite(t, filepath.Join(dir, "tcp"), "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		line("11")+"   2: garbage\n"+line("12"))
	var inodes []uint64
	if err := ReadNetTable(dir, "tcp", func(e NetEntry) { inodes = append(inodes, e.Inode) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inodes, []uint64{11, 12}) {
		t.Errorf("inodes %v, want [11 12]: the header and the bad line skipped, the rest in order", inodes)
	}
	if err := ReadNetTable(dir, "tcp6", func(NetEntry) { t.Error("a socket from a missing table") }); !Vanished(err) {
		t.Errorf("missing table: %v", err)
	}
}

func TestEachFD(t *testing.T) {
	root := t.TempDir()
	fdDir := filepath.Join(root, "7", "fd")
	if err := os.MkdirAll(fdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for fd, target := range map[string]string{"10": "/var/log/x", "2": "socket:[5]", "9": "pipe:[3]", "x": "/not/a/fd"} {
		if err := os.Symlink(target, filepath.Join(fdDir, fd)); err != nil {
			t.Fatal(err)
		}
	}
	// Not a link: its target cannot be read.
	mustWrite(t, filepath.Join(fdDir, "4"), "")
	var got []string
	err := EachFD(root, 7, func(fd int, target string, err error) {
		if err != nil {
			target = "error"
		}
		got = append(got, strconv.Itoa(fd)+"="+target)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2=socket:[5]", "4=error", "9=pipe:[3]", "10=/var/log/x"}; !slices.Equal(got, want) {
		t.Errorf("EachFD = %v, want %v (descriptor order, names that are no number left out)", got, want)
	}
	if err := EachFD(root, 8, func(int, string, error) {}); !Vanished(err) {
		t.Errorf("EachFD of a process without a directory: %v", err)
	}
}
