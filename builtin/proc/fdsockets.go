package proc

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// SocketHolders reads which sockets processes hold, for a walk of many
// processes such as the one that names the owners of the sockets of the
// netstat attachment. It spends the fewest system calls a process allows:
// one open of its fd directory, the getdents calls that list it, one
// readlink per descriptor and a close, where Dir.AppendSocketInodes (which
// needs the process directory open for its other reads) and EachFD (which
// goes through os.File) spend three or four more per process.
// BenchmarkSocketHolders measures the three. A SocketHolders is for one
// goroutine; it reuses its buffer from one process to the next.
type SocketHolders struct {
	dirents []byte
}

// direntNameOff is the offset of d_name in struct linux_dirent64, after
// d_ino (8 bytes), d_off (8), d_reclen (2) and d_type (1).
const direntNameOff = 19

// Append appends to dst the inodes of the sockets that process pid of the
// tree at root holds, in the order of its fd directory (a socket dup'ed to
// several descriptors comes once per descriptor), and returns it with the
// number of descriptors read. Descriptors closed while they are read are
// skipped. The error is for an fd directory that cannot be read: that of a
// process that exited (Vanished reports true), or of another user's
// process when the reader is not root.
func (h *SocketHolders) Append(root string, pid int, dst []uint64) (inodes []uint64, fds int, err error) {
	path := filepath.Join(root, strconv.Itoa(pid), "fd")
	dir, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dst, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(dir)
	if h.dirents == nil {
		h.dirents = make([]byte, 16<<10)
	}
	var link [64]byte
	for {
		n, err := unix.Getdents(dir, h.dirents)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return dst, fds, &fs.PathError{Op: "getdents", Path: path, Err: err}
		}
		if n <= 0 {
			return dst, fds, nil
		}
		for b := h.dirents[:n]; len(b) > direntNameOff; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen <= direntNameOff || reclen > len(b) {
				// Not what the kernel writes; stop rather than guess.
				break
			}
			name := b[direntNameOff:reclen]
			b = b[reclen:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if !isDigits(name) {
				// "." and "..".
				continue
			}
			fds++
			// Socket links are short; a longer target is a path and
			// is cut, which cannot make it look like a socket.
			m, err := unix.Readlinkat(dir, string(name), link[:])
			if err != nil {
				continue
			}
			if inode, ok := SocketInode(link[:m]); ok {
				dst = append(dst, inode)
			}
		}
	}
}

// isDigits reports whether b is a non-empty run of decimal digits.
func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
