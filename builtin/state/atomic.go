package state

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// WriteFile replaces the file at path with data, with the permissions
// perm, so that a crash or an error leaves either the old or the new
// content, never a mix or nothing (github.com/google/renameio/v2): a
// temporary file in the same directory, fsync, rename over path, then fsync
// of the directory, without which the rename is not durable.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, nil)
}

// writeFile is WriteFile with a hook that runs between writing the new
// file and renaming it over the old one; its error aborts the write.
func writeFile(path string, data []byte, perm fs.FileMode, beforeReplace func() error) error {
	pf, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if _, err := pf.Write(data); err != nil {
		return err
	}
	if beforeReplace != nil {
		if err := beforeReplace(); err != nil {
			return err
		}
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return err
	}
	// The rename is durable only once the directory is on disk; renameio
	// leaves that to its caller.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
