package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
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
	if !hasActions(user, "kill", "alert") || user.Actions[0].Kind != "kill" || user.Actions[0].Result != resultDryRun {
		t.Errorf("actions = %+v, want a dry-run kill, then an alert", user.Actions)
	}
}
