package builtin

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"ptrule/engine"
)

// RuleFiles reads a rule file, an ignore list, or a directory of them (its
// *.yaml, *.yml and *.pignore files, in lexical order), through t; the
// files' Include lines read through t too.
func (t FileTrust) RuleFiles(p string) ([]engine.File, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	if !st.IsDir() {
		data, err := t.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		return []engine.File{{Path: p, Data: data, ReadFile: t.ReadFile}}, nil
	}
	if err := t.CheckDir(p); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	var files []engine.File
	for _, e := range entries {
		// The same selection as engine.DirFiles makes for the built-in
		// rules, in the same lexical order.
		name := e.Name()
		if e.IsDir() || !(engine.IsRuleFile(name) || engine.IsIgnoreFile(name)) {
			continue
		}
		fp := filepath.Join(p, name)
		data, err := t.ReadFile(fp)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		// Include may name any file on the host, not only this directory.
		files = append(files, engine.File{Path: fp, Data: data, ReadFile: t.ReadFile})
	}
	return files, nil
}

// FixtureFiles returns the fixture at p, or every *_test.yaml under the
// directory p, in lexical order, read through t.
func (t FileTrust) FixtureFiles(p string) ([]engine.File, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var names []string
	if !st.IsDir() {
		names = []string{p}
	} else {
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && engine.IsFixtureFile(d.Name()) {
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(names)
	var out []engine.File
	for _, n := range names {
		data, err := t.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, engine.File{Path: n, Data: data})
	}
	return out, nil
}
