// Package rules holds ptrule's default rules — lfd's Process Tracking
// directives as YAML — their ignore list and their fixtures, compiled into
// the binary so that ptrule works with no files installed.
package rules

import (
	"embed"
	"io/fs"

	"ptrule/engine"
)

//go:embed *.yaml *.pignore
var files embed.FS

// FS is the directory of default rules, ignore lists and fixtures.
var FS fs.FS = files

// Display is the path shown for built-in files in errors and listings.
const Display = "builtin:rules.d"

// Files returns the default rule files and ignore lists in load order.
func Files() ([]engine.File, error) { return engine.DirFiles(FS, ".", Display) }
