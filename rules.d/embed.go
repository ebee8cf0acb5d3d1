// Package rules holds ptrule's default rules — lfd's Process Tracking
// directives as YAML — their ignore list and their fixtures, compiled into
// the binary so that ptrule works with no files installed.
package rules

import (
	"embed"
	"io/fs"

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
