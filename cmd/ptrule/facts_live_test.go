package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// startBlocked starts argv as uid in its own session with a pipe on its
// stdin that the test holds open, so that `sh -c 'read x'` waits without a
// child process of its own; it registers the killing and reaping.
func startBlocked(t *testing.T, uid int, argv ...string) *exec.Cmd {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Args = argv
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", argv, err)
	}
	r.Close()
	t.Cleanup(func() {
		w.Close()
		_ = cmd.Process.Kill() // this pid only: the one we started
		_ = cmd.Wait()
	})
	return cmd
}

// TestFactsLiveRoundTrip is issue 8 §3: processes any user can start, with
// a newline in their name, bytes that are not UTF-8 and terminal escapes in
// their argv, are printed by `ptrule facts`, pasted into a fixture, and
// `ptrule test` finds exactly the matches, with exactly the messages, that
// `ptrule scan` finds on the live processes.
func TestFactsLiveRoundTrip(t *testing.T) {
	needRoot(t)
	dir := sharedDir(t)
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	// The kernel names a process after the file it runs: this one's comm
	// is "ev\nil", lfd's Q6 evasion.
	evil := filepath.Join(dir, "ev\nil")
	if err := os.WriteFile(evil, sh, 0o755); err != nil {
		t.Fatal(err)
	}
	procs := []*exec.Cmd{
		startBlocked(t, nobodyUID, evil, "-c", "read x", "\xff\xfe", "\x1b[2J\x1b]0;title\x07", `\xff`),
		startBlocked(t, nobodyUID, "/bin/sh", "-c", "read x", "caf\xe9", "\x1b[31mred"),
		startBlocked(t, otherUID, "/bin/sh", "-c", "read x", "plain"),
	}
	var pidArgs []string
	mine := map[int]bool{}
	for _, c := range procs {
		pid := strconv.Itoa(c.Process.Pid)
		waitFor(t, "pid "+pid+" to exec", func() bool {
			b, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			return bytes.Contains(b, []byte("read x"))
		})
		pidArgs = append(pidArgs, "--pid", pid)
		mine[c.Process.Pid] = true
	}

	ruleDir := t.TempDir()
	rulesPath := writeFile(t, ruleDir, "live.yaml", `rules:
  - name: live-newline
    scope: process
    condition: 'proc.comm == "ev\nil"'
    subject: "{{.proc.comm}} [{{join .proc.cmdline \"|\"}}]"
    message: "{{.proc.exe}} {{.proc.cmd}}"
    actions: [alert: {}]
  - name: live-escape
    scope: process
    condition: 'proc.cmdline.exists(a, a.contains("\x1b["))'
    subject: "{{.proc.comm}} [{{join .proc.cmdline \"|\"}}]"
    message: "{{.proc.exe}} {{.proc.cmd}} {{.proc.user}}"
    actions: [alert: {}]
`)
	cfg := testConfig(t, "")

	// What scan finds on the live processes.
	type match struct {
		rule string
		pid  int
		text string
	}
	var live []match
	for _, l := range scanJSONLines(t, "--config", cfg, "--no-builtin", "--rules", rulesPath) {
		if l.PID != nil && mine[*l.PID] {
			live = append(live, match{l.Rule, *l.PID, l.Subject + "\n" + l.Message})
		}
	}
	sort.Slice(live, func(i, j int) bool { return fmt.Sprint(live[i]) < fmt.Sprint(live[j]) })
	if len(live) != 3 {
		t.Fatalf("scan found %+v; want live-newline on the first process and live-escape on the first two", live)
	}

	// What facts prints about them, in both formats.
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(append([]string{"facts", "--format", format}, pidArgs...), &out, &errb); code != exitOK {
				t.Fatalf("ptrule facts exited %d: %s", code, errb.String())
			}
			if format == "yaml" && !strings.Contains(out.String(), `comm: "ev\nil"`) {
				t.Errorf("facts does not show the name with its newline escaped:\n%s", out.String())
			}
			var expect strings.Builder
			for _, m := range live {
				re := "^" + strings.ReplaceAll(regexp.QuoteMeta(m.text), "\n", `\n`) + "$"
				fmt.Fprintf(&expect, "      - {rule: %s, pid: %d, message: '%s'}\n", m.rule, m.pid, strings.ReplaceAll(re, "'", "''"))
			}
			fixture := "rule_files: [live.yaml]\nrules: [live-newline, live-escape]\ntests:\n  - name: from facts\n    snapshot:\n      " +
				strings.ReplaceAll(strings.TrimRight(out.String(), "\n"), "\n", "\n      ") + "\n    expect:\n" + expect.String()
			fx := writeFile(t, ruleDir, "live_"+format+"_test.yaml", fixture)
			var tout, terr bytes.Buffer
			if code := Main([]string{"test", "--config", cfg, "--no-builtin", fx}, &tout, &terr); code != exitOK {
				t.Errorf("ptrule test exited %d on the fixture made from facts:\n%s%s\n%s", code, tout.String(), terr.String(), fixture)
			}
		})
	}
}
