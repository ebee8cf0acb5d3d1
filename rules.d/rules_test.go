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
	names, err := fs.Glob(FS, "*_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no fixtures embedded")
	}
	readFile := func(p string) ([]byte, error) {
		return fs.ReadFile(FS, strings.TrimPrefix(strings.TrimPrefix(p, Display), "/"))
	}
	for _, name := range names {
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		results, ps := engine.RunFixtures(engine.File{Path: Display + "/" + name, Data: data}, base, readFile)
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
