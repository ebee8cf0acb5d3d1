package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"ptrule/builtin/csf"
	"ptrule/engine"
	rules "ptrule/rules.d"
)

func cmdImportCSF(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("import-csf", "[--conf F] [--pignore F] [--out DIR] [--dry-run] [--force] [--config-out F]",
		"ptrule import-csf --dry-run\nptrule import-csf --out /etc/ptrule/rules.d --config-out /etc/ptrule/ptrule.yaml", stderr)
	conf := fs.String("conf", "/etc/csf/csf.conf", "csf's configuration `file`")
	pignore := fs.String("pignore", "/etc/csf/csf.pignore", "csf's ignore list (`file`); skipped when the default is missing")
	out := fs.String("out", "/etc/ptrule/rules.d", "`directory` for 50-csf.yaml and 50-csf.pignore")
	dryRun := fs.Bool("dry-run", false, "print the files instead of writing them")
	force := fs.Bool("force", false, "replace files that exist")
	configOut := fs.String("config-out", "", "also write PT_INTERVAL's config line to this `file` (a ptrule.yaml)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ptrule import-csf: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *configOut != "" && filepath.Clean(filepath.Dir(*configOut)) == filepath.Clean(*out) && engine.IsRuleFile(filepath.Base(*configOut)) {
		fmt.Fprintf(stderr, "ptrule import-csf: %s would be read as a rule file: give --config-out a path outside %s, such as /etc/ptrule/ptrule.yaml\n", *configOut, *out)
		return exitUsage
	}
	pignoreSet := false
	fs.Visit(func(f *flag.Flag) { pignoreSet = pignoreSet || f.Name == "pignore" })

	data, err := os.ReadFile(*conf)
	if err != nil {
		fmt.Fprintf(stderr, "ptrule import-csf: %v: give csf.conf's path with --conf\n", err)
		return exitFailure
	}
	conv := csf.Convert(csf.ParseConf(*conf, data), *conf)
	var ign *csf.IgnoreConversion
	if pdata, err := os.ReadFile(*pignore); err == nil {
		ign = csf.ConvertIgnore(*pignore, pdata, os.ReadFile)
	} else if pignoreSet || !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "ptrule import-csf: %v: give csf.pignore's path with --pignore\n", err)
		return exitFailure
	}

	type outFile struct {
		path string
		data []byte
	}
	files := []outFile{{filepath.Join(*out, "50-csf.yaml"), conv.Patch}}
	if ign != nil {
		files = append(files, outFile{filepath.Join(*out, "50-csf.pignore"), ign.List})
	}
	if *configOut != "" && conv.Interval != "" {
		files = append(files, outFile{*configOut, []byte("# Written by `ptrule import-csf` from " + *conf + ".\n" + conv.Interval + "\n")})
	}

	// What is written must load: a file that does not is a bug of the
	// importer, and nothing is written.
	if err := checkImported(conv.Patch, ign); err != nil {
		fmt.Fprintf(stderr, "ptrule import-csf: the generated files do not load (nothing written; please report this): %v\n", err)
		return exitFailure
	}

	fmt.Fprint(stdout, csf.Report(conv, ign))
	if ign == nil {
		fmt.Fprintf(stdout, "\ncsf.pignore: %s does not exist: no ignore list written\n", *pignore)
	}
	if *dryRun {
		for _, f := range files {
			fmt.Fprintf(stdout, "\n==> %s (not written: --dry-run) <==\n%s", f.path, f.data)
		}
		return exitOK
	}
	if !*force {
		for _, f := range files {
			if _, err := os.Lstat(f.path); err == nil {
				fmt.Fprintf(stderr, "ptrule import-csf: %s exists: nothing written; review it and give --force to replace it, or --dry-run to see the new files\n", f.path)
				return exitFailure
			}
		}
	}
	// A fresh install may not have the rules directory yet.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "ptrule import-csf: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout)
	for _, f := range files {
		if err := renameio.WriteFile(f.path, f.data, 0o644); err != nil {
			fmt.Fprintf(stderr, "ptrule import-csf: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "wrote %s\n", f.path)
	}
	fmt.Fprintln(stdout, "next: ptrule check, then ptrule test")
	return exitOK
}

// checkImported loads the default rules with the patch and the ignore list.
func checkImported(patch []byte, ign *csf.IgnoreConversion) error {
	base, err := rules.Files()
	if err != nil {
		return err
	}
	files := append(base, engine.File{Path: "50-csf.yaml", Data: patch})
	if ign != nil {
		files = append(files, engine.File{Path: "50-csf.pignore", Data: ign.List})
	}
	if _, ps := engine.LoadRules(files); len(ps) > 0 {
		return ps
	}
	return nil
}
