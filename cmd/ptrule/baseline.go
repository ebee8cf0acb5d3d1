package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"ptrule/builtin/baseline"
	"ptrule/builtin/collect"
	"ptrule/builtin/state"
	"ptrule/engine"
)

func cmdBaseline(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("baseline", "[--out FILE [--force]] [--expires 90d|DATE] [--owner NAME] [--config F] [--rules P]... [--proc DIR]",
		"ptrule baseline --out /root/baseline.pignore   # review it, then: cp /root/baseline.pignore /etc/ptrule/rules.d/", stderr)
	var c commonFlags
	c.register(fs, true)
	out := fs.String("out", "", "write the proposed ignore list to FILE instead of stdout")
	force := fs.Bool("force", false, "overwrite --out when it exists")
	expires := fs.String("expires", "90d", "when the proposed entries expire: a number of days, a date (YYYY-MM-DD, end of that day UTC) or an RFC 3339 time")
	owner := fs.String("owner", baseline.DefaultOwner, "the owner= annotation of each proposed entry")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ptrule baseline: unexpected argument %q: write the file with --out FILE\n", fs.Arg(0))
		return exitUsage
	}
	now := time.Now()
	exp, err := baseline.ParseExpiry(*expires, now)
	if err == nil {
		err = baseline.ValidOwner(*owner)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ptrule baseline:", err)
		return exitUsage
	}
	if *out != "" && !*force {
		if _, err := os.Lstat(*out); err == nil {
			fmt.Fprintf(stderr, "ptrule baseline: %s exists: add --force to overwrite it, or choose another --out\n", *out)
			return exitUsage
		}
	}
	_, rs, ok := c.load(stderr)
	if !ok {
		return exitUsage
	}
	col, err := newCollector(c.proc)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule baseline:", err)
		return exitFailure
	}
	snap, err := col.Collect(collect.CollectOptions{Read: engine.FactRead})
	if err != nil {
		fmt.Fprintln(stderr, "ptrule baseline:", err)
		return exitFailure
	}
	defer snap.Release()
	code := exitOK
	matches, errs := rs.Evaluate(snap, nil)
	for _, err := range errs {
		fmt.Fprintln(stderr, "ptrule baseline:", err)
		code = exitFailure
	}
	p := baseline.Propose(snap, matches, baseline.Options{Now: snap.Time, Expires: exp, Owner: *owner})
	if len(p.Recheck(rs, snap)) > 0 {
		code = exitFailure // the same rules failed above and were reported
	}
	if *out == "" {
		if _, err := p.WriteTo(stdout); err != nil {
			return exitFailure
		}
		return code
	}
	var buf bytes.Buffer
	p.WriteTo(&buf)
	if err := writeNew(*out, buf.Bytes(), *force); err != nil {
		fmt.Fprintln(stderr, "ptrule baseline:", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "ptrule baseline: wrote %d entries to %s (%d reported processes without one, %d user, session or host findings): review it before installing it in /etc/ptrule/rules.d/\n",
		len(p.Entries), *out, len(p.Skipped), len(p.Findings))
	return code
}

// writeNew writes data to path, atomically when force allows replacing
// it, and never over an existing file otherwise.
func writeNew(path string, data []byte, force bool) error {
	if force {
		return state.WriteFile(path, data, 0o644)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: add --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
