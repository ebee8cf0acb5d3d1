package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"ptrule/builtin/proctest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests start real processes, as nobody or another non-root uid and
// in their own sessions, and run ptrule against the live /proc. They kill
// and reap only what they started.

const (
	nobodyUID = 65534
	// otherUID has no name on the test machine: ptrule shows it as "4242".
	otherUID = 4242
)

// The real-process helpers are proctest's, shared with other packages.
var (
	needRoot  = proctest.NeedRoot
	sharedDir = proctest.SharedDir
	startAs   = proctest.StartAs
)

// deletedBinary copies /bin/sleep into a shared directory, starts it as uid
// and deletes the copy while it runs.
func deletedBinary(t *testing.T, uid int) (cmd *exec.Cmd, exe string) {
	t.Helper()
	exe = filepath.Join(sharedDir(t), "ptrule-test-sleeper")
	data, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = startAs(t, uid, exe, "300")
	waitFor(t, "the copy to start", func() bool {
		link, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
		return link == exe
	})
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	return cmd, exe
}

// connected starts, as uid, a process holding a TCP connection to a
// listener the test opens on 127.0.0.1.
func connected(t *testing.T, uid int) *exec.Cmd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := startAs(t, uid, "/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(port)+" && exec sleep 300")
	select {
	case c := <-accepted:
		t.Cleanup(func() { c.Close() })
	case <-time.After(10 * time.Second):
		t.Fatal("the test process did not connect")
	}
	return cmd
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig writes a config that keeps state in the test's directory and
// reads no machine rules directory.
func testConfig(t *testing.T, extra string) string {
	dir := t.TempDir()
	return writeFile(t, dir, "ptrule.yaml", "state_dir: "+filepath.Join(dir, "state")+"\nrules_dirs: []\n"+extra)
}

// scanJSONLines runs `ptrule scan --format json` in-process and decodes
// its lines.
func scanJSONLines(t *testing.T, args ...string) []scanJSON {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append([]string{"scan", "--format", "json"}, args...), &out, &errb)
	if code != exitOK {
		t.Fatalf("ptrule scan exited %d: %s", code, errb.String())
	}
	var lines []scanJSON
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var j scanJSON
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, j)
	}
	return lines
}

func findMatch(lines []scanJSON, rule string, pid int) *scanJSON {
	for i, l := range lines {
		if l.Rule == rule && l.PID != nil && *l.PID == pid {
			return &lines[i]
		}
	}
	return nil
}

// TestScanLiveDeletedBinary is the core issue's end-to-end check: a site
// rule on proc.exe_deleted reports a real deleted binary run by nobody.
func TestScanLiveDeletedBinary(t *testing.T) {
	needRoot(t)
	cmd, exe := deletedBinary(t, nobodyUID)
	rules := writeFile(t, t.TempDir(), "site.yaml", `rules:
  - name: site-deleted
    scope: process
    condition: proc.exe_deleted && proc.uid != 0
    subject: "deleted {{.proc.exe}}"
    actions: [alert: {}]
`)
	lines := scanJSONLines(t, "--config", testConfig(t, ""), "--no-builtin", "--rules", rules)
	m := findMatch(lines, "site-deleted", cmd.Process.Pid)
	if m == nil {
		t.Fatalf("pid %d not reported; got %+v", cmd.Process.Pid, lines)
	}
	if *m.User != "nobody" || m.Subject != "deleted "+exe || m.Status != "fired" {
		t.Errorf("got user %q subject %q status %q; want nobody, %q, fired", *m.User, m.Subject, m.Status, "deleted "+exe)
	}
	if len(m.Actions) != 1 || m.Actions[0].Kind != "alert" || m.Actions[0].Result != "dry-run" {
		t.Errorf("actions = %+v, want one dry-run alert", m.Actions)
	}
}

// TestScanLiveDefaultRules runs the default rules, patched to have no
// minimum age, against real processes: a deleted binary and a connected
// process as nobody, and more processes of one user than a lowered
// pt-user-procs max allows (as a uid other than nobody, which that rule
// never counts).
func TestScanLiveDefaultRules(t *testing.T) {
	needRoot(t)
	deleted, _ := deletedBinary(t, nobodyUID)
	conn := connected(t, nobodyUID)
	var many []*exec.Cmd
	for range 3 {
		many = append(many, startAs(t, otherUID, "/bin/sleep", "300"))
	}
	patch := writeFile(t, t.TempDir(), "patch.yaml", `rules:
  - name: pt-deleted
    params: {min_age: 0s}
  - name: pt-suspicious
    params: {min_age: 0s}
  - name: pt-user-procs
    params: {max: 2}
`)
	lines := scanJSONLines(t, "--config", testConfig(t, ""), "--rules", patch)

	if m := findMatch(lines, "pt-deleted", deleted.Process.Pid); m == nil || *m.User != "nobody" {
		t.Errorf("pt-deleted did not report pid %d as nobody: %+v", deleted.Process.Pid, m)
	} else if !hasActions(m, "alert", "suppress") {
		t.Errorf("pt-deleted actions = %+v, want alert and suppress", m.Actions)
	}
	if m := findMatch(lines, "pt-suspicious", conn.Process.Pid); m == nil || *m.User != "nobody" {
		t.Errorf("pt-suspicious did not report pid %d as nobody: %+v", conn.Process.Pid, m)
	} else if !strings.Contains(m.Message, "127.0.0.1") || !hasActions(m, "alert", "suppress") {
		t.Errorf("pt-suspicious: message %q actions %+v; want the connection and alert+suppress", m.Message, m.Actions)
	}
	var procs *scanJSON
	for i, l := range lines {
		if l.Rule == "pt-user-procs" && l.User != nil && *l.User == strconv.Itoa(otherUID) {
			procs = &lines[i]
		}
	}
	if procs == nil {
		t.Fatalf("pt-user-procs did not report user %d; got %+v", otherUID, lines)
	}
	for _, c := range many {
		if !strings.Contains(procs.Message, strconv.Itoa(c.Process.Pid)) {
			t.Errorf("pt-user-procs message does not list pid %d:\n%s", c.Process.Pid, procs.Message)
		}
	}
}

func hasActions(m *scanJSON, kinds ...string) bool {
	have := map[string]bool{}
	for _, a := range m.Actions {
		have[a.Kind] = true
	}
	for _, k := range kinds {
		if !have[k] {
			return false
		}
	}
	return len(have) == len(kinds)
}
