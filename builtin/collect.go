// Package builtin is the vocabulary the rules speak: the /proc collector
// that fills an engine.Snapshot, and the pieces that act on the host.
package builtin

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"ptrule/engine"
)

// Collector reads Snapshots from a /proc tree. It holds no state between
// collections, so one Collector may serve concurrent calls to Collect.
type Collector struct {
	// fs is procfs's handle on the tree. Per-process files are read with
	// the parsers in this package instead of procfs's, because those
	// parse fields ptrule never uses on the hot path (fmt.Fscan over the
	// whole stat line, every status key) and fail or panic on a short
	// line, which a fake or hostile tree can present.
	fs       procfs.FS
	root     string
	ticks    uint64
	pageSize int64
	// exeFile is the entry of a process directory that leads to the file
	// the process runs, and view the directory that stands for "/" when
	// an exe path is looked up in ptrule's own view of the file system.
	// On a procfs they are the magic link "exe" and "" (the real root).
	// A fake tree (package proctest) is no procfs and cannot hold magic
	// links: there the file is behind FakeExeFile and the view is the
	// tree's FakeView directory, so that a test states device, inode and
	// link count with real files.
	exeFile string
	view    string
}

// The seam of fake /proc trees; see Collector.exeFile. Package proctest
// writes these entries.
const (
	// FakeExeFile is the entry of a fake process directory that links to
	// the file the process runs, as the magic link exe does in procfs.
	FakeExeFile = "exe-file"
	// FakeView is the directory of a fake tree that stands for the root
	// of ptrule's view of the file system.
	FakeView = "view"
)

// NewCollector returns a Collector for the /proc tree at procRoot: "/proc"
// in production, a directory built by package proctest in tests.
func NewCollector(procRoot string) (*Collector, error) {
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("open proc tree: %w", err)
	}
	c := &Collector{
		fs:       pfs,
		root:     procRoot,
		ticks:    clockTicks(),
		pageSize: int64(os.Getpagesize()),
		exeFile:  "exe",
	}
	var st unix.Statfs_t
	if err := unix.Statfs(procRoot, &st); err == nil && st.Type != unix.PROC_SUPER_MAGIC {
		c.exeFile, c.view = FakeExeFile, filepath.Join(procRoot, FakeView)
	}
	return c, nil
}

// CollectOptions selects what Collect gathers.
type CollectOptions struct {
	// Sockets walks /proc/PID/fd and the /proc/net tables to fill
	// Connections and Listening. Without it no fd is looked at, which is
	// most of the cost of a collection: the daemon asks for sockets only
	// when a due rule references them.
	Sockets bool
	// PIDs, when non-empty, limits the snapshot to these processes (those
	// that exist and are not kernel threads); the process list is then not
	// read at all.
	PIDs []int
}

// Collect reads one Snapshot of the tree, built by engine.NewSnapshot (the
// aggregates that depend on rules are each evaluation's). Processes that
// vanish while they are read are left out, and a file that cannot be read
// leaves its fields empty; the error is reserved for a tree from which
// nothing can be read.
func (c *Collector) Collect(opts CollectOptions) (*engine.Snapshot, error) {
	// Time and uptime are read together first, so that ages and the
	// snapshot time describe the same instant.
	now := time.Now()
	col := &collection{c: c, users: map[int]string{}, files: map[string]fileID{}, buf: make([]byte, 0, 4096)}
	host, err := col.readHost(now)
	if err != nil {
		return nil, err
	}

	var pids []int
	if len(opts.PIDs) > 0 {
		pids = slices.Clone(opts.PIDs)
	} else {
		all, err := c.fs.AllProcs()
		if err != nil {
			return nil, fmt.Errorf("list processes in %s: %w", c.root, err)
		}
		pids = make([]int, 0, len(all))
		for _, p := range all {
			pids = append(pids, p.PID)
		}
	}
	slices.Sort(pids)
	pids = slices.Compact(pids)

	if opts.Sockets {
		col.sockets = newSocketTable(c.root)
	}
	procs := make([]engine.Process, 0, len(pids))
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		if p, ok := col.readProc(pid); ok {
			procs = append(procs, p)
		}
	}
	host.Procs = len(procs)

	return engine.NewSnapshot(now, host, col.readLoad(), procs), nil
}

// collection is the state of one Collect call: what is read once per
// snapshot and shared by all its processes.
type collection struct {
	c      *Collector
	boot   time.Time
	uptime time.Duration
	users  map[int]string
	// files caches the identity of each exe path in ptrule's view: many
	// processes run the same program. A failed stat is cached as the
	// zero fileID.
	files   map[string]fileID
	sockets *socketTable
	// buf is reused by every read; parsers copy what they keep.
	buf []byte
	// link is reused by every readlink.
	link [4096]byte
}

// readHost reads the host facts and keeps boot time and uptime for the
// process ages. It fails only when the tree itself cannot be opened.
func (col *collection) readHost(now time.Time) (engine.Host, error) {
	root := col.c.root
	if _, err := os.Stat(root); err != nil {
		return engine.Host{}, fmt.Errorf("read proc tree: %w", err)
	}
	var h engine.Host
	if data, err := col.read(filepath.Join(root, "sys/kernel/hostname")); err == nil {
		h.Name = string(bytes.TrimSpace(data))
	}
	if data, err := col.read(filepath.Join(root, "uptime")); err == nil {
		h.Uptime, _ = parseUptime(data)
	}
	var btime int64
	var haveBtime bool
	if data, err := col.read(filepath.Join(root, "stat")); err == nil {
		btime, h.CPUs, haveBtime = parseSystemStat(data)
	}
	if haveBtime {
		h.Boot = time.Unix(btime, 0)
	} else {
		// Without btime the boot clock is the best estimate; it keeps
		// start times plausible instead of near the year 1.
		h.Boot = now.Add(-h.Uptime).Truncate(time.Second)
	}
	col.boot, col.uptime = h.Boot, h.Uptime
	return h, nil
}

// readLoad reads /proc/loadavg; an unreadable file leaves the load at zero.
func (col *collection) readLoad() engine.Load {
	data, err := col.read(filepath.Join(col.c.root, "loadavg"))
	if err != nil {
		return engine.Load{}
	}
	return parseLoadavg(data)
}

// readProc reads one process. ok is false when the process is a kernel
// thread, has vanished, or its stat cannot be parsed.
func (col *collection) readProc(pid int) (p engine.Process, ok bool) {
	// Every file is opened relative to one handle on the process
	// directory: if the process exits and its PID is reused meanwhile,
	// the reads fail with ESRCH instead of mixing two processes.
	dir, err := unix.Open(filepath.Join(col.c.root, strconv.Itoa(pid)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return p, false
	}
	defer unix.Close(dir)

	data, err := col.readAt(dir, "stat")
	if err != nil {
		return p, false
	}
	st, err := parsePidStat(data)
	if err != nil || st.flags&kthreadFlag != 0 {
		return p, false
	}

	p = engine.Process{
		PID:        pid,
		PPID:       st.ppid,
		PGID:       st.pgrp,
		SID:        st.session,
		Comm:       st.comm,
		State:      st.state,
		StartTicks: st.starttime,
		Threads:    st.threads,
		VMSize:     saturateInt64(st.vsize),
		RSS:        pagesToBytes(st.rss, col.c.pageSize),
	}
	started := col.c.ticksToDuration(st.starttime)
	p.Start = col.boot.Add(started)
	p.Age = max(col.uptime-started, 0)
	p.CPU = col.c.ticksToDuration(st.utime + st.stime)

	haveUID := false
	data, err = col.readAt(dir, "status")
	switch {
	case vanished(err):
		return p, false
	case err == nil:
		p.UID, haveUID = parseStatusEUID(data)
	}
	if !haveUID {
		// The directory's owner is the effective uid of a dumpable
		// process; it is the best guess when status is unusable.
		var fst unix.Stat_t
		if unix.Fstat(dir, &fst) != nil {
			return p, false
		}
		p.UID = int(fst.Uid)
	}
	p.User = col.userName(p.UID)

	// A zombie has no exe link and fails with ENOENT like a vanished
	// process, so an exe error never drops the process.
	if exe, err := col.readlinkAt(dir, "exe"); err == nil {
		col.readExe(dir, exe, &p)
	}

	data, err = col.readAt(dir, "cmdline")
	if vanished(err) {
		return p, false
	}
	if err == nil {
		p.Cmdline = splitCmdline(data)
		p.Cmd = joinCmd(p.Cmdline)
	}

	// The kernel marks its threads with PF_KTHREAD. Should the flag be
	// missing (an old kernel, a hand-made tree), kthreadd is PID 2 and
	// the parent of every other kernel thread; the test is limited to
	// processes without a program because in a PID namespace PID 2 is an
	// ordinary process whose children must not be hidden.
	if (pid == 2 || st.ppid == 2) && p.Exe == "" && len(p.Cmdline) == 0 && st.vsize == 0 && st.state != "Z" {
		return p, false
	}

	if data, err := col.readAt(dir, "cgroup"); err == nil {
		p.Cgroup, p.Unit = parseCgroup(data)
	}

	if col.sockets != nil {
		col.readSockets(dir, pid, &p)
	}
	return p, true
}

// fileID identifies a file: device and inode, with its link count. The
// zero value stands for a file that could not be stat'ed.
type fileID struct {
	dev, ino, nlink uint64
	ok              bool
}

func fileIDOf(st *unix.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, nlink: uint64(st.Nlink), ok: true}
}

// readExe fills Exe, ExeDeleted and ExeMismatch from the text of the exe
// link and from the file behind it. The text alone proves nothing: a file
// may be named "x (deleted)", and in another mount namespace, or under a
// bind mount, any file may show under any path. So:
//
//   - the program is deleted when the kernel's link count of the file it
//     runs is 0, when it runs from memory (memfd), or when the link ends in
//     " (deleted)" and the file at that very path in ptrule's view is not
//     the one it runs (the name it was started as was unlinked, even if
//     another hard link keeps the file);
//   - otherwise its path counts as its executable only when the file at
//     that path in ptrule's view is the one it runs (device and inode).
//
// The suffix is removed only from a deleted program's path. When the file
// behind the link cannot be stat'ed nothing is confirmed: the text is kept
// whole and ExeMismatch is set, so no exe: entry hides the process.
func (col *collection) readExe(dir int, text string, p *engine.Process) {
	p.Exe = text
	var st unix.Stat_t
	if err := unix.Fstatat(dir, col.c.exeFile, &st, 0); err != nil {
		p.ExeDeleted, p.ExeMismatch = strings.HasPrefix(text, memfdPrefix), true
		return
	}
	running := fileIDOf(&st)
	at := col.viewFile(text)
	same := at.ok && at.dev == running.dev && at.ino == running.ino
	unlinked := strings.HasSuffix(text, exeDeletedSuffix) && !same
	if running.nlink == 0 || unlinked || strings.HasPrefix(text, memfdPrefix) {
		p.ExeDeleted = true
		p.Exe = strings.TrimSuffix(text, exeDeletedSuffix)
		return
	}
	p.ExeMismatch = !same
}

// viewFile stats an exe path in ptrule's view, once per collection.
func (col *collection) viewFile(path string) fileID {
	if id, ok := col.files[path]; ok {
		return id
	}
	var id fileID
	if filepath.IsAbs(path) {
		var st unix.Stat_t
		if unix.Stat(col.c.view+path, &st) == nil {
			id = fileIDOf(&st)
		}
	}
	col.files[path] = id
	return id
}

// userName resolves a uid once per snapshot; users can be renamed, so the
// cache does not outlive the snapshot.
func (col *collection) userName(uid int) string {
	if name, ok := col.users[uid]; ok {
		return name
	}
	name := loginName(col.c.root, strconv.Itoa(uid))
	col.users[uid] = name
	return name
}

// loginName returns the name the passwd database of the tree at procRoot
// gives the uid id, or id itself when it gives none. For the host's /proc
// that is the system's database (files, LDAP, whatever NSS is set up
// with); any other tree — a fake one in tests, a container's — names users
// from the file etc/passwd beside it, and has no names without one. So a
// test never depends on the users of the machine it runs on.
func loginName(procRoot, id string) string {
	if filepath.Clean(procRoot) == "/proc" {
		if u, err := user.LookupId(id); err == nil && u.Username != "" {
			return u.Username
		}
		return id
	}
	// Regular and capped: a FIFO or device in its place must not hang.
	data, err := FileTrust{SkipOwnership: true}.ReadFile(filepath.Join(filepath.Dir(filepath.Clean(procRoot)), "etc", "passwd"))
	if err != nil {
		return id
	}
	if name := passwdName(data, id); name != "" {
		return name
	}
	return id
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

// read reads a whole file into the shared buffer. The result is valid
// until the next read.
func (col *collection) read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return col.readFD(fd, path)
}

// readAt reads the file name in the directory dir into the shared buffer.
func (col *collection) readAt(dir int, name string) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return col.readFD(fd, name)
}

// readFD reads an open file into the shared buffer. The files of /proc
// produce their whole content in one read when the buffer is large
// enough, which also makes the content consistent, and a short read marks
// their end; only a read that fills the buffer is followed by another.
func (col *collection) readFD(fd int, name string) ([]byte, error) {
	col.buf = col.buf[:0]
	for {
		if len(col.buf) == cap(col.buf) {
			if len(col.buf) >= maxProcFileSize {
				return col.buf, nil
			}
			col.buf = slices.Grow(col.buf, len(col.buf))
		}
		want := cap(col.buf) - len(col.buf)
		n, err := unix.Read(fd, col.buf[len(col.buf):cap(col.buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		col.buf = col.buf[:len(col.buf)+n]
		if n < want {
			return col.buf, nil
		}
	}
}

// readlinkAt reads the symbolic link name in the directory dir.
func (col *collection) readlinkAt(dir int, name string) (string, error) {
	buf := col.link[:]
	for {
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		// The target filled the buffer and may be cut: retry larger,
		// as os.Readlink does.
		if len(buf) >= maxProcFileSize {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: unix.ENAMETOOLONG}
		}
		buf = make([]byte, 2*len(buf))
	}
}

// ticksToDuration converts kernel clock ticks to a duration without going
// through floating point, saturating instead of overflowing.
func (c *Collector) ticksToDuration(t uint64) time.Duration {
	secs := t / c.ticks
	if secs > math.MaxInt64/uint64(time.Second)-1 {
		return math.MaxInt64
	}
	return time.Duration(secs)*time.Second + time.Duration(t%c.ticks)*time.Second/time.Duration(c.ticks)
}

// pagesToBytes converts the rss page count, saturating on nonsense.
func pagesToBytes(pages, pageSize int64) int64 {
	switch {
	case pages <= 0:
		return 0
	case pages > math.MaxInt64/pageSize:
		return math.MaxInt64
	}
	return pages * pageSize
}

func saturateInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// exeDeletedSuffix is what the kernel appends to the exe link of a program
// whose file was unlinked or replaced; memfd programs always carry it. It
// is removed only when the kernel's link count says the file is gone: a
// file may carry the suffix in its own name.
const exeDeletedSuffix = " (deleted)"

// memfdPrefix starts the exe link of a program run from memory
// (memfd_create and fexecve). It has no file at all, so it counts as
// deleted whatever link count its inode shows.
const memfdPrefix = "/memfd:"

// parseStatusEUID returns the effective uid, the second number of the
// "Uid:" line of /proc/PID/status.
func parseStatusEUID(data []byte) (int, bool) {
	rest, found := statusField(data, "Uid:")
	if !found {
		return 0, false
	}
	_, rest = cutField(rest)
	euid, _ := cutField(rest)
	v, ok := digitsUint(euid)
	if !ok || v > math.MaxUint32 {
		return 0, false
	}
	return int(v), true
}

// splitCmdline splits /proc/PID/cmdline into argv. Every argument ends in
// a NUL; trailing NULs are all dropped because programs that rewrite their
// title (nginx, postgres) pad it with NULs that are no arguments.
func splitCmdline(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

// joinCmd joins argv with single spaces and trims trailing white space, as
// lfd does for its cmd: ignore entries.
func joinCmd(argv []string) string {
	return strings.TrimRight(strings.Join(argv, " "), " \t\n\v\f\r")
}

// unitSuffixes are the systemd unit types that own processes or may show
// up as cgroups.
var unitSuffixes = []string{".service", ".scope", ".socket", ".mount", ".swap", ".target"}

// parseCgroup returns the cgroup of /proc/PID/cgroup (the v2 path, else
// the first v1 path) and the systemd unit: from the v2 path, or from the
// name=systemd hierarchy on a v1 host.
func parseCgroup(data []byte) (path, unit string) {
	var v1, systemd string
	haveV2, haveV1 := false, false
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		// hierarchy-ID:controller-list:path; the path may contain ':'.
		id, rest, ok1 := bytes.Cut(line, []byte{':'})
		ctrls, p, ok2 := bytes.Cut(rest, []byte{':'})
		if !ok1 || !ok2 || len(id) == 0 {
			continue
		}
		switch {
		case string(id) == "0" && len(ctrls) == 0:
			if !haveV2 {
				path, haveV2 = string(p), true
			}
		default:
			if !haveV1 {
				v1, haveV1 = string(p), true
			}
			for c := range bytes.SplitSeq(ctrls, []byte{','}) {
				if string(c) == "name=systemd" && systemd == "" {
					systemd = string(p)
				}
			}
		}
	}
	if haveV2 {
		unit = unitOf(path)
	} else {
		path = v1
	}
	if unit == "" {
		unit = unitOf(systemd)
	}
	return path, unit
}

// unitOf returns the deepest component of a cgroup path that names a
// systemd unit: "/user.slice/user-1000.slice/session-3.scope" is in
// "session-3.scope".
func unitOf(path string) string {
	for path != "" {
		i := strings.LastIndexByte(path, '/')
		name := path[i+1:]
		for _, suf := range unitSuffixes {
			if len(name) > len(suf) && strings.HasSuffix(name, suf) {
				return name
			}
		}
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ""
}

// parseUptime returns the first number of /proc/uptime, seconds with a
// decimal fraction, exactly.
func parseUptime(data []byte) (time.Duration, bool) {
	f, _ := cutField(data)
	return parseSeconds(f)
}

// parseSeconds parses a non-negative decimal number of seconds such as
// "431.47" without going through floating point.
func parseSeconds(b []byte) (time.Duration, bool) {
	whole, frac, _ := bytes.Cut(b, []byte{'.'})
	secs, ok := digitsUint(whole)
	if !ok || secs > math.MaxInt64/uint64(time.Second)-1 {
		return 0, false
	}
	d := time.Duration(secs) * time.Second
	scale := time.Second
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		scale /= 10
		d += time.Duration(c-'0') * scale
	}
	return d, true
}

// parseSystemStat returns the boot time and the number of CPUs from
// /proc/stat.
func parseSystemStat(data []byte) (btime int64, cpus int, ok bool) {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		key, rest := cutField(line)
		switch {
		case string(key) == "btime":
			v, _ := cutField(rest)
			if n, good := digitsUint(v); good && n <= math.MaxInt64 {
				btime, ok = int64(n), true
			}
		case len(key) > 3 && string(key[:3]) == "cpu":
			if _, good := digitsUint(key[3:]); good {
				cpus++
			}
		}
	}
	return btime, cpus, ok
}

// parseLoadavg parses /proc/loadavg: "0.10 0.16 0.07 1/83 4448". Fields
// that do not parse stay zero.
func parseLoadavg(data []byte) engine.Load {
	var l engine.Load
	var f [4][]byte
	rest := data
	for i := range f {
		f[i], rest = cutField(rest)
	}
	l.Avg1 = loadFloat(f[0])
	l.Avg5 = loadFloat(f[1])
	l.Avg15 = loadFloat(f[2])
	running, total, _ := bytes.Cut(f[3], []byte{'/'})
	l.Running, _ = digitsInt(running)
	l.Total, _ = digitsInt(total)
	return l
}

func loadFloat(b []byte) float64 {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
