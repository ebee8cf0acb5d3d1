package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrRefused marks a program that Run will not start because it is not
// safe to run as root. Callers report it as "refused" rather than "error".
var ErrRefused = errors.New("program refused")

// CheckProgram reports why path is not safe for ptrule, running as root,
// to execute, or nil. The rules:
//
//   - path must be absolute;
//   - symlinks are resolved and the final target must be a regular file,
//     executable, owned by root and not writable by group or others;
//   - every directory leading to path and to its target must be owned by
//     root and not writable by group or others, unless it has the sticky
//     bit (like /tmp), where only root can replace a root-owned file; and
//     a symlink on the way must be owned by root.
//
// The directory rule is there because whoever can write a directory on the
// way can swap the program for another, root-owned file or not. Every
// error wraps ErrRefused.
func CheckProgram(path string) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrRefused, path, fmt.Sprintf(format, a...))
	}
	if path == "" {
		return fmt.Errorf("%w: empty program path: give the absolute path of an executable", ErrRefused)
	}
	if !filepath.IsAbs(path) {
		return refuse("not an absolute path: give the full path, such as /usr/local/sbin/%s", filepath.Base(path))
	}
	clean := filepath.Clean(path)
	if err := checkDirs(clean); err != nil {
		return refuse("%v", err)
	}
	target, err := filepath.EvalSymlinks(clean)
	if err != nil {
		return refuse("cannot resolve it: %v", err)
	}
	if target != clean {
		if err := checkDirs(target); err != nil {
			return refuse("target %s: %v", target, err)
		}
	}
	fi, err := os.Stat(target)
	if err != nil {
		return refuse("%v", err)
	}
	name := path
	if target != clean {
		name = "its target " + target
	}
	if !fi.Mode().IsRegular() {
		return refuse("%s is not a regular file (%v)", name, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return refuse("%s is not executable: chmod 0755 it", name)
	}
	if uid, ok := ownerOf(fi); !ok || uid != 0 {
		return refuse("%s is owned by uid %d, not root: chown root it", name, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return refuse("%s is writable by group or others (%v): chmod go-w it", name, fi.Mode().Perm())
	}
	return nil
}

// checkDirs checks the directories leading to path, and that a symlink met
// on the way (path itself included) is root-owned.
func checkDirs(path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if uid, ok := ownerOf(fi); !ok || uid != 0 {
			return fmt.Errorf("symlink owned by uid %d, not root", uid)
		}
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if li, err := os.Lstat(dir); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			if uid, ok := ownerOf(li); !ok || uid != 0 {
				return fmt.Errorf("symlink %s is owned by uid %d, not root", dir, uid)
			}
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if uid, ok := ownerOf(fi); !ok || uid != 0 {
			return fmt.Errorf("directory %s is owned by uid %d, not root: move the program to a root-owned directory", dir, uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("directory %s is writable by group or others (%v): chmod go-w it or move the program", dir, fi.Mode().Perm())
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

// ownerOf returns the owner uid of a file.
func ownerOf(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, false
	}
	return int(st.Uid), true
}
