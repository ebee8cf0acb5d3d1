package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCheckProcess measures `ptrule check` on the default rules as a
// whole process, as an administrator or the systemd unit runs it: exec,
// package initialisation, CEL environments, loading and type-checking the
// rules (issue 12's target: 50 ms). "help" is the same binary doing
// nothing, its fixed cost of starting. It builds the real binary, since
// this test binary links more and starts slower. Besides ns/op (wall
// time), cpu-ms/op is the user and system time the process used.
func BenchmarkCheckProcess(b *testing.B) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("no go command to build ptrule with:", err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "ptrule")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	// A config of its own, so that the machine's /etc/ptrule changes
	// nothing: only the built-in rules are loaded.
	cfg := filepath.Join(dir, "ptrule.yaml")
	if err := os.WriteFile(cfg, []byte("rules_dirs: []\nstate_dir: "+filepath.Join(dir, "state")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"check", []string{"check", "--config", cfg}, "ok: "},
		{"help", []string{"help"}, "Usage: ptrule COMMAND"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command(bin, tc.args...)
				out, err := cmd.Output()
				if err != nil || !strings.Contains(string(out), tc.want) {
					b.Fatalf("ptrule %s: %v\n%s", strings.Join(tc.args, " "), err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
