package proctest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"ptrule/builtin/proctest"
)

// TestSpecFromYAML checks that a tree can be described as data, as a
// testscript command would, and lands in the kernel's formats.
func TestSpecFromYAML(t *testing.T) {
	const doc = `
host: {name: web1, cpus: 2, uptime: 2h}
processes:
  - {pid: 4242, uid: 1001, exe: /usr/bin/php, exe_deleted: true, cmdline: [php, x.php], age: 90m, sockets: [77]}
sockets:
  - {proto: tcp6, local: "[::ffff:127.0.0.1]:80", remote: "[2001:db8::1]:5000", inode: 77}
`
	var spec proctest.Spec
	if err := yaml.Unmarshal([]byte(doc), &spec); err != nil {
		t.Fatal(err)
	}
	tree := proctest.New(t)
	tree.Apply(spec)

	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(tree.Root(), name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("sys/kernel/hostname"); got != "web1\n" {
		t.Errorf("hostname %q", got)
	}
	if got := read("uptime"); !strings.HasPrefix(got, "7200.00 ") {
		t.Errorf("uptime %q", got)
	}
	// Started 90 minutes into a 2 hour uptime: 30 minutes after boot.
	if got := read("4242/stat"); !strings.HasPrefix(got, "4242 (php) S 1 4242 4242 ") || !strings.Contains(got, " 0 180000 ") {
		t.Errorf("stat %q", got)
	}
	if got := read("4242/cmdline"); got != "php\x00x.php\x00" {
		t.Errorf("cmdline %q", got)
	}
	if got, err := os.Readlink(filepath.Join(tree.Dir(4242), "exe")); err != nil || got != "/usr/bin/php (deleted)" {
		t.Errorf("exe link %q, %v", got, err)
	}
	if got, err := os.Readlink(filepath.Join(tree.Dir(4242), "fd/3")); err != nil || got != "socket:[77]" {
		t.Errorf("fd link %q, %v", got, err)
	}
	if lines := strings.Split(strings.TrimSpace(read("net/tcp6")), "\n"); len(lines) != 2 || !strings.Contains(lines[1], " 01 ") {
		t.Errorf("tcp6 %q", lines)
	}
	if tree.Host().Uptime != 2*time.Hour {
		t.Errorf("Host() = %+v", tree.Host())
	}
}

// fatalRecorder collects failures instead of stopping a test, to check
// that a bad description is reported.
type fatalRecorder struct{ msgs []string }

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msgs = append(f.msgs, format)
}

func TestNewAtReportsBadInput(t *testing.T) {
	rec := &fatalRecorder{}
	tree := proctest.NewAt(rec, t.TempDir())
	tree.AddSocket(proctest.Socket{Proto: "sctp", Local: "1.2.3.4:5"})
	tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "[::1]:5"})
	tree.AddProc(proctest.Proc{PID: 0})
	if len(rec.msgs) != 3 {
		t.Errorf("failures %q, want 3", rec.msgs)
	}
}
