package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unitLine returns the arguments after the program of the unit's first
// line setting key, e.g. ExecStartPre.
func unitLine(t *testing.T, key string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("dist", "ptrule.service"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			f := strings.Fields(v)
			if len(f) < 2 || f[0] != "/usr/local/sbin/ptrule" {
				t.Fatalf("%s=%s does not run /usr/local/sbin/ptrule", key, v)
			}
			return f[1:]
		}
	}
	t.Fatalf("the unit has no %s", key)
	return nil
}

// The unit's ExecStartPre check refuses to start the service exactly when
// the daemon's own load refuses the config and rules: a bad ignore-list
// line, which run logs and skips, does not keep the service down; a broken
// rule or config does.
func TestUnitCheckAgreesWithRun(t *testing.T) {
	pre := unitLine(t, "ExecStartPre")
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "rules:\n  - name: site-x\n    scope: process\n    condition: proc.pid > 1\n    actions: [alert: {}]\n")
	broken := writeFile(t, dir, "broken.yaml", "rules:\n  - name: site-y\n    scope: process\n    condition: proc.pidd > 1\n    actions: [alert: {}]\n")
	badIgnore := writeFile(t, dir, "bad.pignore", "exe:/usr/sbin/nginx\npcmd:php-fpm: pool [a-z\n")
	for _, tc := range []struct {
		name   string
		config string
		rules  []string
		starts bool
	}{
		{"clean", "", []string{good}, true},
		{"bad ignore line", "", []string{good, badIgnore}, true},
		{"broken rule", "", []string{good, broken}, false},
		{"broken rule and bad ignore line", "", []string{broken, badIgnore}, false},
		{"bad config", "mode: aggressive\n", []string{good}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.config)
			// The unit's arguments, with the test's config and rules.
			args := []string{}
			for i := 0; i < len(pre); i++ {
				if pre[i] == "--config" {
					i++
					continue
				}
				args = append(args, pre[i])
			}
			args = append(args, "--config", cfg, "--no-builtin")
			for _, r := range tc.rules {
				args = append(args, "--rules", r)
			}
			var out bytes.Buffer
			checkOK := Main(args, &out, io.Discard) == exitOK

			d := &daemon{config: cfg, sources: ruleSources{noBuiltin: true, rules: tc.rules}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			_, _, runOK := d.load()

			if runOK != tc.starts {
				t.Errorf("run's load accepted = %v, want %v", runOK, tc.starts)
			}
			if checkOK != runOK {
				t.Errorf("the unit's %q accepted = %v, run's load accepted = %v:\n%s", strings.Join(args, " "), checkOK, runOK, out.String())
			}
		})
	}
}
