package main

import (
	"fmt"
	"io"
	"os"

	"ptrule/builtin"
	"ptrule/engine"
	rules "ptrule/rules.d"
)

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fset := newFlags("test", "[--config F] [--rules P]... [PATH]...",
		"ptrule test /etc/ptrule/rules.d/   # every *_test.yaml there, against the effective rules", stderr)
	var c commonFlags
	c.register(fset, false)
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	// test executes nothing the files say, so they need not be root's
	// (a test tree in a home directory is fine); they must still be
	// regular files of a sane size.
	src := c.sources(stderr)
	src.trust = builtin.FileTrust{SkipOwnership: true}
	cfg, err := loadConfig(c.config, src.trust)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return exitUsage
	}
	base, err := ruleFiles(cfg, src)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule test:", err)
		return exitUsage
	}

	// A suite is fixture files and the rules they run against.
	type suite struct {
		fixtures []engine.File
		base     []engine.File
		readFile func(string) ([]byte, error)
	}
	var suites []suite
	paths := fset.Args()
	if len(paths) == 0 {
		if !c.noBuiltin {
			// The built-in fixtures prove the built-in rules as shipped.
			builtinRules, err := rules.Files()
			if err != nil {
				fmt.Fprintln(stderr, "ptrule test:", err)
				return exitUsage
			}
			fx, err := rules.Fixtures()
			if err != nil {
				fmt.Fprintln(stderr, "ptrule test:", err)
				return exitUsage
			}
			suites = append(suites, suite{fx, builtinRules, rules.ReadFile})
		}
		for _, dir := range cfg.RulesDirs {
			if _, err := os.Stat(dir); err != nil && !cfg.rulesDirsSet {
				continue
			}
			paths = append(paths, dir)
		}
	}
	for _, p := range paths {
		fx, err := src.trust.FixtureFiles(p)
		if err != nil {
			fmt.Fprintln(stderr, "ptrule test:", err)
			return exitUsage
		}
		suites = append(suites, suite{fx, base, src.trust.ReadFile})
	}

	passed, failed, broken := 0, 0, false
	for _, s := range suites {
		for _, f := range s.fixtures {
			results, ps := engine.RunFixtures(f, s.base, s.readFile)
			if len(ps) > 0 {
				fmt.Fprintln(stderr, engine.FormatError(ps))
				broken = true
				continue
			}
			for _, r := range results {
				if r.Passed {
					passed++
					fmt.Fprintf(stdout, "ok    %s: %s\n", r.File, r.Test)
					continue
				}
				failed++
				fmt.Fprintf(stdout, "FAIL  %s: %s\n%s", r.File, r.Test, r.Diff)
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	switch {
	case broken:
		return exitUsage
	case failed > 0:
		return exitFailure
	}
	return exitOK
}
