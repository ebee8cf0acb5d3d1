package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"

	"ptrule/builtin/proctest"
)

func TestMain(m *testing.M) {
	// Tests that need ptrule as a separate process re-execute this binary.
	if os.Getenv("PTRULE_RUN_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"ptrule": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts in testdata/script: each is a
// txtar archive of files and the ptrule commands to run on them.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("..", "..", "testdata", "script"),
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkproc": mkproc,
		},
		Setup: func(env *testscript.Env) error {
			// No /etc/ptrule of the machine running the tests may leak in.
			env.Setenv("PTRULE_TEST", "1")
			return nil
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
