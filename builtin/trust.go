package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"ptrule/builtin/proc"
)

// MaxTrustedFileSize caps every config file, rule file, ignore list,
// included file and fixture ptrule reads: 4 MiB is far more than any real
// rule set, and small enough that a file such as /dev/zero or a huge log
// named by mistake cannot exhaust the daemon's memory.
const MaxTrustedFileSize = 4 << 20

// ErrUntrusted marks a file or directory that a user other than root could
// change: ptrule runs as root and does what these files say, so such a
// file would give that user root's power. Only this kind of refusal may be
// downgraded to a warning (FileTrust.Insecure); a file that is not a
// regular file, or is too large, is always refused.
var ErrUntrusted = errors.New("not trusted")

// FileTrust reads the files ptrule acts on, the way sshd's StrictModes,
// sudo and cron read theirs. A file passes when
//
//   - it is a regular file of at most MaxTrustedFileSize bytes (a FIFO, a
//     device such as /dev/zero or a directory is refused without reading);
//   - it, and every directory above it up to /, is owned by root (or by
//     the user running ptrule, who can only give away their own rights) and
//     is not writable by group or others; a directory above it may be
//     writable when it has the sticky bit, as /tmp does, because only root
//     may then replace a root-owned entry;
//   - a symlink on the way is owned by root (or that user), and the file
//     and directories it leads to pass the same checks.
//
// The zero FileTrust enforces everything.
type FileTrust struct {
	// Insecure accepts files that fail only the owner and permission
	// checks, reporting each through Warn. It is for test trees that are
	// not root's, never for a production host.
	Insecure bool
	// Warn receives every failure that Insecure let through; nil drops
	// them.
	Warn func(error)
	// SkipOwnership checks only that files are regular and small enough:
	// for `ptrule test`, which executes nothing the files say.
	SkipOwnership bool
}

// untrusted is an ErrUntrusted failure: the path, what is wrong, and the
// command that fixes it.
type untrusted struct {
	path, reason, fix string
}

func (e *untrusted) Error() string {
	return fmt.Sprintf("%s: %s, so a user other than root could change what ptrule (running as root) does: %s",
		e.path, e.reason, e.fix)
}

func (e *untrusted) Unwrap() error { return ErrUntrusted }

// tolerate returns nil for an ErrUntrusted failure when t.Insecure is set,
// after passing it to Warn; any other error is returned as it is.
func (t FileTrust) tolerate(err error) error {
	if err == nil || !t.Insecure || !errors.Is(err, ErrUntrusted) {
		return err
	}
	if t.Warn != nil {
		t.Warn(err)
	}
	return nil
}

// ReadFile reads the file at path after the checks above. Its errors name
// the file and say how to fix it.
func (t FileTrust) ReadFile(path string) ([]byte, error) {
	if !t.SkipOwnership {
		if err := t.tolerate(checkPathTrust(path)); err != nil {
			return nil, err
		}
	}
	var check func(fs.FileInfo) error
	if !t.SkipOwnership {
		check = func(fi fs.FileInfo) error { return t.tolerate(checkMode(absPath(path), fi, false)) }
	}
	data, err := proc.ReadRegular(path, MaxTrustedFileSize, check)
	if errors.Is(err, proc.ErrTooLarge) {
		return nil, fmt.Errorf("%w: split it into smaller files", err)
	}
	return data, err
}

// CheckDir checks that the directory at path, and every directory above
// it, can be changed by root only. The directory itself may not rely on
// the sticky bit: anyone could add a file to it.
func (t FileTrust) CheckDir(path string) error {
	if t.SkipOwnership {
		return nil
	}
	if err := t.tolerate(checkPathTrust(path)); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return t.tolerate(checkMode(absPath(path), fi, false))
}

// absPath names path absolutely in a finding, so that one directory
// reached by two names is reported once, by the name chown takes anywhere.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// CheckStateDir checks a directory ptrule writes its state to. When it
// exists it must pass CheckDir; when it does not, the nearest directory
// above it that exists must pass CheckDir too, sticky bit or not, since
// ptrule will create the missing part there and nobody else may get there
// first.
func (t FileTrust) CheckStateDir(path string) error {
	if t.SkipOwnership {
		return nil
	}
	p := filepath.Clean(path)
	for {
		_, err := os.Lstat(p)
		if err == nil {
			return t.CheckDir(p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
}

// checkPathTrust checks the directories leading to path and the symlinks
// on the way, then does the same for the path the symlinks resolve to.
func checkPathTrust(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := checkAncestors(abs); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	if target != abs {
		if err := checkAncestors(target); err != nil {
			return err
		}
	}
	return nil
}

// checkAncestors checks that a symlink at path is owned by a trusted user,
// and that every directory above path is trusted, sticky ones allowed.
func checkAncestors(path string) error {
	if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if err := checkOwner(path, li, "symlink"); err != nil {
			return err
		}
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		li, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			if err := checkOwner(dir, li, "symlink"); err != nil {
				return err
			}
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if err := checkMode(dir, fi, true); err != nil {
			return err
		}
		if dir == "/" {
			return nil
		}
	}
}

// checkOwner reports a file or symlink that neither root nor the user
// running ptrule owns.
func checkOwner(path string, fi fs.FileInfo, what string) error {
	uid, ok := ownerOf(fi)
	if ok && (uid == 0 || uid == os.Geteuid()) {
		return nil
	}
	fix := "chown root " + path
	if what == "symlink" {
		fix = "chown -h root " + path
	}
	return &untrusted{path: path, reason: fmt.Sprintf("%s owned by uid %d, not root", what, uid), fix: fix}
}

// checkMode checks the owner and write bits of a file or directory;
// stickyOK lets a sticky directory be writable.
func checkMode(path string, fi fs.FileInfo, stickyOK bool) error {
	what := "file"
	if fi.IsDir() {
		what = "directory"
	}
	if err := checkOwner(path, fi, what); err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if perm&0o022 == 0 || (stickyOK && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0) {
		return nil
	}
	return &untrusted{path: path, reason: fmt.Sprintf("%s writable by group or others (%v)", what, perm), fix: "chmod go-w " + path}
}
