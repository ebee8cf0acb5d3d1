package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The seam of fake /proc trees. A procfs holds the magic link "exe" to the
// file a process runs, and the file system it names is the real root. A
// fake tree (package proctest) is no procfs and cannot hold magic links:
// there the file is behind FakeExeFile and the root of the view is the
// tree's FakeView directory, so that a test states device, inode and link
// count with real files. Package proctest writes these entries.
const (
	// FakeExeFile is the entry of a fake process directory that links to
	// the file the process runs, as the magic link exe does in procfs.
	FakeExeFile = "exe-file"
	// FakeView is the directory of a fake tree that stands for the root
	// of ptrule's view of the file system.
	FakeView = "view"
)

// IsProcfs reports whether dir is the root of a procfs mount, as opposed
// to a fake or copied tree. A dir that cannot be examined counts as a
// procfs, so that production never falls back to the fake tree's seam.
func IsProcfs(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return true
	}
	return st.Type == unix.PROC_SUPER_MAGIC
}

// FileID identifies a file: device and inode, with its link count. The
// zero value (OK false) stands for a file that could not be stat'ed.
type FileID struct {
	Dev, Ino, Nlink uint64
	OK              bool
}

// FileIDOf is the identity of the file st describes.
func FileIDOf(st *unix.Stat_t) FileID {
	return FileID{Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink), OK: true}
}

// SameFile reports whether a and b are both known and the same file.
func (a FileID) SameFile(b FileID) bool {
	return a.OK && b.OK && a.Dev == b.Dev && a.Ino == b.Ino
}

// StatFileID returns the identity of the file at path, following
// symbolic links, or the zero FileID when it cannot be stat'ed.
func StatFileID(path string) FileID {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return FileID{}
	}
	return FileIDOf(&st)
}

// Dir is an open handle on one process directory of a tree. Every file
// read through it is opened relative to the handle: if the process exits
// and its PID is reused meanwhile, the reads fail with ESRCH instead of
// mixing two processes.
type Dir struct {
	fd   int
	open bool
}

// OpenDir opens the directory of process pid in the tree at root.
func OpenDir(root string, pid int) (Dir, error) {
	path := filepath.Join(root, strconv.Itoa(pid))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Dir{fd: -1}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return Dir{fd: fd, open: true}, nil
}

// Valid reports whether d was opened by OpenDir, rather than being the zero
// Dir; it says nothing of whether it was closed since.
func (d Dir) Valid() bool { return d.open }

// Close releases the handle.
func (d Dir) Close() error { return unix.Close(d.fd) }

// Owner returns the owner of the directory. On a procfs that is the
// effective uid of the process, whether or not it is dumpable: the kernel
// makes the files of a non-dumpable process root's, but not its
// directory, whose mode is 0555 (task_dump_owner in fs/proc/base.c, which
// says procps stat()s the directory for this reason). One fstat instead of
// reading status, whose text the kernel builds from a dozen sources.
func (d Dir) Owner() (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return 0, err
	}
	return int(st.Uid), nil
}

// FileID returns the identity of the file the entry name leads to,
// following links: for "exe", the file the process runs.
func (d Dir) FileID(name string) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, 0); err != nil {
		return FileID{}, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return FileIDOf(&st), nil
}

// AppendSocketInodes appends to dst the inodes of the sockets the process
// holds, in descriptor order (a socket dup'ed to several descriptors comes
// once per descriptor), and returns it with fds, a scratch slice for the
// descriptor numbers that the caller may pass again to spare allocations.
// Descriptors closed while they are read are skipped.
func (d Dir) AppendSocketInodes(dst []uint64, fds []int) ([]uint64, []int, error) {
	fdDir, err := unix.Openat(d.fd, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dst, fds, &fs.PathError{Op: "open", Path: "fd", Err: err}
	}
	defer unix.Close(fdDir)
	// The listing is read and parsed here rather than through os.File's
	// Readdirnames, which cost a name string per descriptor, a finalizer
	// and an fcntl per directory: on a host of php workers holding dozens
	// of descriptors each, that was a fifth of the walk
	// (BenchmarkAppendSocketInodes).
	fds, err = readDirNumbers(fdDir, fds[:0])
	if err != nil {
		return dst, fds, &fs.PathError{Op: "getdents", Path: "fd", Err: err}
	}
	// Descriptor order makes what is read from them stable from one
	// reading to the next whatever order the directory lists them in.
	slices.Sort(fds)
	var link [64]byte
	for _, fd := range fds {
		// Socket links are short; a longer target is a path and is cut,
		// which cannot make it look like a socket.
		n, err := unix.Readlinkat(fdDir, strconv.Itoa(fd), link[:])
		if err != nil {
			continue
		}
		if inode, ok := SocketInode(link[:n]); ok {
			dst = append(dst, inode)
		}
	}
	return dst, fds, nil
}

// Reader reads /proc files into one buffer that it reuses, which keeps a
// collection of every process from allocating per file. What it returns
// is valid until its next read; parsers copy what they keep. A Reader is
// for one goroutine.
type Reader struct {
	buf  []byte
	link [4096]byte
}

// NewReader returns a Reader.
func NewReader() *Reader { return &Reader{buf: make([]byte, 0, 4096)} }

// Read reads the whole file at path, up to MaxFileSize bytes.
func (r *Reader) Read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return r.readFD(fd, path)
}

// ReadAt reads the file name of the process directory d, up to
// MaxFileSize bytes.
func (r *Reader) ReadAt(d Dir, name string) ([]byte, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return r.readFD(fd, name)
}

// readFD reads an open file into the shared buffer. The files of /proc
// produce their whole content in one read when the buffer is large
// enough, which also makes the content consistent, and a short read marks
// their end; only a read that fills the buffer is followed by another.
func (r *Reader) readFD(fd int, name string) ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			if len(r.buf) >= MaxFileSize {
				return r.buf, nil
			}
			r.buf = slices.Grow(r.buf, len(r.buf))
		}
		want := cap(r.buf) - len(r.buf)
		n, err := unix.Read(fd, r.buf[len(r.buf):cap(r.buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		r.buf = r.buf[:len(r.buf)+n]
		if n < want {
			return r.buf, nil
		}
	}
}

// ReadlinkAt reads the symbolic link name of the process directory d.
func (r *Reader) ReadlinkAt(d Dir, name string) (string, error) {
	buf := r.link[:]
	for {
		n, err := unix.Readlinkat(d.fd, name, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		// The target filled the buffer and may be cut: retry larger,
		// as os.Readlink does.
		if len(buf) >= MaxFileSize {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: unix.ENAMETOOLONG}
		}
		buf = make([]byte, 2*len(buf))
	}
}

// maxPasswdSize bounds the read of a tree's etc/passwd, as ptrule bounds
// every file it reads (builtin.MaxTrustedFileSize).
const maxPasswdSize = 4 << 20

// SystemUserName names a uid from the system's user database, "" when it
// has no name. Tests that read the host's real /proc replace it, so that
// the users of the machine running them cannot change a result.
var SystemUserName = func(id string) string {
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return ""
}

// LoginName returns the name the passwd database of the tree at procRoot
// gives the uid id, or id itself when it gives none. For the host's /proc
// that is the system's database (files, LDAP, whatever NSS is set up
// with); any other tree — a fake one in tests, a container's — names users
// from the file etc/passwd beside it, and has no names without one. So a
// test never depends on the users of the machine it runs on.
func LoginName(procRoot, id string) string {
	if filepath.Clean(procRoot) == "/proc" {
		if name := SystemUserName(id); name != "" {
			return name
		}
		return id
	}
	data, err := ReadRegular(filepath.Join(filepath.Dir(filepath.Clean(procRoot)), "etc", "passwd"), maxPasswdSize, nil)
	if err != nil {
		return id
	}
	if name := passwdName(data, id); name != "" {
		return name
	}
	return id
}

// ReadRegular reads the regular file at path, of at most limit bytes. A
// FIFO, device or directory in its place is refused without a read, so it
// can neither hang nor flood the reader. check, when not nil, vets the
// opened file before it is read: the checks are on the opened file, so a
// swap of the path after them changes nothing. Its errors name the file.
func ReadRegular(path string, limit int64, check func(fs.FileInfo) error) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, FileKind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, tooLarge(fmt.Sprintf("%s is %d bytes, more than the %d ptrule reads", path, fi.Size(), limit))
	}
	if check != nil {
		if err := check(fi); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(fmt.Sprintf("%s grew past the %d bytes ptrule reads", path, limit))
	}
	return data, nil
}

// ErrTooLarge marks a file larger than its reader takes: errors.Is finds
// it in what ReadRegular returns.
var ErrTooLarge = errors.New("file too large")

// tooLarge is an error that says how large, and is ErrTooLarge.
type tooLarge string

func (e tooLarge) Error() string        { return string(e) }
func (e tooLarge) Is(target error) bool { return target == ErrTooLarge }

// FileKind names what a file that is not a regular file is, for people.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// passwdName returns the name of the first passwd(5) line whose uid is id.
func passwdName(data []byte, id string) string {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == id && f[0] != "" {
			return f[0]
		}
	}
	return ""
}

// BootClock is what converts a wall-clock start time to clock ticks since
// boot: the boot time the kernel reports (btime in /proc/stat) and the
// clock ticks per second.
type BootClock struct {
	Boot           time.Time
	TicksPerSecond uint64
}

// ReadBootClock reads the boot time of the tree at root (btime in its stat
// file) and pairs it with ticks, the clock tick rate. An unreadable btime
// gives an error and a clock with a zero Boot.
func ReadBootClock(root string, ticks uint64) (BootClock, error) {
	clk := BootClock{TicksPerSecond: ticks}
	path := filepath.Join(root, "stat")
	data, _, err := ReadCapped(path, MaxFileSize)
	if err != nil {
		return clk, fmt.Errorf("reading the boot time: %w", err)
	}
	btime, _, ok := ParseSystemStat(data)
	if !ok {
		return clk, fmt.Errorf("no btime line in %s", path)
	}
	clk.Boot = time.Unix(btime, 0)
	return clk, nil
}

// SelfNetNS returns the network namespace of the reader of the tree at
// root: the text of the link self/ns/net, such as "net:[4026531840]".
func SelfNetNS(root string) (string, error) {
	return os.Readlink(filepath.Join(root, "self", "ns", "net"))
}

// maxNetLine bounds one line of a /proc/net table; the kernel's are about
// 150 bytes.
const maxNetLine = 1 << 20

// ReadNetTable calls fn with each socket of the table proto (one of
// NetTables) in the net directory dir, as it reads the table, so that a
// table of a million sockets is never held whole. The header, like any
// line that does not parse, is skipped; so is the rest of a table after a
// line longer than any the kernel writes. A missing or unreadable table,
// such as tcp6 on a host without IPv6, has no socket, and the error says
// why.
func ReadNetTable(dir, proto string, fn func(NetEntry)) error {
	f, err := os.Open(filepath.Join(dir, proto))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxNetLine)
	for sc.Scan() {
		if e, ok := ParseNetLine(sc.Bytes()); ok {
			fn(e)
		}
	}
	return sc.Err()
}

// EachFD calls fn with each open descriptor of process pid in the tree at
// root, in descriptor order, with the target of its link or the error that
// kept it from being read: one closed since the directory was listed has an
// error for which Vanished reports true. Targets are read one at a time
// and not kept, so a process with a million descriptors costs no more than
// its listing. The error is for a directory that cannot be listed, such as
// that of a process that exited or of another user's process when ptrule
// is not root.
func EachFD(root string, pid int, fn func(fd int, target string, err error)) error {
	dir := filepath.Join(root, strconv.Itoa(pid), "fd")
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, fd := range AppendFDs(make([]int, 0, len(names)), names) {
		target, err := os.Readlink(filepath.Join(dir, strconv.Itoa(fd)))
		fn(fd, target, err)
	}
	return nil
}
