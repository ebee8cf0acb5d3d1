package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"ptrule/builtin/state"
	"ptrule/engine"
)

// cmdIgnores lists every ignore-list entry with its file:line, its
// annotation, how many processes it hid and when last (the daemon's counts
// under state_dir, which it only reads), and marks the expired entries and
// those that never hid anything.
func cmdIgnores(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("ignores", "[--config F] [--rules P]... [--format text|json]",
		"ptrule ignores --format json", stderr)
	var c commonFlags
	c.register(fs, false)
	format := fs.String("format", "text", "output format: text or json (one object per entry and line)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "ptrule ignores: unknown --format %q: use text or json\n", *format)
		return exitUsage
	}
	src := c.sources(stderr)
	cfg, err := loadConfig(c.config, src.trust)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return exitUsage
	}
	files, err := ruleFiles(cfg, src)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule ignores:", err)
		return exitUsage
	}
	rs, ps := engine.LoadRules(files)
	if len(ps) > len(rs.IgnoreProblems) {
		fmt.Fprintln(stderr, engine.FormatError(ps))
		fmt.Fprintln(stderr, "ptrule ignores: fix the problems above (ptrule check lists them)")
		return exitUsage
	}
	code := exitOK
	hits, err := state.ReadIgnoreHits(cfg.StateDir)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule ignores:", err)
		code = exitFailure
	}
	rows := hits.Rows(rs.Ignore.Entries(), time.Now())
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(ignoreRowJSON(r)); err != nil {
				fmt.Fprintln(stderr, "ptrule ignores:", err)
				return exitFailure
			}
		}
		return code
	}
	writeIgnoreRows(stdout, rows, state.HitsPath(cfg.StateDir))
	return code
}

// ignoreRowOut is an entry as --format json prints it.
type ignoreRowOut struct {
	File         string     `json:"file"`
	Line         int        `json:"line"`
	Item         string     `json:"item"`
	Value        string     `json:"value"`
	Reason       string     `json:"reason,omitempty"`
	Owner        string     `json:"owner,omitempty"`
	Expires      *time.Time `json:"expires,omitempty"`
	Expired      bool       `json:"expired"`
	Hits         uint64     `json:"hits"`
	LastHit      *time.Time `json:"last_hit,omitempty"`
	NeverMatched bool       `json:"never_matched"`
}

func ignoreRowJSON(r state.IgnoreRow) ignoreRowOut {
	e := r.Entry
	o := ignoreRowOut{File: e.Pos.File, Line: e.Pos.Line, Item: e.Item, Value: e.Value, Reason: e.Reason, Owner: e.Owner,
		Expired: r.Expired, Hits: r.Hits, NeverMatched: r.NeverMatched()}
	if !e.Expires.IsZero() {
		t := e.Expires.UTC()
		o.Expires = &t
	}
	if !r.LastHit.IsZero() {
		t := r.LastHit.UTC()
		o.LastHit = &t
	}
	return o
}

// writeIgnoreRows prints one block per entry: its place and text with its
// marks, its annotation, its counts; then a summary naming the file the
// counts come from.
func writeIgnoreRows(w io.Writer, rows []state.IgnoreRow, hitsPath string) {
	var expired, never int
	for _, r := range rows {
		e := r.Entry
		var marks []string
		if r.Expired {
			expired++
			marks = append(marks, "EXPIRED: hides nothing")
		}
		if r.NeverMatched() {
			never++
			marks = append(marks, "NEVER MATCHED")
		}
		line := fmt.Sprintf("%s:%d: %s:%s", printable(e.Pos.File), e.Pos.Line, e.Item, printable(e.Value))
		if len(marks) > 0 {
			line += "  [" + strings.Join(marks, "; ") + "]"
		}
		fmt.Fprintln(w, line)
		if e.Annotated() {
			fmt.Fprintf(w, "    # ptrule: %s\n", e.Annotation())
		}
		if r.Hits == 0 {
			fmt.Fprintln(w, "    hits 0")
		} else {
			fmt.Fprintf(w, "    hits %d, last %s\n", r.Hits, r.LastHit.UTC().Format(time.RFC3339))
		}
	}
	fmt.Fprintf(w, "%d ignore entries: %d expired, %d never matched (hits counted by ptrule run in %s since each line was last edited)\n",
		len(rows), expired, never, hitsPath)
}

// printable returns s, or s quoted when it holds characters that are not
// printable, so that a list never writes control characters to a terminal.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return strconv.Quote(s)
	}
	return s
}
