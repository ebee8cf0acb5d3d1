package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"ptrule/builtin/act"
)

// spreadUID runs the sleepers of TestScanLiveSpreadForkBomb: a uid no
// other test uses, so the user's processes are exactly the test's.
const spreadUID = 4343

// TestScanLiveSpreadForkBomb starts sleepers as one uid, each in a session
// of its own as a fork bomb that calls setsid leaves them: pt-forkbomb,
// counting per session, sees one process in each; pt-forkbomb-user,
// patched to a max below their number, reports the user with a kill of
// all of them.
func TestScanLiveSpreadForkBomb(t *testing.T) {
	needRoot(t)
	const n = 12
	var bomb []*exec.Cmd
	for range n {
		bomb = append(bomb, startAs(t, spreadUID, "/bin/sleep", "300"))
	}
	patch := writeFile(t, t.TempDir(), "patch.yaml", `rules:
  - name: pt-forkbomb
    enabled: true
    params: {max: 5}
  - name: pt-forkbomb-user
    enabled: true
    params: {max: 10}
`)
	lines := scanJSONLines(t, "--config", testConfig(t, ""), "--rules", patch)

	var user *scanJSON
	for i, l := range lines {
		if l.Rule == "pt-forkbomb-user" && l.User != nil && *l.User == strconv.Itoa(spreadUID) {
			user = &lines[i]
		}
		if l.Rule == "pt-forkbomb" && l.SID != nil {
			for _, c := range bomb {
				if *l.SID == c.Process.Pid {
					t.Errorf("pt-forkbomb reported session %d of one process", *l.SID)
				}
			}
		}
	}
	if user == nil {
		t.Fatalf("pt-forkbomb-user did not report uid %d; got %d lines", spreadUID, len(lines))
	}
	if want := "(" + strconv.Itoa(n) + " processes in " + strconv.Itoa(n) + " sessions)"; !strings.Contains(user.Subject, want) {
		t.Errorf("subject %q, want it to say %q", user.Subject, want)
	}
	for _, c := range bomb {
		pid := strconv.Itoa(c.Process.Pid)
		if !strings.Contains(user.Message, "PID:"+pid+" ") || !strings.Contains(user.Message, "SID:"+pid+" ") {
			t.Errorf("the alert does not list pid %s in its own session:\n%s", pid, user.Message)
		}
	}
	if !hasActions(user, "kill", "alert") || user.Actions[0].Kind != "kill" || user.Actions[0].Result != act.ResultDryRun {
		t.Errorf("actions = %+v, want a dry-run kill, then an alert", user.Actions)
	}

	// Acting kills every one of them, each in its own session. The scan
	// that acts loads pt-forkbomb-user alone (never pt-forkbomb, which
	// would kill any session of the machine holding 5 processes) and an
	// ignore list that exempts every user but spreadUID, so only the
	// processes started above can be signalled.
	dir := t.TempDir()
	writeFile(t, dir, "enable.yaml", "rules:\n  - name: pt-forkbomb-user\n    enabled: true\n    params: {max: 10}\n")
	writeFile(t, dir, "others.pignore", "puser:"+allBut(strconv.Itoa(spreadUID))+"\n")
	scope := []string{"--config", testConfig(t, ""), "--no-builtin",
		"--rules", filepath.Join("..", "..", "rules.d", "pt-forkbomb-user.yaml"), "--rules", dir}
	// A dry run first: should it match anything but spreadUID, nothing
	// is done.
	for _, l := range scanJSONLines(t, scope...) {
		if l.User == nil || *l.User != strconv.Itoa(spreadUID) {
			t.Fatalf("the scan to act matches another user: %+v", l)
		}
	}
	lines = scanJSONLines(t, append(scope, "--act")...)
	acted := 0
	for _, l := range lines {
		if l.User == nil || *l.User != strconv.Itoa(spreadUID) {
			t.Fatalf("the acting scan matched another user: %+v", l)
		}
		acted++
		if len(l.Actions) == 0 || l.Actions[0].Kind != "kill" || l.Actions[0].Result != act.ResultOK {
			t.Errorf("kill with --act: %+v", l.Actions)
		}
	}
	if acted != 1 {
		t.Fatalf("%d matches of the acting scan, want 1", acted)
	}
	for _, c := range bomb {
		waitFor(t, "pid "+strconv.Itoa(c.Process.Pid)+" to die", func() bool {
			st, err := os.ReadFile("/proc/" + strconv.Itoa(c.Process.Pid) + "/stat")
			// Killed and not yet reaped: a zombie of this test.
			return err != nil || strings.Contains(string(st), ") Z ")
		})
	}
}

// allBut returns an RE2 expression (RE2 has no negative look-ahead) that
// matches every string except name, which must be ASCII.
func allBut(name string) string {
	n := len(name)
	alts := []string{fmt.Sprintf(".{0,%d}", n-1), fmt.Sprintf(".{%d,}", n+1)}
	for i := range n {
		alts = append(alts, regexp.QuoteMeta(name[:i])+"[^"+regexp.QuoteMeta(name[i:i+1])+"]"+fmt.Sprintf(".{%d}", n-i-1))
	}
	return strings.Join(alts, "|")
}

func TestAllBut(t *testing.T) {
	re := regexp.MustCompile("^(?:" + allBut("4343") + ")$")
	for _, s := range []string{"", "4", "434", "4342", "5343", "4443", "4353", "43430", "root", "nobody", "www-data"} {
		if !re.MatchString(s) {
			t.Errorf("%q not matched", s)
		}
	}
	if re.MatchString("4343") {
		t.Error("4343 matched")
	}
}
