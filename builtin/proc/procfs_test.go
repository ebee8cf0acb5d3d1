package proc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs"
)

// TestWhyNotPrometheusProcfs keeps the reasons why ptrule reads /proc with
// its own parsers rather than github.com/prometheus/procfs, for the
// per-process files and for the host files alike (README, "Dependency
// notes"). Each case gives a tree that procfs cannot read usefully and
// checks what procfs does with it and what this package reads from it.
// When procfs changes so that a case fails here, its reason no longer
// holds and the file may be read through procfs instead.
func TestWhyNotPrometheusProcfs(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("stat of a process panics on a short line", func(t *testing.T) {
		// A process's stat that ends at its name: a hostile or broken
		// tree can hold it. procfs slices past the end of the line.
		write("42/stat", "42 (x)")
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			p42, err := fs.Proc(42)
			if err == nil {
				_, _ = p42.Stat()
			}
			return false
		}()
		if !panicked {
			t.Error("procfs's Proc.Stat no longer panics on a stat line that ends at the name")
		}
		if _, err := ParseStat([]byte("42 (x)")); err == nil {
			t.Error("ParseStat accepted a stat line that ends at the name")
		}
	})

	t.Run("a socket table is lost to one bad line", func(t *testing.T) {
		good := "   1: 0100007F:1388 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 9001 1 0000000000000000 100 0 0 10 0\n"
		write("net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
			good+"   2: garbage\n")
		// procfs deprecates its table readers in favour of netlink, which
		// sees only the reader's network namespace: another reason.
		//lint:ignore SA1019 the test documents what procfs does with a table
		if _, err := fs.NetTCP(); err == nil {
			t.Error("procfs's NetTCP now reads a table with one malformed line")
		}
		if e, ok := ParseNetLine([]byte(good)); !ok || e.Inode != 9001 {
			t.Errorf("ParseNetLine(good line) = %+v, %v", e, ok)
		}
	})

	t.Run("meminfo is lost to one line it does not expect", func(t *testing.T) {
		data := "MemTotal:       16318412 kB\nMemFree:         1000 kB\nNewField:  1 2 3\n"
		write("meminfo", data)
		if _, err := fs.Meminfo(); err == nil {
			t.Error("procfs's Meminfo now reads a file with a line of four fields")
		}
		if m := ParseMeminfo([]byte(data)); m["MemTotal"] != 16318412 || m["MemFree"] != 1000 {
			t.Errorf("ParseMeminfo = %v", m)
		}
	})

	t.Run("stat of the host is lost to one line it does not expect", func(t *testing.T) {
		data := "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 x\nbtime 1767225600\n"
		write("stat", data)
		if _, err := fs.Stat(); err == nil {
			t.Error("procfs's Stat now reads a file with a malformed cpu line")
		}
		if btime, _, ok := ParseSystemStat([]byte(data)); !ok || btime != 1767225600 {
			t.Errorf("ParseSystemStat = %d, %v", btime, ok)
		}
	})

	t.Run("loadavg without the running and total counts", func(t *testing.T) {
		data := "0.10 0.16 0.07 1/83 4448\n"
		write("loadavg", data)
		if _, err := fs.LoadAvg(); err != nil {
			t.Fatalf("procfs's LoadAvg: %v", err)
		}
		// procfs.LoadAvg has Load1, Load5 and Load15 only; the rules
		// see load.running and load.total too.
		if l := ParseLoadavg([]byte(data)); l.Running != 1 || l.Total != 83 {
			t.Errorf("ParseLoadavg = %+v", l)
		}
	})
}

// BenchmarkReadStat compares the per-process hot path, reading and parsing
// /proc/self/stat, through a Reader and ParseStat and through procfs's
// Proc.Stat, which reads with a fresh buffer and scans the whole line with
// fmt.Fscan.
func BenchmarkReadStat(b *testing.B) {
	b.Run("proc", func(b *testing.B) {
		dir, err := OpenDir("/proc", os.Getpid())
		if err != nil {
			b.Skip(err)
		}
		defer dir.Close()
		r := NewReader()
		b.ReportAllocs()
		for b.Loop() {
			data, err := r.ReadAt(dir, "stat")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseStat(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prometheus", func(b *testing.B) {
		p, err := procfs.Self()
		if err != nil {
			b.Skip(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Stat(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
