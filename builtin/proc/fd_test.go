package proc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// dirents encodes names as getdents64 records.
func dirents(names ...string) []byte {
	var buf []byte
	for i, name := range names {
		reclen := (19 + len(name) + 1 + 7) &^ 7
		rec := make([]byte, reclen)
		binary.NativeEndian.PutUint64(rec[0:], uint64(i+1))
		binary.NativeEndian.PutUint64(rec[8:], uint64(i+2))
		binary.NativeEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = unix.DT_LNK
		copy(rec[19:], name)
		buf = append(buf, rec...)
	}
	return buf
}

func TestAppendDirentNumbers(t *testing.T) {
	for _, tt := range []struct {
		name string
		buf  []byte
		want []int
	}{
		{"descriptors", dirents(".", "..", "0", "1", "2", "10", "255"), []int{0, 1, 2, 10, 255}},
		{"not numbers", dirents("x", "-1", "1a", "", "1234567890"), nil},
		{"a record cut short", dirents("3", "4")[:30], []int{3}},
		{"a record length past the end", func() []byte {
			b := dirents("5", "6")
			binary.NativeEndian.PutUint16(b[24+16:], 200)
			return b
		}(), []int{5}},
		{"a zero record length", func() []byte {
			b := dirents("7")
			binary.NativeEndian.PutUint16(b[16:], 0)
			return b
		}(), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := AppendDirentNumbers(nil, tt.buf); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The walk lists the same descriptors as os.ReadDir, and finds the
// sockets among them.
func TestAppendSocketInodesSelf(t *testing.T) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(ln)
	var st unix.Stat_t
	if err := unix.Fstat(ln, &st); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir("/proc", os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	defer d.Close()
	inodes, fds, err := d.AppendSocketInodes(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(inodes, st.Ino) {
		t.Errorf("socket inode %d not among %v", st.Ino, inodes)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fds, ln) || len(fds) < len(ents)-2 || len(fds) > len(ents)+2 {
		// os.ReadDir holds a descriptor of its own while listing.
		t.Errorf("descriptors %v, ReadDir lists %d", fds, len(ents))
	}
}

func FuzzAppendDirentNumbers(f *testing.F) {
	f.Add(dirents(".", "..", "0", "12"))
	f.Add(dirents("3")[:20])
	f.Fuzz(func(t *testing.T, buf []byte) {
		for _, fd := range AppendDirentNumbers(nil, buf) {
			if fd < 0 || fd > 999_999_999 {
				t.Fatalf("descriptor %d out of range", fd)
			}
			if !slices.Contains(buf, strconv.Itoa(fd)[0]) {
				t.Fatalf("descriptor %d not named in the buffer", fd)
			}
		}
	})
}

// BenchmarkAppendSocketInodes walks this process's descriptors, with
// about 64 of them open, through getdents (the walk) and through os.File's
// Readdirnames (what it replaced).
func BenchmarkAppendSocketInodes(b *testing.B) {
	for range 60 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
	}
	d, err := OpenDir("/proc", os.Getpid())
	if err != nil {
		b.Skip(err)
	}
	defer d.Close()
	b.Run("getdents", func(b *testing.B) {
		var inodes []uint64
		var fds []int
		for b.Loop() {
			inodes, fds, _ = d.AppendSocketInodes(inodes[:0], fds)
		}
	})
	b.Run("readdirnames", func(b *testing.B) {
		var fds []int
		var link [64]byte
		for b.Loop() {
			fdDir, err := unix.Openat(d.fd, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			f := os.NewFile(uintptr(fdDir), "fd")
			names, _ := f.Readdirnames(-1)
			fds = AppendFDs(fds[:0], names)
			for _, fd := range fds {
				_, _ = unix.Readlinkat(fdDir, strconv.Itoa(fd), link[:])
			}
			f.Close()
		}
	})
}

// A listing of many entries, long names among them, is read whole: the
// read that stops at a buffer with room left stops only at the end.
func TestReadDirNumbersWhole(t *testing.T) {
	dir := t.TempDir()
	var want []int
	for i := range 3000 {
		name := strconv.Itoa(i + 1)
		if i%7 == 0 {
			name = strings.Repeat("x", 200+i%50) + name
		} else {
			want = append(want, i+1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got, err := readDirNumbers(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("read %d numbers, want %d", len(got), len(want))
	}
}
