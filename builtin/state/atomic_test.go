package state

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.json")
	if err := WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "new" {
		t.Fatalf("content %q, %v; want new", data, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// No temporary file is left beside it.
	if names := dirNames(t, dir); !slices.Equal(names, []string{"spool.json"}) {
		t.Errorf("directory holds %v", names)
	}

	// A directory that does not exist fails and creates nothing.
	if err := WriteFile(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Error("WriteFile into a missing directory: no error")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"spool.json"}) {
		t.Errorf("after a failed write the directory holds %v", names)
	}
}
