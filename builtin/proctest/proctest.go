// Package proctest builds fake /proc trees for tests: the files that
// ptrule's collector reads, in the kernel's formats, in a directory that
// `ptrule scan --proc DIR` or collect.NewCollector can be pointed at.
//
// A tree is built with methods that write files at once, so a test can
// also break the tree afterwards (remove a process's stat, say) with
// ordinary file operations under Root. It imports nothing of ptrule's, so
// that the tests of every package, proc included, may use it.
package proctest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"ptrule/engine"
)

// ClockTicks is the kernel's USER_HZ that the tree's tick counts assume:
// 100 on every mainstream Linux architecture, which is what the collector
// reads from the aux vector there.
const ClockTicks = 100

// KernelThreadFlag is PF_KTHREAD, the stat flag of kernel threads.
const KernelThreadFlag = 0x00200000

// Defaults of a new tree.
var (
	// DefaultBoot is the boot time of a new tree.
	DefaultBoot = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// DefaultUptime is the uptime of a new tree.
	DefaultUptime = 10 * 24 * time.Hour
)

// TCP states as numbered in /proc/net/tcp (include/net/tcp_states.h).
const (
	Established = 1
	SynSent     = 2
	TimeWait    = 6
	Close       = 7
	CloseWait   = 8
	Listen      = 10
)

// ExeFile and View are the seam through which a fake tree states the file
// a process runs, which a magic link states in procfs: the collector
// (proc.FakeExeFile, proc.FakeView) follows a process directory's
// ExeFile link to a real file, whose device, inode and link count are then
// real, and looks exe paths up under the tree's View directory, which
// stands for the root of ptrule's view of the file system.
const (
	ExeFile = "exe-file"
	View    = "view"
)

// Fataler is what a Tree needs from its test to report a failure. It is
// satisfied by *testing.T, *testing.B and testscript's *TestScript.
type Fataler interface {
	Fatalf(format string, args ...any)
}

// Host sets the host files of a tree.
type Host struct {
	// Name goes to sys/kernel/hostname.
	Name string `yaml:"name"`
	// CPUs is the number of cpuN lines in stat.
	CPUs int `yaml:"cpus"`
	// Boot is btime in stat, in whole seconds.
	Boot time.Time `yaml:"boot"`
	// Uptime is the first number of uptime.
	Uptime time.Duration `yaml:"uptime"`
}

// Load is the content of loadavg.
type Load struct {
	Avg1    float64 `yaml:"avg1"`
	Avg5    float64 `yaml:"avg5"`
	Avg15   float64 `yaml:"avg15"`
	Running int     `yaml:"running"`
	Total   int     `yaml:"total"`
}

// Proc describes one process directory. Zero fields get the defaults
// named in their comments.
type Proc struct {
	PID int `yaml:"pid"`
	// PPID defaults to 1 (0 for PID 1).
	PPID int `yaml:"ppid"`
	// PGID and SID default to PID.
	PGID int `yaml:"pgid"`
	SID  int `yaml:"sid"`
	// UID is written as the real, effective, saved and filesystem uid,
	// unless RealUID is set.
	UID int `yaml:"uid"`
	// RealUID, when set, is the real (first) uid of the status line, to
	// tell the effective uid from it.
	RealUID *int `yaml:"real_uid"`
	// Comm defaults to the base name of Exe, or "proc". It is written
	// unescaped, as the kernel does: it may hold spaces, parentheses and
	// newlines.
	Comm string `yaml:"comm"`
	// Cmdline is written NUL-terminated, one NUL per argument.
	Cmdline []string `yaml:"cmdline"`
	// Exe is the target of the exe link; "" writes no link (zombies,
	// kernel threads).
	Exe string `yaml:"exe"`
	// ExeDeleted appends " (deleted)" to the exe link and makes the
	// process run a file that was unlinked (link count 0), as the kernel
	// shows a deleted executable.
	ExeDeleted bool `yaml:"exe_deleted"`
	// ExeMismatch makes the process run another file than the one the
	// tree's view holds at Exe, as a process does under a bind mount or
	// in another mount namespace. Without it (and without ExeDeleted) the
	// process runs the very file at Exe in the view, which AddProc
	// creates. Removing that file afterwards leaves the path missing
	// from the view.
	ExeMismatch bool `yaml:"exe_mismatch"`
	// ExeUnreadable writes exe as a regular file instead of a link, so
	// that readlink fails (EINVAL). On a real host the failure is EACCES,
	// which a test running as root cannot provoke.
	ExeUnreadable bool `yaml:"exe_unreadable"`
	// State is the state letter; defaults to "S".
	State string `yaml:"state"`
	// StartTicks is the start time in clock ticks after boot. When zero,
	// it is computed from Age and the tree's uptime.
	StartTicks uint64 `yaml:"start_ticks"`
	// Age is how long before the tree's uptime the process started; used
	// when StartTicks is zero.
	Age time.Duration `yaml:"age"`
	// UTime and STime are CPU times, written in clock ticks.
	UTime time.Duration `yaml:"utime"`
	STime time.Duration `yaml:"stime"`
	// VMSize is the virtual size in bytes.
	VMSize int64 `yaml:"vmsize"`
	// RSS is the resident size in bytes, written in pages of
	// os.Getpagesize() (rounded down).
	RSS int64 `yaml:"rss"`
	// Threads defaults to 1.
	Threads int `yaml:"threads"`
	// Flags are extra stat flags.
	Flags uint64 `yaml:"flags"`
	// KernelThread sets PF_KTHREAD in the stat flags.
	KernelThread bool `yaml:"kernel_thread"`
	// Sockets are socket inodes, written as fd links "socket:[N]" from
	// fd 3 on, after one link per Files entry.
	Sockets []uint64 `yaml:"sockets"`
	// Files are other fd link targets ("/dev/null", "pipe:[7]").
	Files []string `yaml:"files"`
	// Cgroup is the content of the cgroup file; "" writes "0::/".
	// A missing final newline is added.
	Cgroup string `yaml:"cgroup"`
	// RawStat and RawStatus, when set, are written verbatim instead of
	// the generated stat and status files.
	RawStat   string `yaml:"raw_stat"`
	RawStatus string `yaml:"raw_status"`
}

// Socket is one line of net/tcp, net/tcp6, net/udp or net/udp6.
type Socket struct {
	// Proto is tcp, tcp6, udp or udp6.
	Proto string `yaml:"proto"`
	// Local and Remote are "IP:PORT" ("[::1]:80" for IPv6). An empty
	// Remote is the any address with port 0. In the v6 tables an IPv4
	// address is written IPv4-mapped.
	Local  string `yaml:"local"`
	Remote string `yaml:"remote"`
	// State is the st column. Zero means LISTEN for a TCP socket without
	// a peer, ESTABLISHED for one with a peer, and CLOSE or ESTABLISHED
	// for UDP, as the kernel reports them.
	State int `yaml:"state"`
	// Inode links the socket to the processes that hold it.
	Inode uint64 `yaml:"inode"`
	// UID is the owner column.
	UID int `yaml:"uid"`
}

// Spec is a whole tree in one value, for tests that describe trees as
// data (a testscript command reading YAML, say).
type Spec struct {
	// Host and Load, when set, replace the defaults.
	Host    *Host    `yaml:"host"`
	Load    *Load    `yaml:"load"`
	Procs   []Proc   `yaml:"processes"`
	Sockets []Socket `yaml:"sockets"`
}

// Tree is a fake /proc tree on disk.
type Tree struct {
	f      Fataler
	root   string
	host   Host
	slines map[string]int
	// open holds the unlinked files that deleted executables run: they
	// live as long as the tree's test.
	open []*os.File
}

// New builds a tree with the default host files in a new t.TempDir().
func New(t interface {
	Fataler
	TempDir() string
}) *Tree {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	// The tree is proc/ in a directory of its own, so that SetPasswd has
	// a place for etc/passwd beside it.
	return NewAt(t, filepath.Join(t.TempDir(), "proc"))
}

// NewAt builds a tree with the default host files in dir, which is
// created if needed. Failures go to f.Fatalf.
func NewAt(f Fataler, dir string) *Tree {
	tr := &Tree{f: f, root: dir, slines: map[string]int{}}
	tr.helper()
	tr.mkdir(dir)
	tr.mkdir(filepath.Join(dir, "net"))
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		tr.write(filepath.Join(dir, "net", proto), netHeader(proto))
	}
	tr.SetHost(Host{Name: "testhost", CPUs: 4, Boot: DefaultBoot, Uptime: DefaultUptime})
	tr.SetLoad(Load{Avg1: 0.25, Avg5: 0.5, Avg15: 0.75, Running: 1, Total: 100})
	return tr
}

// Root is the directory to hand to the collector as its /proc.
func (tr *Tree) Root() string { return tr.root }

// SetPasswd writes the passwd(5) text that names the tree's users: a
// collector of any tree but /proc reads etc/passwd beside it, never the
// machine's. Without it every user is shown by its uid.
func (tr *Tree) SetPasswd(text string) {
	tr.helper()
	etc := filepath.Join(filepath.Dir(filepath.Clean(tr.root)), "etc")
	tr.mkdir(etc)
	tr.write(filepath.Join(etc, "passwd"), text)
}

// Dir is the directory of one process.
func (tr *Tree) Dir(pid int) string { return filepath.Join(tr.root, strconv.Itoa(pid)) }

// Host returns the host facts the tree was last given.
func (tr *Tree) Host() Host { return tr.host }

// Apply writes a whole Spec into the tree.
func (tr *Tree) Apply(s Spec) {
	tr.helper()
	if s.Host != nil {
		tr.SetHost(*s.Host)
	}
	if s.Load != nil {
		tr.SetLoad(*s.Load)
	}
	for _, p := range s.Procs {
		tr.AddProc(p)
	}
	for _, so := range s.Sockets {
		tr.AddSocket(so)
	}
}

// SetHost writes sys/kernel/hostname, stat (btime and cpu lines) and
// uptime. Zero fields get the defaults of a new tree. Processes added
// before keep the start ticks computed from the old uptime, so set the
// host first.
func (tr *Tree) SetHost(h Host) {
	tr.helper()
	if h.Name == "" {
		h.Name = "testhost"
	}
	if h.CPUs == 0 {
		h.CPUs = 4
	}
	if h.Boot.IsZero() {
		h.Boot = DefaultBoot
	}
	if h.Uptime == 0 {
		h.Uptime = DefaultUptime
	}
	tr.host = h
	tr.mkdir(filepath.Join(tr.root, "sys/kernel"))
	tr.write(filepath.Join(tr.root, "sys/kernel/hostname"), h.Name+"\n")

	var b strings.Builder
	b.WriteString("cpu  1000 0 500 100000 20 0 10 0 0 0\n")
	for i := range h.CPUs {
		fmt.Fprintf(&b, "cpu%d 250 0 125 25000 5 0 2 0 0 0\n", i)
	}
	fmt.Fprintf(&b, "intr 12345 0 0 0\nctxt 67890\nbtime %d\nprocesses 4321\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", h.Boot.Unix())
	tr.write(filepath.Join(tr.root, "stat"), b.String())

	idle := h.Uptime * time.Duration(h.CPUs)
	tr.write(filepath.Join(tr.root, "uptime"), fmt.Sprintf("%s %s\n", centis(h.Uptime), centis(idle)))
}

// SetLoad writes loadavg.
func (tr *Tree) SetLoad(l Load) {
	tr.helper()
	tr.write(filepath.Join(tr.root, "loadavg"),
		fmt.Sprintf("%.2f %.2f %.2f %d/%d 4242\n", l.Avg1, l.Avg5, l.Avg15, l.Running, l.Total))
}

// AddProc writes the directory of one process: stat, status, cmdline,
// exe, cgroup and fd/.
func (tr *Tree) AddProc(p Proc) {
	tr.helper()
	if p.PID <= 0 {
		tr.f.Fatalf("proctest: process without a positive PID: %+v", p)
		return
	}
	// The contract's process defaults, as a fixture fills them, so a
	// process described once means the same in a tree and in a fixture.
	d := engine.Process{PID: p.PID, PPID: p.PPID, PGID: p.PGID, SID: p.SID, Exe: p.Exe, Comm: p.Comm, State: p.State}
	d.FillDefaults()
	p.PPID, p.PGID, p.SID, p.Comm, p.State = d.PPID, d.PGID, d.SID, d.Comm, d.State
	if p.Comm == "" {
		// Every process has a name in stat; a fixture's has none
		// without an exe.
		p.Comm = "proc"
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	if p.StartTicks == 0 {
		start := tr.host.Uptime - p.Age
		if start < 0 {
			start = 0
		}
		p.StartTicks = durTicks(start)
	}
	flags := p.Flags | 0x00400040 // PF_FORKNOEXEC|PF_RANDOMIZE, as most processes show
	if p.KernelThread {
		flags |= KernelThreadFlag
	}

	dir := tr.Dir(p.PID)
	// A process written twice replaces the first one entirely; removing
	// the old directory also keeps a later write from following an old
	// exe link out of the tree.
	if err := os.RemoveAll(dir); err != nil {
		tr.f.Fatalf("proctest: %v", err)
		return
	}
	tr.mkdir(dir)
	tr.mkdir(filepath.Join(dir, "fd"))

	stat := p.RawStat
	if stat == "" {
		pages := p.RSS / int64(os.Getpagesize())
		// The kernel's layout: 52 fields, comm in parentheses unescaped.
		stat = fmt.Sprintf("%d (%s) %s %d %d %d 0 -1 %d 100 0 0 0 %d %d 0 0 20 0 %d 0 %d %d %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			p.PID, p.Comm, p.State, p.PPID, p.PGID, p.SID, flags,
			durTicks(p.UTime), durTicks(p.STime), p.Threads, p.StartTicks, p.VMSize, pages)
	}
	tr.write(filepath.Join(dir, "stat"), stat)

	status := p.RawStatus
	if status == "" {
		ruid := p.UID
		if p.RealUID != nil {
			ruid = *p.RealUID
		}
		status = fmt.Sprintf("Name:\t%s\nUmask:\t0022\nState:\t%s\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t64\nVmSize:\t%d kB\nVmRSS:\t%d kB\nThreads:\t%d\n",
			strings.ReplaceAll(p.Comm, "\n", "\\n"), p.State, p.PID, p.PID, p.PPID,
			ruid, p.UID, p.UID, p.UID, ruid, p.UID, p.UID, p.UID,
			p.VMSize/1024, p.RSS/1024, p.Threads)
	}
	tr.write(filepath.Join(dir, "status"), status)

	var cmdline strings.Builder
	for _, a := range p.Cmdline {
		cmdline.WriteString(a)
		cmdline.WriteByte(0)
	}
	tr.write(filepath.Join(dir, "cmdline"), cmdline.String())

	cgroup := p.Cgroup
	if cgroup == "" {
		cgroup = "0::/"
	}
	if !strings.HasSuffix(cgroup, "\n") {
		cgroup += "\n"
	}
	tr.write(filepath.Join(dir, "cgroup"), cgroup)

	exe := filepath.Join(dir, "exe")
	switch {
	case p.ExeUnreadable:
		tr.write(exe, "")
	case p.Exe != "":
		target := p.Exe
		if p.ExeDeleted {
			target += " (deleted)"
		}
		tr.symlink(target, exe)
		tr.symlink(tr.exeFile(p), filepath.Join(dir, ExeFile))
	}

	fd := 3
	for _, f := range p.Files {
		tr.symlink(f, filepath.Join(dir, "fd", strconv.Itoa(fd)))
		fd++
	}
	for _, inode := range p.Sockets {
		tr.symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", strconv.Itoa(fd)))
		fd++
	}
}

// exeFile returns the real file the process p runs, creating it: the
// file at p.Exe in the view (through a hard link of its own); another file for ExeMismatch; for
// ExeDeleted, an unlinked file held open by this process and reached
// through its /proc/PID/fd link, whose link count is 0.
func (tr *Tree) exeFile(p Proc) string {
	tr.helper()
	view := filepath.Join(tr.root, View)
	switch {
	case p.ExeDeleted:
		f, err := os.CreateTemp(tr.root, ".deleted-exe-")
		if err != nil {
			tr.f.Fatalf("proctest: %v", err)
			return ""
		}
		if err := os.Remove(f.Name()); err != nil {
			tr.f.Fatalf("proctest: %v", err)
		}
		tr.keepOpen(f)
		return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	case p.ExeMismatch:
		other := filepath.Join(tr.root, "other-exe", strconv.Itoa(p.PID))
		tr.mkdir(filepath.Dir(other))
		tr.write(other, "")
		return other
	}
	path := filepath.Join(view, p.Exe)
	if rel, err := filepath.Rel(view, path); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		tr.f.Fatalf("proctest: exe %q leads out of the tree's view", p.Exe)
		return ""
	}
	tr.mkdir(filepath.Dir(path))
	if _, err := os.Lstat(path); err != nil {
		tr.write(path, "")
	}
	// The process holds the inode, not the path: a hard link keeps it
	// when a test later replaces or removes the file at the path.
	running := filepath.Join(tr.root, "running-exe", strconv.Itoa(p.PID))
	tr.mkdir(filepath.Dir(running))
	_ = os.Remove(running)
	if err := os.Link(path, running); err != nil {
		tr.f.Fatalf("proctest: %v", err)
	}
	return running
}

// keepOpen keeps f open until the test ends, when the test can say when
// that is (testing's Cleanup, testscript's Defer); otherwise until the
// process exits.
func (tr *Tree) keepOpen(f *os.File) {
	tr.open = append(tr.open, f)
	switch t := tr.f.(type) {
	case interface{ Cleanup(func()) }:
		t.Cleanup(func() { f.Close() })
	case interface{ Defer(func()) }:
		t.Defer(func() { f.Close() })
	}
}

// AddSocket appends a line to net/<Proto>, in the kernel's format: each
// 32-bit word of an address is printed with %08X as it lies in memory, so
// its bytes come out in host order.
func (tr *Tree) AddSocket(s Socket) {
	tr.helper()
	line, err := FormatNetLine(tr.slines[s.Proto], s)
	if err != nil {
		tr.f.Fatalf("proctest: %v", err)
		return
	}
	tr.slines[s.Proto]++
	path := filepath.Join(tr.root, "net", s.Proto)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tr.f.Fatalf("proctest: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		tr.f.Fatalf("proctest: %v", err)
	}
}

// FormatNetLine renders s as line number sl of its /proc/net table,
// newline included.
func FormatNetLine(sl int, s Socket) (string, error) {
	v6 := false
	switch s.Proto {
	case "tcp", "udp":
	case "tcp6", "udp6":
		v6 = true
	default:
		return "", fmt.Errorf("socket %d: unknown proto %q", s.Inode, s.Proto)
	}
	local, err := netip.ParseAddrPort(s.Local)
	if err != nil {
		return "", fmt.Errorf("socket %d: local address: %w", s.Inode, err)
	}
	remote := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if v6 {
		remote = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	if s.Remote != "" {
		if remote, err = netip.ParseAddrPort(s.Remote); err != nil {
			return "", fmt.Errorf("socket %d: remote address: %w", s.Inode, err)
		}
	}
	lhex, err := hexAddr(local.Addr(), v6)
	if err != nil {
		return "", fmt.Errorf("socket %d: local address: %w", s.Inode, err)
	}
	rhex, err := hexAddr(remote.Addr(), v6)
	if err != nil {
		return "", fmt.Errorf("socket %d: remote address: %w", s.Inode, err)
	}
	state := s.State
	if state == 0 {
		peer := !remote.Addr().Unmap().IsUnspecified()
		switch {
		case peer:
			state = Established
		case s.Proto == "tcp" || s.Proto == "tcp6":
			state = Listen
		default:
			state = Close
		}
	}
	tail := " 1 0000000000000000 100 0 0 10 0"
	if s.Proto == "udp" || s.Proto == "udp6" {
		tail = " 2 0000000000000000 0"
	}
	return fmt.Sprintf("%4d: %s:%04X %s:%04X %02X 00000000:00000000 00:00000000 00000000 %5d        0 %d%s\n",
		sl, lhex, local.Port(), rhex, remote.Port(), state, s.UID, s.Inode, tail), nil
}

// hexAddr prints an address as the kernel does in the v4 (8 digits) or
// v6 (32 digits) tables.
func hexAddr(a netip.Addr, v6 bool) (string, error) {
	if !v6 {
		if !a.Unmap().Is4() {
			return "", fmt.Errorf("%s is not an IPv4 address", a)
		}
		b := a.Unmap().As4()
		return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[:])), nil
	}
	b := a.As16()
	var s strings.Builder
	for w := range 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[4*w:]))
	}
	return s.String(), nil
}

func netHeader(proto string) string {
	if strings.HasSuffix(proto, "6") {
		return "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	}
	if strings.HasPrefix(proto, "udp") {
		return "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	}
	return "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
}

// durTicks converts a duration to clock ticks, rounding down.
func durTicks(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / (time.Second / ClockTicks))
}

// centis prints a duration as seconds with two decimals, as uptime does.
func centis(d time.Duration) string {
	c := d / (10 * time.Millisecond)
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

func (tr *Tree) helper() {
	if h, ok := tr.f.(interface{ Helper() }); ok {
		h.Helper()
	}
}

func (tr *Tree) mkdir(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tr.f.Fatalf("proctest: %v", err)
	}
}

func (tr *Tree) write(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tr.f.Fatalf("proctest: %v", err)
	}
}

func (tr *Tree) symlink(target, path string) {
	if err := os.Symlink(target, path); err != nil {
		tr.f.Fatalf("proctest: %v", err)
	}
}
