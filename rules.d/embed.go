// Package rules holds ptrule's default rules — lfd's Process Tracking
// directives as YAML — their ignore list and their fixtures, compiled into
// the binary so that ptrule works with no files installed.
package rules

import (
	"embed"
	"io/fs"
	"strings"

	"ptrule/engine"
)

// testdata holds the patch files that fixtures name in rule_files; it is
// embedded so that the built-in fixtures also run from the binary. Files
// reads only the top level, so nothing in testdata is ever a default rule.
//
//go:embed *.yaml *.pignore testdata
var files embed.FS

// FS is the directory of default rules, ignore lists and fixtures, with the
// fixtures' patch files under testdata/.
var FS fs.FS = files

// Display is the path shown for built-in files in errors and listings.
const Display = "builtin:rules.d"

// Files returns the default rule files and ignore lists in load order.
func Files() ([]engine.File, error) { return engine.DirFiles(FS, ".", Display) }

// Fixtures returns the built-in fixtures (*_test.yaml), in lexical order.
func Fixtures() ([]engine.File, error) {
	names, err := fs.Glob(FS, "*_test.yaml")
	if err != nil {
		return nil, err
	}
	out := make([]engine.File, 0, len(names))
	for _, n := range names {
		data, err := fs.ReadFile(FS, n)
		if err != nil {
			return nil, err
		}
		out = append(out, engine.File{Path: Display + "/" + n, Data: data})
	}
	return out, nil
}

// ReadFile reads a built-in file by the path shown for it: a fixture's
// rule_files entry such as "builtin:rules.d/testdata/patch.yaml".
func ReadFile(p string) ([]byte, error) {
	return fs.ReadFile(FS, strings.TrimPrefix(strings.TrimPrefix(p, Display), "/"))
}
