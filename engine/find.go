package engine

import (
	"io/fs"
	"path"
	"strings"
)

// File is a rule file or an ignore list to load.
type File struct {
	// Path is the name shown in errors and in `ptrule rules`.
	Path string
	Data []byte
	// ReadFile reads the targets of an ignore list's Include lines; nil
	// makes Include an error.
	ReadFile func(path string) ([]byte, error)
}

// IsRuleFile reports whether a directory entry is loaded as rules.
func IsRuleFile(name string) bool {
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) && !IsFixtureFile(name)
}

// IsIgnoreFile reports whether a directory entry is loaded as an ignore list.
func IsIgnoreFile(name string) bool { return strings.HasSuffix(name, ".pignore") }

// IsFixtureFile reports whether a directory entry is a `ptrule test` fixture.
func IsFixtureFile(name string) bool { return strings.HasSuffix(name, "_test.yaml") }

// DirFiles returns the rule files and ignore lists of directory dir in fsys,
// in lexical order of their names; display prefixes the paths shown to users.
func DirFiles(fsys fs.FS, dir, display string) ([]File, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(IsRuleFile(name) || IsIgnoreFile(name)) {
			continue
		}
		p := path.Join(dir, name)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		out = append(out, File{
			Path: path.Join(display, name),
			Data: data,
			ReadFile: func(inc string) ([]byte, error) {
				// Includes resolve inside the same file system, relative
				// to dir as the displayed paths are relative to display.
				return fs.ReadFile(fsys, path.Join(dir, strings.TrimPrefix(strings.TrimPrefix(inc, display), "/")))
			},
		})
	}
	return out, nil
}
