package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"ptrule/builtin/proctest"
	"slices"
	"strconv"
	"testing"
)

// TestSocketHoldersLive checks SocketHolders against the collector's
// reader on this process, with sockets open.
func TestSocketHoldersLive(t *testing.T) {
	inodes := liveSockets(t)
	var h SocketHolders
	got, fds, err := h.Append("/proc", os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := OpenDir("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	want, wantFDs, err := dir.AppendSocketInodes(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SocketHolders found %v, AppendSocketInodes %v", got, want)
	}
	// The directory handle of OpenDir is one more descriptor.
	if fds < len(wantFDs)-1 || fds > len(wantFDs)+1 {
		t.Errorf("%d descriptors read, AppendSocketInodes listed %d", fds, len(wantFDs))
	}
	for inode, what := range inodes {
		if !slices.Contains(got, inode) {
			t.Errorf("%s (inode %d) missing from %v", what, inode, got)
		}
	}
}

// TestSocketHoldersTree reads fake fd directories: one longer than a
// getdents buffer, one that is no directory, one missing.
func TestSocketHoldersTree(t *testing.T) {
	root := t.TempDir()
	link := func(pid, fd int, target string) {
		t.Helper()
		dir := filepath.Join(root, strconv.Itoa(pid), "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, strconv.Itoa(fd))); err != nil {
			t.Fatal(err)
		}
	}
	var want []uint64
	for fd := range 1200 {
		switch fd % 3 {
		case 0:
			link(10, fd, fmt.Sprintf("socket:[%d]", 100000+fd))
			want = append(want, uint64(100000+fd))
		case 1:
			link(10, fd, "/var/log/a-long-path-that-fills-the-link-buffer/"+strconv.Itoa(fd)+"/socket:[1]")
		default:
			link(10, fd, "pipe:[7]")
		}
	}
	// Not a descriptor.
	if err := os.WriteFile(filepath.Join(root, "10", "fd", "note"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "20"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "20", "fd"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}

	var h SocketHolders
	got, fds, err := h.Append(root, 10, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got[1:])
	if got[0] != 1 || !slices.Equal(got[1:], want) || fds != 1200 {
		t.Errorf("got %d inodes (first %v) from %d descriptors, want %d from 1200", len(got)-1, got[:min(len(got), 3)], fds, len(want))
	}
	if _, _, err := h.Append(root, 20, nil); err == nil || Vanished(err) {
		t.Errorf("an fd directory that is a file: %v, want an error that is not Vanished", err)
	}
	if _, _, err := h.Append(root, 30, nil); !Vanished(err) {
		t.Errorf("a missing process: %v, want Vanished", err)
	}
}

// BenchmarkSocketHolders reads the sockets held by every process of the
// live /proc, with about 200 sockets open in this one, three ways.
func BenchmarkSocketHolders(b *testing.B) {
	proctest.OpenLoopbackSockets(b, 100)
	pids, err := ListPIDs("/proc")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("EachFD", func(b *testing.B) {
		for b.Loop() {
			for _, pid := range pids {
				_ = EachFD("/proc", pid, func(_ int, target string, err error) {
					if err == nil {
						SocketInode([]byte(target))
					}
				})
			}
		}
	})
	b.Run("Dir.AppendSocketInodes", func(b *testing.B) {
		var inodes []uint64
		var fds []int
		for b.Loop() {
			for _, pid := range pids {
				if dir, err := OpenDir("/proc", pid); err == nil {
					inodes, fds, _ = dir.AppendSocketInodes(inodes[:0], fds)
					dir.Close()
				}
			}
		}
	})
	b.Run("SocketHolders", func(b *testing.B) {
		var h SocketHolders
		var inodes []uint64
		for b.Loop() {
			for _, pid := range pids {
				inodes, _, _ = h.Append("/proc", pid, inodes[:0])
			}
		}
	})
}
