package main

import (
	"fmt"
	"io"

	"ptrule/engine"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "[--config F] [--rules P]...",
		"ptrule check --rules /etc/ptrule/rules.d/site.yaml", stderr)
	var c commonFlags
	c.register(fs, false)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var problems []string
	src := c.sources(stderr)
	cfg, err := loadConfig(c.config, src.trust)
	if err != nil {
		problems = append(problems, engine.FormatError(err))
	}
	if cfg == nil {
		cfg = defaultConfig() // still check the rules
	}
	files, err := ruleFiles(cfg, src)
	if err != nil {
		problems = append(problems, err.Error())
	}
	rs, ps := engine.LoadRules(files)
	if len(ps) > 0 {
		problems = append(problems, engine.FormatError(ps))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "ok: %d rules (%d enabled), %d ignore entries, from %d files\n",
		len(rs.Rules), enabledCount(rs), rs.Ignore.Len(), len(files))
	return exitOK
}
