package rules

import (
	"io/fs"
	"strings"
	"testing"

	"ptrule/engine"
)

// TestFixtures runs every shipped fixture, so that `go test ./...` fails
// when a default rule breaks.
func TestFixtures(t *testing.T) {
	base, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(base) == 0 {
		t.Fatal("no default rules embedded")
	}
	fixtures, err := Fixtures()
	if err != nil {
		t.Fatal(err)
	}
	if len(fixtures) == 0 {
		t.Fatal("no fixtures embedded")
	}
	for _, f := range fixtures {
		name := f.Path
		results, ps := engine.RunFixtures(f, base, ReadFile)
		if len(ps) > 0 {
			t.Errorf("%s does not load:\n%s", name, engine.FormatError(ps))
			continue
		}
		if len(results) == 0 {
			t.Errorf("%s has no tests", name)
		}
		for _, r := range results {
			if !r.Passed {
				t.Errorf("FAIL %s: %s\n%s", name, r.Test, r.Diff)
			}
		}
	}
}

// TestRulesLoad checks that the default rules load without a problem.
func TestRulesLoad(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	rs, ps := engine.LoadRules(files)
	if len(ps) > 0 {
		t.Fatal(engine.FormatError(ps))
	}
	if len(rs.Rules) == 0 {
		t.Fatal("no rules")
	}
}

// TestOneRulePerFile checks the layout that the README and `ptrule rules`
// rely on: each rule file <name>.yaml defines exactly the rule <name> and
// has a sibling fixture file <name>_test.yaml.
func TestOneRulePerFile(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, f := range files {
		base := strings.TrimPrefix(f.Path, Display+"/")
		if strings.Contains(base, "/") {
			t.Errorf("%s: Files must return only top-level files", f.Path)
		}
		if !engine.IsRuleFile(base) {
			continue
		}
		rs, ps := engine.LoadRules([]engine.File{f})
		if len(ps) > 0 {
			t.Errorf("%s: %s", f.Path, engine.FormatError(ps))
			continue
		}
		name := strings.TrimSuffix(base, ".yaml")
		if len(rs.Rules) != 1 || rs.Rules[0].Name != name {
			t.Errorf("%s must define exactly the rule %q", f.Path, name)
		}
		if _, err := fs.Stat(FS, name+"_test.yaml"); err != nil {
			t.Errorf("rule %s has no fixture file %s_test.yaml", name, name)
		}
		if rs.Rules[0].Description == "" {
			t.Errorf("rule %s has no description", name)
		}
		rules++
	}
	// The 7 of builtin-rules.md and pt-forkbomb-user, which closes the
	// setsid gap of pt-forkbomb (issue 7).
	if rules != 8 {
		t.Errorf("%d default rules, want the 7 of builtin-rules.md and pt-forkbomb-user", rules)
	}
}

// TestIgnoreListShape keeps the shipped ignore lists to what
// builtin-rules.md allows: exe: entries with absolute paths of daemons.
// unit: or user: entries would hide anything sharing a daemon's unit or
// account, and an interpreter would hide every script it runs.
func TestIgnoreListShape(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	interpreters := map[string]bool{}
	for _, s := range []string{"perl", "php", "php-cgi", "php-fpm", "python", "python2", "python3", "ruby", "node", "nodejs", "java", "sh", "bash", "dash", "zsh", "busybox", "lua", "tclsh", "awk", "gawk"} {
		interpreters[s] = true
	}
	entries := 0
	for _, f := range files {
		if !engine.IsIgnoreFile(f.Path) {
			continue
		}
		l, ps := engine.ParseIgnore(f.Path, f.Data, 1, f.ReadFile)
		if len(ps) > 0 {
			t.Errorf("%s", engine.FormatError(ps))
		}
		for _, e := range l.Entries() {
			entries++
			if e.Item != "exe" {
				t.Errorf("%s: only exe: entries belong in the built-in list", e)
				continue
			}
			if !strings.HasPrefix(e.Value, "/") {
				t.Errorf("%s: not an absolute path", e)
			}
			base := e.Value[strings.LastIndex(e.Value, "/")+1:]
			if interpreters[strings.TrimRight(base, "0123456789.")] {
				t.Errorf("%s: an interpreter must never be ignored", e)
			}
		}
	}
	if entries == 0 {
		t.Error("the built-in ignore list is empty")
	}
}
