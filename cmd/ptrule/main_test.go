package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
)

func TestMain(m *testing.M) {
	// Users are named from a fixed table, never the machine's database.
	proc.SystemUserName = proctest.SystemUserName
	// Tests that need ptrule as a separate process re-execute this binary.
	if os.Getenv("PTRULE_RUN_MAIN") == "1" {
		setDefaultsUnder(os.Getenv("PTRULE_TEST_DEFAULTS"))
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	testscript.Main(hermetic{m}, map[string]func(){
		"ptrule": func() {
			// A script's ptrule finds its defaults under $WORK, so a
			// script may write etc/ptrule/ptrule.yaml to test them.
			setDefaultsUnder(os.Getenv("WORK"))
			os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
		},
	})
}

// hermetic runs the tests with the default config, rules directory and
// state directory inside a directory of their own: a broken
// /etc/ptrule/rules.d/*.yaml on the machine running the tests, or its
// /var/lib/ptrule, cannot change the results.
type hermetic struct{ m *testing.M }

func (h hermetic) Run() int {
	dir, err := os.MkdirTemp("", "ptrule-defaults-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	setDefaultsUnder(dir)
	return h.m.Run()
}

// setDefaultsUnder moves the default paths under root, which must be a
// directory only root can write; the files need not exist.
func setDefaultsUnder(root string) {
	if root == "" {
		panic("no directory for the default paths: tests must never read /etc/ptrule")
	}
	defaultConfigPath = filepath.Join(root, "etc", "ptrule", "ptrule.yaml")
	defaultRulesDir = filepath.Join(root, "etc", "ptrule", "rules.d")
	defaultStateDir = filepath.Join(root, "var", "lib", "ptrule")
}

// TestScripts runs the command-line scripts in testdata/script: each is a
// txtar archive of files and the ptrule commands to run on them.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("..", "..", "testdata", "script"),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkproc":   mkproc,
			"cmptimes": cmptimes,
			"cmpdates": cmpdates,
		},
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") != "",
	})
}

// mkproc SPEC DIR builds a fake /proc tree in DIR from a YAML
// proctest.Spec, so scripts can scan a situation they describe.
func mkproc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkproc SPEC.yaml DIR")
	}
	var spec proctest.Spec
	dec := yaml.NewDecoder(bytes.NewReader([]byte(ts.ReadFile(args[0]))))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		ts.Fatalf("mkproc: %s: %v", args[0], err)
	}
	proctest.NewAt(ts, ts.MkAbs(args[1])).Apply(spec)
}

// timestamp is an RFC 3339 time as encoding/json writes it.
var timestamp = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)

// cmptimes FILE GOLDEN compares like cmp, with every quoted RFC 3339 time
// in both replaced by "TIME": a scan's suppression ends are counted from
// the clock of the moment, the rest of its output is not.
func cmptimes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmptimes FILE GOLDEN")
	}
	mask := func(s string) string { return timestamp.ReplaceAllString(s, `"TIME"`) }
	got, want := mask(ts.ReadFile(args[0])), mask(ts.ReadFile(args[1]))
	if got != want {
		ts.Fatalf("%s and %s differ, times aside:\n%s\nwant:\n%s", args[0], args[1], got, want)
	}
}

// date is a date, or an RFC 3339 time, anywhere in a text.
var date = regexp.MustCompile(`\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))?`)

// cmpdates FILE GOLDEN compares like cmp, with every date and RFC 3339
// time in both replaced by "DATE": a baseline is dated by the clock of
// the moment, the rest of it is not.
func cmpdates(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpdates FILE GOLDEN")
	}
	mask := func(s string) string { return date.ReplaceAllString(s, "DATE") }
	got, want := mask(ts.ReadFile(args[0])), mask(ts.ReadFile(args[1]))
	if got != want {
		ts.Fatalf("%s and %s differ, dates aside:\n%s\nwant:\n%s", args[0], args[1], got, want)
	}
}
