package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const trustRule = `rules:
  - name: trust-probe
    scope: host
    condition: "true"
    actions: [alert: {}]
`

// trustSetup is a config, a rules directory and a state directory that
// pass every check; each case then spoils one thing.
type trustSetup struct {
	dir, config, rules, state string
}

func newTrustSetup(t *testing.T) trustSetup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown files to another user")
	}
	dir := t.TempDir()
	s := trustSetup{dir: dir, rules: filepath.Join(dir, "rules.d"), state: filepath.Join(dir, "state")}
	for _, d := range []string{s.rules, s.state} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, s.rules, "site.yaml", trustRule)
	s.config = writeFile(t, dir, "ptrule.yaml", "state_dir: "+s.state+"\nrules_dirs: ["+s.rules+"]\n")
	return s
}

// checkOutput runs `ptrule check` in-process with a deadline: a FIFO or a
// device must be refused, not read forever.
func checkOutput(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(append([]string{"check", "--no-builtin"}, args...), &out, &errb) }()
	select {
	case code := <-done:
		return code, out.String(), errb.String()
	case <-time.After(2 * time.Minute):
		t.Fatal("ptrule check still running after two minutes: it blocked on a file")
		return 0, "", ""
	}
}

func TestCheckRefusesFilesOthersCanChange(t *testing.T) {
	tests := []struct {
		name string
		// spoil changes the setup and returns extra arguments.
		spoil func(t *testing.T, s trustSetup) []string
		// want is in check's report; "" means check passes.
		want string
		// insecure says --insecure-files lets it through, with a warning.
		insecure bool
		// skipped says the problem is a bad ignore-list line, which run
		// logs and skips: check warns and exits 3, and says so.
		skipped bool
	}{
		{"all root's", func(*testing.T, trustSetup) []string { return nil }, "", false, false},
		{"rule file of another user", func(t *testing.T, s trustSetup) []string {
			chown(t, filepath.Join(s.rules, "site.yaml"))
			return nil
		}, "site.yaml: file owned by uid 65534, not root, so a user other than root could change what ptrule (running as root) does: chown root", true, false},
		{"rules directory others can write", func(t *testing.T, s trustSetup) []string {
			chmod(t, s.rules, 0o777)
			return nil
		}, "rules.d: directory writable by group or others (-rwxrwxrwx), so a user other than root could change what ptrule (running as root) does: chmod go-w", true, false},
		{"sticky rules directory", func(t *testing.T, s trustSetup) []string {
			chmod(t, s.rules, 0o777|os.ModeSticky)
			return nil
		}, "rules.d: directory writable by group or others", true, false},
		{"config others can write", func(t *testing.T, s trustSetup) []string {
			chmod(t, s.config, 0o666)
			return nil
		}, "/ptrule.yaml: file writable by group or others (-rw-rw-rw-)", true, false},
		{"state directory of another user", func(t *testing.T, s trustSetup) []string {
			chown(t, s.state)
			return nil
		}, "/state: directory owned by uid 65534, not root", true, false},
		{"--rules file of another user", func(t *testing.T, s trustSetup) []string {
			p := writeFile(t, s.dir, "extra.yaml", "rules: []\n")
			chown(t, p)
			return []string{"--rules", p}
		}, "extra.yaml: file owned by uid 65534", true, false},
		{"included file of another user", func(t *testing.T, s trustSetup) []string {
			inc := writeFile(t, s.dir, "theirs.pignore", "exe:/bin/true\n")
			chown(t, inc)
			writeFile(t, s.rules, "site.pignore", "Include "+inc+"\n")
			return nil
		}, "theirs.pignore: file owned by uid 65534", true, true},
		{"Include /dev/zero", func(t *testing.T, s trustSetup) []string {
			writeFile(t, s.rules, "site.pignore", "Include /dev/zero\n")
			return nil
		}, "site.pignore:1:9: warning: cannot read included file: /dev/zero is not a regular file (a character device)", false, true},
		{"Include a FIFO", func(t *testing.T, s trustSetup) []string {
			fifo := filepath.Join(s.dir, "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			writeFile(t, s.rules, "site.pignore", "Include "+fifo+"\n")
			return nil
		}, "is not a regular file (a FIFO)", false, true},
		{"rule file too large", func(t *testing.T, s trustSetup) []string {
			writeFile(t, s.rules, "big.yaml", "# "+strings.Repeat("x", 4<<20)+"\n")
			return nil
		}, "big.yaml is 4194307 bytes, more than the 4194304 ptrule reads: split it into smaller files", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTrustSetup(t)
			args := append([]string{"--config", s.config}, tt.spoil(t, s)...)
			code, out, errOut := checkOutput(t, args...)
			if tt.want == "" {
				if code != exitOK || errOut != "" {
					t.Fatalf("check exited %d: %s%s", code, out, errOut)
				}
				return
			}
			wantCode := exitFailure
			if tt.skipped {
				wantCode = exitWarnings
			}
			if code != wantCode || !strings.Contains(out, tt.want) {
				t.Fatalf("check exited %d with\n%s\nwant exit %d and %q", code, out, wantCode, tt.want)
			}

			code, out, errOut = checkOutput(t, append(args, "--insecure-files")...)
			if !tt.insecure {
				if code != wantCode || !strings.Contains(out, tt.want) {
					t.Fatalf("with --insecure-files check exited %d with\n%s\nwant the refusal to stay", code, out)
				}
				return
			}
			if code != exitOK || !strings.Contains(errOut, "ptrule: WARNING: --insecure-files accepts ") {
				t.Fatalf("with --insecure-files check exited %d, said\n%s\nand warned\n%s\nwant exit 0 and a warning", code, out, errOut)
			}
			// One finding, however many files sit in the directory and
			// by whatever name it was reached.
			if n := strings.Count(errOut, "WARNING"); n != 1 {
				t.Fatalf("%d warnings for one finding:\n%s", n, errOut)
			}
		})
	}
}

// TestDaemonReloadRefusesUntrustedRules proves a reload goes through the
// same checks: a rules directory made world-writable after the start is
// refused and the running rules are kept.
func TestDaemonReloadRefusesUntrustedRules(t *testing.T) {
	s := newTrustSetup(t)
	var logs bytes.Buffer
	d := &daemon{config: s.config, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, _, ok := d.load(); !ok {
		t.Fatalf("load of a trusted tree failed:\n%s", logs.String())
	}
	chmod(t, s.rules, 0o777)
	if _, _, ok := d.load(); ok {
		t.Fatalf("reload accepted a world-writable rules directory:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "chmod go-w "+s.rules) {
		t.Fatalf("the reload's log does not say how to fix it:\n%s", logs.String())
	}
}

// TestTestReadsOnlyRegularFiles: `ptrule test` accepts a test tree that
// is not root's, but not a fixture's rule_files naming a device.
func TestTestReadsOnlyRegularFiles(t *testing.T) {
	s := newTrustSetup(t)
	fixture := writeFile(t, s.dir, "site_test.yaml", `rule_files: [/dev/zero]
tests:
  - name: nothing
    facts: {}
    expect: []
`)
	chown(t, s.dir)
	var out, errb bytes.Buffer
	code := Main([]string{"test", "--no-builtin", "--config", s.config, fixture}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "rule_files: cannot read /dev/zero: /dev/zero is not a regular file (a character device)") {
		t.Fatalf("test exited %d:\n%s%s", code, out.String(), errb.String())
	}
	if strings.Contains(errb.String(), "not root") {
		t.Fatalf("test checked ownership, which it does not need:\n%s", errb.String())
	}
}

func chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Chown(p, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestScanAndRulesRefuseUntrustedRules: the commands that load rules to
// act on them or list them refuse what check refuses.
func TestScanAndRulesRefuseUntrustedRules(t *testing.T) {
	for _, cmd := range []string{"scan", "rules"} {
		t.Run(cmd, func(t *testing.T) {
			s := newTrustSetup(t)
			chown(t, filepath.Join(s.rules, "site.yaml"))
			var out, errb bytes.Buffer
			code := Main([]string{cmd, "--no-builtin", "--config", s.config}, &out, &errb)
			want := filepath.Join(s.rules, "site.yaml") + ": file owned by uid 65534, not root"
			if code != exitUsage || !strings.Contains(errb.String(), want) {
				t.Fatalf("%s exited %d:\n%s%s\nwant exit %d and %q", cmd, code, out.String(), errb.String(), exitUsage, want)
			}
		})
	}
}
