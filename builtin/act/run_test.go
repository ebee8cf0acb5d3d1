package act

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"ptrule/builtin"
	"ptrule/builtin/proctest"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// writeScript is proctest's.
var writeScript = proctest.WriteScript

// killPrinted signals the process whose PID the program printed as its
// first output line, if it still runs: it is a child of a script the test
// ran.
func killPrinted(t *testing.T, output string) ProcID {
	t.Helper()
	line, _, _ := strings.Cut(output, "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("output %q does not start with a pid", output)
	}
	st, err := NewKiller().readStat(pid)
	if err != nil {
		return ProcID{PID: pid}
	}
	id := ProcID{PID: pid, StartTicks: st.StartTime}
	t.Cleanup(func() {
		NewKiller().Kill(context.Background(), KillRequest{Signal: syscall.SIGKILL, Procs: []ProcID{id}})
	})
	return id
}

func TestRunArgvEnv(t *testing.T) {
	requireRoot(t)
	t.Setenv("PTRULE_LEAK_CHECK", "leaked")
	dir := t.TempDir()
	result := filepath.Join(dir, "result")
	script := writeScript(t, dir, "action.sh", `
for a in "$@"; do printf 'arg=%s\n' "$a"; done > `+result+`
env | sed 's/^/env=/' >> `+result+`
printf 'cwd=%s\n' "$(pwd)" >> `+result+`
printf 'stdin=%s\n' "$(readlink /proc/$$/fd/0)" >> `+result+`
printf 'pgrp=%s\n' "$(cut -d' ' -f5 /proc/$$/stat)" >> `+result+`
echo $$
echo to-stderr >&2
`, 0o755)

	res := Run(context.Background(), RunRequest{
		Command: script,
		Args:    []string{"4242", "two words", "$HOME", "*"},
		Env:     map[string]string{"PTRULE_RULE": "pt-test", "PTRULE_PID": "4242"},
	})
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: exit %d, err %v, output %q", res.ExitCode, res.Err, res.Output)
	}
	data, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	pid, _, _ := strings.Cut(res.Output, "\n")
	for _, want := range []string{
		"arg=4242", "arg=two words", "arg=$HOME", "arg=*",
		"env=PATH=/usr/sbin:/usr/bin:/sbin:/bin", "env=PTRULE_RULE=pt-test", "env=PTRULE_PID=4242",
		"cwd=/", "stdin=/dev/null", "pgrp=" + pid,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("the script saw no %q; it saw:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "LEAK") {
		t.Errorf("ptrule's own environment leaked into the program:\n%s", data)
	}
	if !strings.Contains(res.Output, "to-stderr") {
		t.Errorf("output %q lacks stderr", res.Output)
	}
	if res.Duration <= 0 {
		t.Errorf("duration %v", res.Duration)
	}
}

func TestRunExitStatus(t *testing.T) {
	requireRoot(t)
	script := writeScript(t, t.TempDir(), "fail.sh", "echo failing; exit 3\n", 0o755)
	res := Run(context.Background(), RunRequest{Command: script})
	if res.ExitCode != 3 || res.Err == nil || errors.Is(res.Err, builtin.ErrRefused) || errors.Is(res.Err, ErrTimeout) {
		t.Errorf("exit %d, err %v: want exit 3 and a plain error", res.ExitCode, res.Err)
	}
	if res.Output != "failing\n" {
		t.Errorf("output %q", res.Output)
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	requireRoot(t)
	script := writeScript(t, t.TempDir(), "hang.sh", "sleep 300 &\necho $!\nwait\n", 0o755)
	res := Run(context.Background(), RunRequest{Command: script, Timeout: 500 * time.Millisecond})
	child := killPrinted(t, res.Output)
	if !errors.Is(res.Err, ErrTimeout) || !strings.Contains(res.Err.Error(), "timed out after 500ms") {
		t.Errorf("err = %v, want a timeout after 500ms", res.Err)
	}
	if res.ExitCode != -1 {
		t.Errorf("exit code %d, want -1 (killed)", res.ExitCode)
	}
	// The error proves the timeout fired; a wall-clock bound would not
	// hold on a shared, busy machine.
	waitGone(t, child.PID, child.StartTicks)
}

func TestRunCancelled(t *testing.T) {
	requireRoot(t)
	script := writeScript(t, t.TempDir(), "hang.sh", "sleep 300 &\necho $!\nwait\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res := Run(ctx, RunRequest{Command: script, Timeout: time.Minute})
	child := killPrinted(t, res.Output)
	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, ErrTimeout) {
		t.Errorf("err = %v, want a cancellation", res.Err)
	}
	waitGone(t, child.PID, child.StartTicks)
}

// TestRunBackgroundHoldsOutput checks that Run returns when the program
// exits even though a background child keeps its output open.
func TestRunBackgroundHoldsOutput(t *testing.T) {
	requireRoot(t)
	old := runWaitDelay
	runWaitDelay = 300 * time.Millisecond
	t.Cleanup(func() { runWaitDelay = old })
	script := writeScript(t, t.TempDir(), "bg.sh", "sleep 300 &\necho $!\nexit 0\n", 0o755)
	res := Run(context.Background(), RunRequest{Command: script, Timeout: time.Minute})
	killPrinted(t, res.Output)
	if res.Err != nil || res.ExitCode != 0 {
		t.Errorf("exit %d, err %v: want a clean exit", res.ExitCode, res.Err)
	}
	if res.Duration > 5*time.Second {
		t.Errorf("Run took %v", res.Duration)
	}
}

func TestRunOutputCapped(t *testing.T) {
	requireRoot(t)
	script := writeScript(t, t.TempDir(), "loud.sh", "head -c 200000 /dev/zero | tr '\\000' a\n", 0o755)
	res := Run(context.Background(), RunRequest{Command: script})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Output) > MaxRunOutput || !strings.HasSuffix(res.Output, "[truncated]") || len(res.Output) < MaxRunOutput-20 {
		t.Errorf("output of %d bytes ending %q, want at most %d ending [truncated]", len(res.Output), res.Output[max(0, len(res.Output)-20):], MaxRunOutput)
	}
}

func TestRunRefused(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "open.sh", "touch "+ran+"\n", 0o777)
	res := Run(context.Background(), RunRequest{Command: script})
	if !errors.Is(res.Err, builtin.ErrRefused) || res.ExitCode != -1 {
		t.Errorf("exit %d, err %v: want refused", res.ExitCode, res.Err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("a refused program ran")
	}
	res = Run(context.Background(), RunRequest{Command: "sh", Args: []string{"-c", "true"}})
	if !errors.Is(res.Err, builtin.ErrRefused) {
		t.Errorf("relative path: err %v, want refused", res.Err)
	}
	res = Run(context.Background(), RunRequest{Command: "/bin/true", Env: map[string]string{"A=B": "x"}})
	if res.Err == nil || errors.Is(res.Err, builtin.ErrRefused) {
		t.Errorf("bad env name: err %v, want a plain error", res.Err)
	}
}

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"fits", 40, []string{"ab", "cd"}, "abcd"},
		{"exactly full", 4, []string{"ab", "cd"}, "abcd"},
		{"cut", 20, []string{"0123456789", "0123456789", "x"}, "01234567" + truncatedMarker},
		{"cut inside a rune", 16, []string{"abc", "éééééééé"}, "abc" + truncatedMarker},
		{"cut after a whole rune", 17, []string{"abcé", "éééééééé"}, "abcé" + truncatedMarker},
		{"marker larger than max", 4, []string{"abcdefgh"}, truncatedMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &cappedBuffer{max: tt.max}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v: a capped buffer must accept everything", n, err)
				}
			}
			got := b.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("String() = %q is not valid UTF-8", got)
			}
		})
	}
}

func TestRunEnv(t *testing.T) {
	got, err := environ(map[string]string{"PTRULE_B": "2", "PTRULE_A": "1"})
	want := []string{RunPath, "PTRULE_A=1", "PTRULE_B=2"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("runEnv = %q, %v; want %q", got, err, want)
	}
	got, err = environ(map[string]string{"PATH": "/opt/bin"})
	if err != nil || !slices.Equal(got, []string{"PATH=/opt/bin"}) {
		t.Errorf("runEnv with PATH = %q, %v", got, err)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A": "x\x00y"}} {
		if _, err := environ(bad); err == nil {
			t.Errorf("runEnv(%q) accepted", bad)
		}
	}
}

func TestCapEnvValue(t *testing.T) {
	long := strings.Repeat("a", 200<<10)
	tests := []struct {
		name      string
		in        string
		wantSame  bool
		wantLeft  int // bytes left out, when capped
		wantValid bool
	}{
		{"short", "x --flag", true, 0, true},
		{"exactly the cap", long[:MaxEnvValue], true, 0, true},
		{"one byte over", long[:MaxEnvValue+1], false, -1, true},
		{"200 KiB", long, false, -1, true},
		// A 3-byte rune across every possible cut position.
		{"runes", strings.Repeat("€", 50<<10), false, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CapEnvValue(tt.in)
			if tt.wantSame {
				if got != tt.in {
					t.Fatalf("a value within the cap was changed")
				}
				return
			}
			if len(got) > MaxEnvValue {
				t.Errorf("capped value has %d bytes, more than %d", len(got), MaxEnvValue)
			}
			i := strings.LastIndex(got, "…[truncated, ")
			if i < 0 || !strings.HasSuffix(got, " bytes]") {
				t.Fatalf("no marker at the end: %q", got[max(0, len(got)-40):])
			}
			n, err := strconv.Atoi(strings.TrimSuffix(got[i+len("…[truncated, "):], " bytes]"))
			if err != nil || i+n != len(tt.in) || got[:i] != tt.in[:i] {
				t.Errorf("kept %d bytes and says %d left out (%v) of %d", i, n, err, len(tt.in))
			}
			if !utf8.ValidString(got) {
				t.Errorf("the cut split a rune")
			}
		})
	}
}

// TestRunLongEnv runs a program with a 200 KiB environment value, more
// than the kernel takes in one string: the value arrives capped and the
// program starts.
func TestRunLongEnv(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	script := writeScript(t, dir, "action.sh", `printf '%s' "$PTRULE_CMD" | wc -c; printf '%s' "$PTRULE_CMD" | tail -c 30`, 0o755)
	long := strings.Repeat("A", 200<<10)
	res := Run(context.Background(), RunRequest{Command: script, Env: map[string]string{"PTRULE_CMD": long, "PTRULE_RULE": "r"}})
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: exit %d, err %v, output %q", res.ExitCode, res.Err, res.Output)
	}
	lines := strings.SplitN(res.Output, "\n", 2)
	if n, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || n != MaxEnvValue {
		t.Errorf("PTRULE_CMD arrived with %q bytes, want %d", lines[0], MaxEnvValue)
	}
	if len(lines) < 2 || !strings.HasSuffix(lines[1], "…[truncated, "+strconv.Itoa(len(long)-MaxEnvValue+len("…[truncated, 204800 bytes]"))+" bytes]") {
		t.Errorf("no marker saying how much was left out: %q", res.Output)
	}
}
