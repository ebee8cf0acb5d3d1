package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"ptrule/engine"
)

// exitWarnings is check's status when the only problems are bad ignore-list
// lines, which `ptrule run` logs and skips rather than refusing to start.
const exitWarnings = 3

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "[--config F] [--rules P]... [--warnings-ok]",
		"ptrule check --rules /etc/ptrule/rules.d/site.yaml", stderr)
	var c commonFlags
	c.register(fs, false)
	warningsOK := fs.Bool("warnings-ok", false, "exit 0, not 3, when the only problems are bad ignore-list lines (which run logs and skips): what the systemd unit uses, so check refuses exactly what run refuses")
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
	// A bad ignore-list line does not stop run, which logs it and keeps
	// the rest of the list: here it is a warning, not an error.
	var errs, warnings engine.Problems
	annotations := 0 // warnings about annotations, whose entries are kept
	for _, p := range ps {
		if slices.Contains(rs.IgnoreProblems, p) {
			w := *p
			w.Msg = "warning: " + p.Msg + " (run logs this line and skips it)"
			if p.Annotation() {
				annotations++
				w.Msg = "warning: " + p.Msg + " (run logs this and keeps the entry without it)"
			}
			warnings = append(warnings, &w)
		} else {
			errs = append(errs, p)
		}
	}
	// An expired entry no longer hides anything: run keeps loading it and
	// says so in its log, so here it is a warning too.
	expired := rs.Ignore.Expired(time.Now())
	for _, e := range expired {
		warnings = append(warnings, &engine.Problem{Pos: e.Pos,
			Msg: fmt.Sprintf("warning: ignore entry %s:%s expired %s, it hides nothing any more: renew its expires= or remove the line",
				e.Item, e.Value, engine.FormatExpiry(e.Expires))})
	}
	if len(errs) > 0 {
		problems = append(problems, engine.FormatError(errs))
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(warnings) > 0 {
		fmt.Fprintln(stdout, engine.FormatError(warnings))
	}
	if len(problems) > 0 {
		return exitFailure
	}
	fmt.Fprintf(stdout, "ok: %d rules (%d enabled), %d ignore entries, from %d files",
		len(rs.Rules), enabledCount(rs), rs.Ignore.Len(), len(files))
	if len(warnings) > 0 {
		if bad := len(warnings) - len(expired) - annotations; bad > 0 {
			fmt.Fprintf(stdout, "; %d bad ignore-list lines skipped", bad)
		}
		if annotations > 0 {
			fmt.Fprintf(stdout, "; %d bad annotations", annotations)
		}
		if len(expired) > 0 {
			fmt.Fprintf(stdout, "; %d expired ignore entries", len(expired))
		}
		fmt.Fprintln(stdout)
		if !*warningsOK {
			return exitWarnings
		}
		return exitOK
	}
	fmt.Fprintln(stdout)
	return exitOK
}
