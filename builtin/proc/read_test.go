package proc

import (
	"os"
	"path/filepath"
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
