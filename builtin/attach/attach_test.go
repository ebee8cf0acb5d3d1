package attach

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"ptrule/builtin/proc"
	"ptrule/engine"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// enrichTree is a fake /proc tree holding just the files a test needs.
type enrichTree struct {
	t    *testing.T
	root string
	// procs are the processes written, for a test to make a snapshot.
	procs []enrichProc
}

func newEnrichTree(t *testing.T) *enrichTree {
	t.Helper()
	// The tree's users are named by etc/passwd beside it, never by the
	// machine's.
	dir := t.TempDir()
	tr := &enrichTree{t: t, root: filepath.Join(dir, "proc")}
	tr.file("../etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
	return tr
}

// enricher returns a HostEnricher of the tree whose clock is now.
func (tr *enrichTree) enricher(now time.Time) *HostEnricher {
	e := NewHostEnricher(tr.root)
	e.ticks = 100
	e.now = func() time.Time { return now }
	return e
}

func (tr *enrichTree) file(rel, content string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *enrichTree) link(rel, target string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		tr.t.Fatal(err)
	}
}

// fds gives pid the descriptors fd → target.
func (tr *enrichTree) fds(pid int, targets map[int]string) {
	tr.t.Helper()
	if err := os.MkdirAll(filepath.Join(tr.root, strconv.Itoa(pid), "fd"), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	for fd, target := range targets {
		tr.link(fmt.Sprintf("%d/fd/%d", pid, fd), target)
	}
}

// enrichProc is a process of a fake tree, with the /proc/PID/stat fields
// the process table reads.
type enrichProc struct {
	pid, ppid, pgrp, sid int
	comm, state          string
	cmdline              string // NUL-separated, "" for a kernel thread
	uid                  int
	tty, tpgid           int
	utime, stime         uint64
	nice, threads        int
	start                uint64 // ticks since boot
	vsizeKiB, rssKiB     uint64
	vmLck                int
}

func (tr *enrichTree) proc(p enrichProc) {
	tr.t.Helper()
	p = p.withDefaults()
	tr.procs = append(tr.procs, p)
	dir := strconv.Itoa(p.pid)
	pages := p.rssKiB * 1024 / uint64(os.Getpagesize())
	tr.file(dir+"/stat", fmt.Sprintf("%d (%s) %s %d %d %d %d %d 4194560 0 0 0 0 %d %d 0 0 20 %d %d 0 %d %d %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		p.pid, p.comm, p.state, p.ppid, p.pgrp, p.sid, p.tty, p.tpgid, p.utime, p.stime, p.nice, p.threads, p.start, p.vsizeKiB*1024, pages))
	tr.file(dir+"/status", fmt.Sprintf("Name:\t%s\nState:\t%s\nUid:\t%d\t%d\t%d\t%d\nVmLck:\t%8d kB\n", p.comm, p.state, p.uid, p.uid, p.uid, p.uid, p.vmLck))
	tr.file(dir+"/cmdline", p.cmdline)
	tr.file(dir+"/comm", p.comm+"\n")
}

// process is p as a collection of a host booted at boot and up for uptime
// has it, with 100 clock ticks a second and users without names.
func (p enrichProc) process(boot time.Time, uptime time.Duration) engine.Process {
	p = p.withDefaults()
	tick := 10 * time.Millisecond
	start := time.Duration(p.start) * tick
	user := "root"
	if p.uid != 0 {
		user = strconv.Itoa(p.uid)
	}
	cmdline := proc.SplitCmdline([]byte(p.cmdline))
	return engine.Process{
		PID: p.pid, PPID: p.ppid, PGID: p.pgrp, SID: p.sid, UID: p.uid, User: user, Comm: p.comm, State: p.state,
		Cmdline: cmdline, Cmd: proc.JoinCmd(cmdline), Start: boot.Add(start), Age: uptime - start,
		CPU: time.Duration(p.utime+p.stime) * tick, VMSize: int64(p.vsizeKiB) * 1024, RSS: int64(p.rssKiB) * 1024,
		Threads: p.threads, TTY: p.tty, TPGID: p.tpgid, Nice: p.nice,
	}
}

// withDefaults fills what a test left out: its own group and session, S,
// one thread, no terminal's group.
func (p enrichProc) withDefaults() enrichProc {
	if p.pgrp == 0 {
		p.pgrp = p.pid
	}
	if p.sid == 0 {
		p.sid = p.pid
	}
	if p.state == "" {
		p.state = "S"
	}
	if p.threads == 0 {
		p.threads = 1
	}
	if p.tpgid == 0 {
		p.tpgid = -1
	}
	return p
}

func TestEnrichOpenFiles(t *testing.T) {
	tr := newEnrichTree(t)
	tr.fds(100, map[int]string{
		0:  "/dev/null",
		1:  "socket:[123]",
		2:  "/var/log/x.log",
		3:  "pipe:[5]",
		4:  "/home/u/pipeline.log", // kept: lfd's quirk Q9 is not
		5:  "anon_inode:[eventfd]",
		6:  "anon_inode:inotify",
		7:  "/memfd:x (deleted)",
		10: "/tmp/evil\nroot 1 forged line",
		11: "/tmp/esc\x1b[2J",
		12: "net:[4026531840]",
	})
	// Not a descriptor.
	tr.file("100/fd/junk", "")

	many := map[int]string{}
	for fd := range enrichMaxFiles + 5 {
		many[fd] = fmt.Sprintf("/data/f%03d", fd)
	}
	many[enrichMaxFiles+5] = "socket:[9]"
	tr.fds(200, many)
	var want200 strings.Builder
	for fd := range enrichMaxFiles {
		fmt.Fprintf(&want200, "/data/f%03d\n", fd)
	}
	want200.WriteString("... 5 more\n")

	tr.fds(300, nil)
	// A garbage tree: fd is a file.
	tr.file("400/fd", "garbage")

	e := tr.enricher(time.Now())
	tests := []struct {
		name string
		pid  int
		want string
	}{
		{"filtered and escaped", 100, "/dev/null\n/var/log/x.log\n/home/u/pipeline.log\n/memfd:x (deleted)\n" +
			`/tmp/evil\nroot 1 forged line` + "\n" + `/tmp/esc\x1b[2J` + "\nnet:[4026531840]\n"},
		{"capped", 200, want200.String()},
		{"no files", 300, ""},
		{"Vanished", 999, "(process 999 not found: it has exited)\n"},
		{"garbage", 400, "(unable to read the open files of process 400: not a directory)\n"},
		{"invalid pid", 0, "(no process 0)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.OpenFiles(tt.pid); got != tt.want {
				t.Errorf("OpenFiles(%d) =\n%q\nwant\n%q", tt.pid, got, tt.want)
			}
		})
	}
}

func TestEnrichMemoryMaps(t *testing.T) {
	tr := newEnrichTree(t)
	maps := "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n" +
		"7f0000000000-7f0000001000 rw-s 00000000 00:01 1024 /dev/shm/x\\012y\x1b (deleted)\n"
	tr.file("100/maps", maps)

	line := "7f0000000000-7f0000001000 r--p 00000000 08:02 173521 /usr/lib/libfoo.so\n"
	big := strings.Repeat(line, enrichMaxMaps/len(line)+10)
	tr.file("200/maps", big)
	keep := enrichMaxMaps / len(line) * len(line)

	tr.file("300/maps", "")
	if err := os.MkdirAll(filepath.Join(tr.root, "400/maps"), 0o755); err != nil {
		t.Fatal(err)
	}

	e := tr.enricher(time.Now())
	tests := []struct {
		name string
		pid  int
		want string
	}{
		{"escaped", 100, "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n" +
			// The kernel's \012 as it wrote it, the raw ESC escaped once.
			`7f0000000000-7f0000001000 rw-s 00000000 00:01 1024 /dev/shm/x\012y\x1b (deleted)` + "\n"},
		{"truncated", 200, big[:keep] + "[truncated]\n"},
		{"empty", 300, ""},
		{"Vanished", 999, "(process 999 not found: it has exited)\n"},
		{"garbage", 400, "(unable to read the memory maps of process 400: is a directory)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.MemoryMaps(tt.pid); got != tt.want {
				t.Errorf("MemoryMaps(%d) =\n%.300q\nwant\n%.300q", tt.pid, got, tt.want)
			}
		})
	}
}

func TestEnrichProcessTable(t *testing.T) {
	const day = 24 * 60 * 60 * 100 // ticks
	boot := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := boot.Add(10 * 24 * time.Hour)

	tr := newEnrichTree(t)
	tr.file("uptime", "864000.00 1000.00\n")
	tr.file("stat", fmt.Sprintf("cpu  1 2 3 4 5 6 7 8 0 0\nbtime %d\nprocs_running 1\n", boot.Unix()))
	tr.file("meminfo", "MemTotal:        1024000 kB\nMemFree:          512000 kB\n")
	tr.file("self", "not a process")
	tr.proc(enrichProc{pid: 1, comm: "systemd", cmdline: "/sbin/init\x00splash\x00", start: 1,
		utime: 500000, stime: 364000, vsizeKiB: 20000, rssKiB: 10240})
	tr.proc(enrichProc{pid: 2, comm: "kthreadd", start: 1})
	tr.proc(enrichProc{pid: 3, ppid: 2, comm: "kworker/0:0H", state: "I", nice: -20, start: 2})
	tr.proc(enrichProc{pid: 100, ppid: 1, comm: "sshd", cmdline: "sshd: /usr/sbin/sshd -D\x00\x00\x00", start: day})
	tr.proc(enrichProc{pid: 200, ppid: 100, sid: 200, comm: "bash", cmdline: "-bash\x00", uid: 4242424,
		tty: 136<<8 | 1, tpgid: 201, start: 10*day - 360000})
	tr.proc(enrichProc{pid: 201, ppid: 200, pgrp: 201, sid: 200, comm: "evil\nroot", state: "R", threads: 4,
		cmdline: "./x\x00\nroot         1  0.0 forged\x00", uid: 4242424, tty: 136<<8 | 1, tpgid: 201, nice: 5, vmLck: 4, start: 10*day - 100})
	tr.proc(enrichProc{pid: 202, ppid: 201, sid: 200, comm: "dead", state: "Z", uid: 4242424, start: 10*day - 50})
	tr.proc(enrichProc{pid: 500, ppid: 9999, comm: "orphan", cmdline: "orphan\x00", start: day})
	// A loop of parents, which only a garbage tree has.
	tr.proc(enrichProc{pid: 600, ppid: 601, comm: "a", cmdline: "a\x00", start: day})
	tr.proc(enrichProc{pid: 601, ppid: 600, comm: "b", cmdline: "b\x00", start: day})
	// Unreadable: a noted row. vanished (no stat): no row.
	tr.file("700/stat", "700 (x) garbage\n")
	if err := os.MkdirAll(filepath.Join(tr.root, "701/stat"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr.file("702/status", "Name:\tgone\n")

	got := tr.enricher(now).ProcessTable(nil)
	want := strings.Join([]string{
		"USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND",
		"root           1  1.0  1.0  20000 10240 ?        Ss   Jan01 144:00 /sbin/init splash",
		"root           2  0.0  0.0      0     0 ?        Ss   Jan01   0:00 [kthreadd]",
		"root           3  0.0  0.0      0     0 ?        I<s  Jan01   0:00  \\_ [kworker/0:0H]",
		"root         100  0.0  0.0      0     0 ?        Ss   Jan02   0:00 sshd: /usr/sbin/sshd -D",
		"4242424      200  0.0  0.0      0     0 pts/1    Ss   23:00   0:00  \\_ -bash",
		`4242424      201  0.0  0.0      0     0 pts/1    RNLl+ 23:59   0:00      \_ ./x \nroot         1  0.0 forged`,
		"4242424      202  0.0  0.0      0     0 ?        Z    23:59   0:00          \\_ [dead] <defunct>",
		"root         500  0.0  0.0      0     0 ?        Ss   Jan02   0:00 orphan",
		"root         600  0.0  0.0      0     0 ?        Ss   Jan02   0:00 a",
		"root         601  0.0  0.0      0     0 ?        Ss   Jan02   0:00  \\_ b",
		"(2 processes could not be read: is a directory)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("ProcessTable() =\n%s\nwant\n%s", got, want)
	}

	// With the snapshot the alert is about, its processes are shown as
	// it has them, and the tree gives the rest (kernel threads, and the
	// unreadable ones). 500's command line differs from the tree's, to
	// prove it comes from the snapshot; 201's STAT has no L, which the
	// snapshot does not read; 999 exited since the snapshot and is shown.
	uptime := 10 * 24 * time.Hour
	var procs []engine.Process
	for _, p := range tr.procs {
		if p.pid != 2 && p.pid != 3 {
			procs = append(procs, p.process(boot, uptime))
		}
	}
	for i := range procs {
		if procs[i].PID == 500 {
			procs[i].Cmd = "orphan --from-snapshot"
		}
	}
	gone := enrichProc{pid: 999, ppid: 1, comm: "gone", cmdline: "gone\x00", start: day}
	procs = append(procs, gone.process(boot, uptime))
	snap := engine.NewSnapshot(now, engine.Host{}, engine.Load{}, procs)
	got = tr.enricher(now).ProcessTable(snap)
	want = strings.Join([]string{
		"USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND",
		"root           1  1.0  1.0  20000 10240 ?        Ss   Jan01 144:00 /sbin/init splash",
		"root           2  0.0  0.0      0     0 ?        Ss   Jan01   0:00 [kthreadd]",
		"root           3  0.0  0.0      0     0 ?        I<s  Jan01   0:00  \\_ [kworker/0:0H]",
		"root         100  0.0  0.0      0     0 ?        Ss   Jan02   0:00 sshd: /usr/sbin/sshd -D",
		"4242424      200  0.0  0.0      0     0 pts/1    Ss   23:00   0:00  \\_ -bash",
		`4242424      201  0.0  0.0      0     0 pts/1    RNl+ 23:59   0:00      \_ ./x \nroot         1  0.0 forged`,
		"4242424      202  0.0  0.0      0     0 ?        Z    23:59   0:00          \\_ [dead] <defunct>",
		"root         500  0.0  0.0      0     0 ?        Ss   Jan02   0:00 orphan --from-snapshot",
		"root         999  0.0  0.0      0     0 ?        Ss   Jan02   0:00 gone",
		"root         600  0.0  0.0      0     0 ?        Ss   Jan02   0:00 a",
		"root         601  0.0  0.0      0     0 ?        Ss   Jan02   0:00  \\_ b",
		"(2 processes could not be read: is a directory)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("ProcessTable(snapshot) =\n%s\nwant\n%s", got, want)
	}
}

func TestEnrichProcessTableNoHostFiles(t *testing.T) {
	tr := newEnrichTree(t)
	tr.proc(enrichProc{pid: 1, comm: "init", cmdline: "init\x00", rssKiB: 8})
	got := tr.enricher(time.Now()).ProcessTable(nil)
	want := "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n" +
		"root           1  0.0    -      0     8 ?        Ss       ?   0:00 init\n"
	if got != want {
		t.Errorf("ProcessTable() =\n%q\nwant\n%q", got, want)
	}

	gone := NewHostEnricher(filepath.Join(t.TempDir(), "missing")).ProcessTable(nil)
	if !strings.HasPrefix(gone, "(unable to list processes: ") {
		t.Errorf("ProcessTable() of a missing tree = %q", gone)
	}
}

func TestEnrichMemoryStats(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "complete",
			files: map[string]string{
				"meminfo": "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n" +
					"Buffers:           20000 kB\nCached:          3000000 kB\nSwapCached:            0 kB\n" +
					"SwapTotal:       2000000 kB\nSwapFree:        1500000 kB\nHugePages_Total:       0\n",
				"stat": "cpu  600 100 200 8800 200 50 50 0 0 0\ncpu0 600 100 200 8800 200 50 50 0 0 0\n" +
					"intr 1 2 3\nctxt 100\nbtime 1767225600\nprocesses 500\nprocs_running 3\nprocs_blocked 1\n",
				"loadavg": "0.52 0.40 0.33 3/345 12345\n",
			},
			want: "procs:  3 running, 1 blocked\n" +
				"memory: total 16000000, free 1000000, available 8000000, buffers 20000, cached 3000000 (KiB)\n" +
				"swap:   total 2000000, free 1500000, used 500000 (KiB)\n" +
				"cpu:    us 7%, sy 3%, id 88%, wa 2%, st 0% (since boot)\n" +
				"load:   0.52 0.40 0.33 (1, 5, 15 min), 3/345 running/total\n",
		},
		{
			name: "garbage",
			files: map[string]string{
				"meminfo": "MemTotal: lots\nMemFree 12 kB\n\x00\x01",
				"stat":    "cpu x y z w\nprocs_running -1\n",
				"loadavg": "\x1b[2J\n",
			},
			want: "procs:  ? running, ? blocked\n" +
				"memory: total ?, free ?, available ?, buffers ?, cached ? (KiB)\n" +
				"swap:   total ?, free ?, used ? (KiB)\n" +
				"cpu:    ?\n" +
				"load:   ? (malformed loadavg)\n",
		},
		{
			name:  "missing",
			files: map[string]string{},
			want: "procs:  ? running, ? blocked\nmemory: ?\nswap:   ?\ncpu:    ?\nload:   ?\n" +
				"(unable to read stat: no such file or directory)\n" +
				"(unable to read meminfo: no such file or directory)\n" +
				"(unable to read loadavg: no such file or directory)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newEnrichTree(t)
			for name, content := range tt.files {
				tr.file(name, content)
			}
			if got := tr.enricher(time.Now()).MemoryStats(); got != tt.want {
				t.Errorf("MemoryStats() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// hexV4 prints an IPv4 address as the kernel does in /proc/net/tcp: one
// %08X word as it sits in memory.
func hexV4(a, b, c, d byte) string {
	return fmt.Sprintf("%08X", binary.NativeEndian.Uint32([]byte{a, b, c, d}))
}

// hexV6 prints a 16-byte address as four such words.
func hexV6(ip [16]byte) string {
	var s string
	for w := range 4 {
		s += fmt.Sprintf("%08X", binary.NativeEndian.Uint32(ip[4*w:]))
	}
	return s
}

// netLine is a line of /proc/net/tcp in the kernel's format.
func netLine(sl int, local, remote string, st int, tx, rx uint64, inode uint64) string {
	return fmt.Sprintf("%4d: %s %s %02X %08X:%08X 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n",
		sl, local, remote, st, tx, rx, inode)
}

func TestEnrichNetworkConnections(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	any4 := hexV4(0, 0, 0, 0)
	lo := hexV4(127, 0, 0, 1)
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}

	tr := newEnrichTree(t)
	tr.file("net/tcp", header+
		netLine(0, any4+":0016", any4+":0000", 10, 0, 3, 1000)+
		netLine(1, lo+":1538", lo+":9C40", 1, 0x10, 0x20, 1001)+
		netLine(2, hexV4(10, 0, 0, 10)+":0050", hexV4(10, 0, 0, 171)+":D431", 6, 0, 0, 0)+
		"   3: garbage line\n"+
		netLine(4, lo+":0019", lo+":C000", 1, 0, 0, 1004))
	tr.file("net/tcp6", header+
		netLine(0, hexV6([16]byte{})+":0050", hexV6([16]byte{})+":0000", 10, 0, 0, 1002)+
		netLine(1, hexV6(mapped)+":01BB", hexV6([16]byte{15: 1})+":E000", 8, 0, 0, 1005))
	tr.file("net/udp", header+
		netLine(0, any4+":0044", any4+":0000", 7, 0, 0, 1003)+
		netLine(1, lo+":0035", lo+":A000", 1, 0, 0, 99999))
	// No udp6: a host without IPv6.

	tr.fds(1, map[int]string{0: "/dev/null", 3: "socket:[1000]", 4: "socket:[77]"})
	tr.file("1/comm", "sshd\n")
	tr.fds(50, map[int]string{3: "socket:[1001]", 4: "socket:[1003]", 5: "socket:[1004]"})
	tr.file("50/comm", "evil\nudp 0 0 forged\n")
	// A later holder of the same socket does not replace the first.
	tr.fds(60, map[int]string{3: "socket:[1001]", 9: "socket:[1002]"})
	tr.file("60/comm", "nginx\n")
	// A process whose descriptors are garbage.
	tr.file("70/fd", "garbage")
	tr.file("70/comm", "x\n")
	// Socket 1005 belongs to nobody readable; 99999 to a process with no comm.
	tr.fds(80, map[int]string{1: "socket:[99999]"})

	got := tr.enricher(time.Now()).NetworkConnections()
	want := strings.Join([]string{
		"Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name",
		"tcp        3      0 0.0.0.0:22              0.0.0.0:*               LISTEN      1/sshd",
		"tcp       32     16 127.0.0.1:5432          127.0.0.1:40000         ESTABLISHED 50/evil\\nudp 0 0 forged",
		"tcp        0      0 10.0.0.10:80            10.0.0.171:54321        TIME_WAIT   -",
		"tcp        0      0 127.0.0.1:25            127.0.0.1:49152         ESTABLISHED 50/evil\\nudp 0 0 forged",
		"tcp6       0      0 :::80                   :::*                    LISTEN      60/nginx",
		"tcp6       0      0 ::ffff:192.0.2.1:443    ::1:57344               CLOSE_WAIT  -",
		"udp        0      0 0.0.0.0:68              0.0.0.0:*                           50/evil\\nudp 0 0 forged",
		"udp        0      0 127.0.0.1:53            127.0.0.1:40960         ESTABLISHED 80/?",
		"(1 malformed line left out)",
		"(the descriptors of 1 process could not be read: their sockets show no PID/Program)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("NetworkConnections() =\n%s\nwant\n%s", got, want)
	}
}

func TestEnrichNetworkConnectionsNoTables(t *testing.T) {
	tr := newEnrichTree(t)
	tr.file("1/comm", "init\n")
	got := tr.enricher(time.Now()).NetworkConnections()
	want := "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name\n" +
		"(no socket tables under net/)\n"
	if got != want {
		t.Errorf("NetworkConnections() = %q, want %q", got, want)
	}
}

func TestEnrichHTTPGet(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>\r\n<td>\ttotal</td>\n<td>evil\x1b[2J</td>\n</html>")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("a", enrichMaxBody+100)))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	e := NewHostEnricher(t.TempDir())
	e.HTTPTimeout = 200 * time.Millisecond
	withPassword := strings.Replace(srv.URL, "http://", "http://admin:secret@", 1)

	tests := []struct {
		name   string
		url    string
		want   string
		prefix bool
	}{
		{"ok", srv.URL + "/ok", "<html>\n<td>\ttotal</td>\n<td>evil\\x1b[2J</td>\n</html>", false},
		{"server error", srv.URL + "/fail", "Unable to retrieve " + srv.URL + "/fail: HTTP status 500 Internal Server Error\n", false},
		{"timeout", srv.URL + "/slow", "Unable to retrieve " + srv.URL + "/slow: ", true},
		{"truncated", srv.URL + "/big", strings.Repeat("a", enrichMaxBody) + "\n[truncated]\n", false},
		{"password masked", withPassword + "/slow", "Unable to retrieve " + strings.Replace(withPassword, "secret", "xxxxx", 1) + "/slow: ", true},
		{"file", "file:///etc/passwd", "Unable to retrieve file:///etc/passwd: only http and https URLs are accepted\n", false},
		{"ftp", "ftp://example.com/x", "Unable to retrieve ftp://example.com/x: only http and https URLs are accepted\n", false},
		{"empty", "", "Unable to retrieve : only http and https URLs are accepted\n", false},
		{"no host", "http:///x", "Unable to retrieve http:///x: no host in the URL\n", false},
		{"unparsable", "http://a b\n/", "Unable to retrieve http://a b\\n/: net/url: invalid control character in URL\n", false},
		{"refused", "http://127.0.0.1:1/", "Unable to retrieve http://127.0.0.1:1/: ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.HTTPGet(tt.url)
			if tt.prefix {
				if !strings.HasPrefix(got, tt.want) || strings.Count(got, "\n") != 1 || strings.Contains(got, "secret") {
					t.Errorf("HTTPGet(%q) = %q, want a line starting %q", tt.url, got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Errorf("HTTPGet(%q) = %.200q, want %.200q", tt.url, got, tt.want)
			}
		})
	}
	if got := e.HTTPGet(srv.URL + "/slow"); !strings.Contains(got, "Timeout") && !strings.Contains(got, "deadline") {
		t.Errorf("a timeout reads %q", got)
	}
}

// TestEnrichLive reads this machine's /proc.
func TestEnrichLive(t *testing.T) {
	e := NewHostEnricher("/proc")
	pid := os.Getpid()

	f, err := os.Create(filepath.Join(t.TempDir(), "pipeline.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if files := e.OpenFiles(pid); !strings.Contains(files, f.Name()+"\n") {
		t.Errorf("OpenFiles(self) does not list %s:\n%s", f.Name(), files)
	}

	var wg sync.WaitGroup
	var table, stats, conns, maps string
	wg.Go(func() { table = e.ProcessTable(nil) })
	wg.Go(func() { stats = e.MemoryStats() })
	wg.Go(func() { conns = e.NetworkConnections() })
	wg.Go(func() { maps = e.MemoryMaps(pid) })
	wg.Wait()

	found := false
	for line := range strings.Lines(table) {
		if fields := strings.Fields(line); len(fields) > 10 && fields[1] == strconv.Itoa(pid) {
			found = true
			exe, _ := os.Executable()
			if !strings.Contains(line, filepath.Base(exe)) {
				t.Errorf("own line does not name %s: %q", filepath.Base(exe), line)
			}
		}
	}
	if !found {
		t.Errorf("ProcessTable() has no line for pid %d:\n%s", pid, table)
	}
	if strings.Contains(stats, "?") {
		t.Errorf("MemoryStats() misses figures:\n%s", stats)
	}
	if !strings.HasPrefix(conns, "Proto ") {
		t.Errorf("NetworkConnections() =\n%s", conns)
	}
	if !strings.Contains(maps, "[stack]") {
		t.Errorf("MemoryMaps(self) has no stack:\n%.500s", maps)
	}
}

// A file mapped under a name with a newline shows in the maps as the
// kernel writes it, \012, not escaped a second time.
func TestEnrichMemoryMapsLiveNewline(t *testing.T) {
	name := filepath.Join(t.TempDir(), "map\nped\x1b")
	if err := os.WriteFile(name, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	maps := NewHostEnricher("/proc").MemoryMaps(os.Getpid())
	want := filepath.Dir(name) + `/map\012ped\x1b` + "\n"
	if !strings.Contains(maps, want) {
		t.Errorf("MemoryMaps(self) does not show %q:\n%s", want, maps)
	}
}
