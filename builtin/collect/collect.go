// Package collect builds an engine.Snapshot from a /proc tree: the host
// facts, the load, and every process with its identity, program, command
// line, cgroup and, on request, its sockets. It reads /proc only through
// package proc and imports nothing of ptrule's but proc and engine; the
// construction of the engine.Snapshot is in Collect alone.
package collect

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proc"
	"ptrule/engine"
)

// Collector reads Snapshots from a /proc tree. It holds no state between
// collections, so one Collector may serve concurrent calls to Collect.
type Collector struct {
	root     string
	ticks    uint64
	pageSize int64
	// exeFile is the entry of a process directory that leads to the file
	// the process runs, and view the directory that stands for "/" when
	// an exe path is looked up in ptrule's own view of the file system:
	// "exe" and "" (the real root) on a procfs, proc.FakeExeFile and the
	// tree's proc.FakeView directory in a fake tree (package proctest).
	exeFile string
	view    string
	// procfs is set for a real procfs, whose process directories are
	// owned by the effective uid of their process.
	procfs bool
	// maxOpen is how many process directories a collection keeps open
	// for the facts it reads later (openBudget).
	maxOpen int
}

// NewCollector returns a Collector for the /proc tree at procRoot: "/proc"
// in production, a directory built by package proctest in tests.
func NewCollector(procRoot string) (*Collector, error) {
	fi, err := os.Stat(procRoot)
	if err != nil {
		return nil, fmt.Errorf("open proc tree: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open proc tree: %s is not a directory", procRoot)
	}
	c := &Collector{
		root:     procRoot,
		ticks:    proc.ClockTicks(),
		pageSize: int64(os.Getpagesize()),
		exeFile:  "exe",
		procfs:   proc.IsProcfs(procRoot),
		maxOpen:  openBudget(),
	}
	if !c.procfs {
		c.exeFile, c.view = proc.FakeExeFile, filepath.Join(procRoot, proc.FakeView)
	}
	return c, nil
}

// BootClock reads the boot time of the collector's tree (btime in its
// stat file) with the clock tick rate, to migrate old state files. An
// unreadable btime gives an error and a clock with a zero Boot.
func (c *Collector) BootClock() (proc.BootClock, error) {
	return proc.ReadBootClock(c.root, c.ticks)
}

// CollectOptions selects what Collect gathers.
type CollectOptions struct {
	// Read are the facts (of engine.FactRead) read for every process at
	// once. The others are read on first use, through the snapshot, until
	// its Release: a tick reads a process's command line, executable,
	// cgroup or sockets only when a rule, the ignore list or an alert
	// reaches them, and most of a collection's cost is in these reads.
	// Read: engine.FactRead reads everything and keeps nothing open.
	Read engine.Facts
	// PIDs, when non-empty, limits the snapshot to these processes (those
	// that exist and are not kernel threads); the process list is then not
	// read at all.
	PIDs []int
}

// Collect reads one Snapshot of the tree: for every process, its stat and
// its owner, and the facts opts.Read names; the rest on first use (see
// engine.NewLazySnapshot). The caller must Release the snapshot when done
// with it: until then the collector keeps each process's directory open,
// so that a fact read late is the process's own, never that of a later
// process that reused its PID. Processes that vanish while they are read
// are left out, and a file that cannot be read leaves its fields empty
// (so does a fact read after the process exited); the error is reserved
// for a tree from which nothing can be read.
func (c *Collector) Collect(opts CollectOptions) (*engine.Snapshot, error) {
	// Time and uptime are read together first, so that ages and the
	// snapshot time describe the same instant.
	now := time.Now()
	col := &collection{c: c, users: map[int]string{}, files: map[string]proc.FileID{}, r: proc.NewReader()}
	host, err := col.readHost(now)
	if err != nil {
		return nil, err
	}
	pids, err := c.pids(opts.PIDs)
	if err != nil {
		return nil, err
	}
	if opts.Read.Has(engine.FactSockets) {
		col.sockets = newSocketTable(c.root)
	}
	lazy := &lazyReader{col: col}
	procs := make([]engine.Process, 0, len(pids))
	pending := make([]engine.Facts, 0, len(pids))
	open := 0
	for _, pid := range pids {
		read := opts.Read
		if open >= c.maxOpen {
			// Out of descriptors to keep: this process is read whole.
			read = engine.FactRead
		}
		p, dir, read, ok := col.readProc(pid, read)
		if !ok {
			continue
		}
		left := engine.FactRead &^ read
		if left == 0 {
			dir.Close()
			dir = proc.Dir{}
		}
		procs = append(procs, p)
		pending = append(pending, left)
		lazy.dirs = append(lazy.dirs, dir)
		if left != 0 {
			open++
		}
	}
	return engine.NewLazySnapshot(now, host, engine.Load(col.readLoad()), procs, pending, lazy), nil
}

// openBudget is how many process directories a collection keeps open: what
// the descriptor limit leaves after a margin for everything else (Go
// raises the soft limit to the hard one at start). A host with more
// processes has the rest read at once.
func openBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(lim.Cur, 1<<20)) - 512
}

// lazyReader is the engine.Loader of a collection: it reads the facts left
// unread through the process directories the collection kept open.
type lazyReader struct {
	col *collection
	// dirs are, by index in the snapshot's processes, the open directories
	// (a zero Dir when the process was read whole).
	dirs []proc.Dir
}

// Load implements engine.Loader.
func (l *lazyReader) Load(i int, p *engine.Process, f engine.Facts) {
	if i < 0 || i >= len(l.dirs) || !l.dirs[i].Valid() {
		return
	}
	if f.Has(engine.FactSockets) && l.col.sockets == nil {
		l.col.sockets = newSocketTable(l.col.c.root)
	}
	l.col.readFacts(l.dirs[i], p, f)
}

// Release implements engine.Loader: it closes every directory still open.
func (l *lazyReader) Release() {
	for i, d := range l.dirs {
		if d.Valid() {
			d.Close()
			l.dirs[i] = proc.Dir{}
		}
	}
}

// pids returns the processes to read, sorted, without duplicates and
// without ids that cannot be processes: only, when it is not empty, or
// else every process of the tree.
func (c *Collector) pids(only []int) ([]int, error) {
	var pids []int
	if len(only) > 0 {
		pids = slices.Clone(only)
	} else {
		all, err := proc.ListPIDs(c.root)
		if err != nil {
			return nil, fmt.Errorf("list processes in %s: %w", c.root, err)
		}
		pids = all
	}
	slices.Sort(pids)
	pids = slices.Compact(pids)
	return slices.DeleteFunc(pids, func(pid int) bool { return pid <= 0 }), nil
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
	// zero FileID.
	files   map[string]proc.FileID
	sockets *socketTable
	// r is reused by every read; parsers copy what they keep.
	r *proc.Reader
}

// readHost reads the host facts and keeps boot time and uptime for the
// process ages. It fails only when the tree itself cannot be opened.
func (col *collection) readHost(now time.Time) (engine.Host, error) {
	root := col.c.root
	if _, err := os.Stat(root); err != nil {
		return engine.Host{}, fmt.Errorf("read proc tree: %w", err)
	}
	var h engine.Host
	if data, err := col.r.Read(filepath.Join(root, "sys/kernel/hostname")); err == nil {
		h.Name = string(bytes.TrimSpace(data))
	}
	if data, err := col.r.Read(filepath.Join(root, "uptime")); err == nil {
		h.Uptime, _ = proc.ParseUptime(data)
	}
	var btime int64
	var haveBtime bool
	if data, err := col.r.Read(filepath.Join(root, "stat")); err == nil {
		btime, h.CPUs, haveBtime = proc.ParseSystemStat(data)
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
func (col *collection) readLoad() proc.Loadavg {
	data, err := col.r.Read(filepath.Join(col.c.root, "loadavg"))
	if err != nil {
		return proc.Loadavg{}
	}
	return proc.ParseLoadavg(data)
}

// readProc reads one process: its stat, its owner and the facts read, and
// returns it with its open directory and the facts it read (more than
// read for what may be a kernel thread). ok is false when the process is
// a kernel thread, has vanished, or its stat cannot be parsed; the
// directory is then closed.
func (col *collection) readProc(pid int, read engine.Facts) (p engine.Process, dir proc.Dir, done engine.Facts, ok bool) {
	// Every file is read through one handle on the process directory, so
	// that a PID reused meanwhile makes the reads fail instead of mixing
	// two processes.
	dir, err := proc.OpenDir(col.c.root, pid)
	if err != nil {
		return p, dir, read, false
	}
	defer func() {
		if !ok {
			dir.Close()
		}
	}()
	st, ok := col.readStat(dir)
	if !ok {
		return p, dir, read, false
	}
	p = col.processOf(pid, st)
	if !col.readUser(dir, &p) {
		return p, dir, read, false
	}
	if orphanKernelThreadCandidate(pid, st) {
		// Rare: telling needs the program and the command line now.
		read |= engine.FactExe | engine.FactCmdline
	}
	if !col.readFacts(dir, &p, read) {
		return p, dir, read, false
	}
	if orphanKernelThreadCandidate(pid, st) && p.Exe == "" && len(p.Cmdline) == 0 {
		return p, dir, read, false
	}
	return p, dir, read, true
}

// readFacts reads the facts f of p through its directory. It is false when
// the process vanished while they were read.
func (col *collection) readFacts(dir proc.Dir, p *engine.Process, f engine.Facts) bool {
	if f.Has(engine.FactExe) {
		// A zombie has no exe link and fails with ENOENT like a vanished
		// process, so an exe error never drops the process.
		if exe, err := col.r.ReadlinkAt(dir, "exe"); err == nil {
			col.readExe(dir, exe, p)
		}
	}
	if f.Has(engine.FactCmdline) && !col.readCmdline(dir, p) {
		return false
	}
	if f.Has(engine.FactCgroup) {
		if data, err := col.r.ReadAt(dir, "cgroup"); err == nil {
			p.Cgroup, p.Unit = proc.ParseCgroup(data)
		}
	}
	if f.Has(engine.FactSockets) && col.sockets != nil {
		col.readSockets(dir, p.PID, p)
	}
	return true
}

// readStat reads and parses the stat of the process; ok is false for a
// stat that cannot be read or parsed and for a kernel thread.
func (col *collection) readStat(dir proc.Dir) (st proc.Stat, ok bool) {
	data, err := col.r.ReadAt(dir, "stat")
	if err != nil {
		return st, false
	}
	st, err = proc.ParseStat(data)
	if err != nil || st.KernelThread() {
		return st, false
	}
	return st, true
}

// processOf is process pid as its stat describes it: ids, name, state,
// times and sizes.
func (col *collection) processOf(pid int, st proc.Stat) engine.Process {
	p := engine.Process{
		PID:        pid,
		PPID:       st.PPID,
		PGID:       st.PGrp,
		SID:        st.Session,
		Comm:       st.Comm,
		State:      st.State,
		StartTicks: st.StartTime,
		Threads:    st.Threads,
		TTY:        int(st.TTYNr),
		TPGID:      st.TPGID,
		Nice:       int(st.Nice),
		VMSize:     saturateInt64(st.VSize),
		RSS:        pagesToBytes(st.RSS, col.c.pageSize),
	}
	started := col.c.ticksToDuration(st.StartTime)
	p.Start = col.boot.Add(started)
	p.Age = max(col.uptime-started, 0)
	p.CPU = col.c.ticksToDuration(st.UTime + st.STime)
	return p
}

// readUser fills UID and User. On a procfs the effective uid is the owner
// of the process directory (see proc.Dir.Owner); a fake tree's directories
// are all root's, so there it is read from status. It is false when the
// process vanished.
func (col *collection) readUser(dir proc.Dir, p *engine.Process) bool {
	haveUID := false
	if !col.c.procfs {
		data, err := col.r.ReadAt(dir, "status")
		switch {
		case proc.Vanished(err):
			return false
		case err == nil:
			p.UID, haveUID = proc.ParseStatusEUID(data)
		}
	}
	if !haveUID {
		uid, err := dir.Owner()
		if err != nil {
			return false
		}
		p.UID = uid
	}
	p.User = col.userName(p.UID)
	return true
}

// readCmdline fills Cmdline and Cmd; it is false when the process
// vanished. An unreadable command line stays empty.
func (col *collection) readCmdline(dir proc.Dir, p *engine.Process) bool {
	data, err := col.r.ReadAt(dir, "cmdline")
	if proc.Vanished(err) {
		return false
	}
	if err == nil {
		p.Cmdline = proc.SplitCmdline(data)
		p.Cmd = proc.JoinCmd(p.Cmdline)
	}
	return true
}

// orphanKernelThreadCandidate reports what may be a kernel thread whose
// stat lacks PF_KTHREAD (an old kernel, a hand-made tree): kthreadd is
// PID 2 and the parent of every other kernel thread. It is one when it
// also runs no program and has no command line: in a PID namespace PID 2
// is an ordinary process whose children must not be hidden.
func orphanKernelThreadCandidate(pid int, st proc.Stat) bool {
	return (pid == 2 || st.PPID == 2) && st.VSize == 0 && st.State != "Z"
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
func (col *collection) readExe(dir proc.Dir, text string, p *engine.Process) {
	p.Exe = text
	running, err := dir.FileID(col.c.exeFile)
	if err != nil {
		p.ExeDeleted, p.ExeMismatch = strings.HasPrefix(text, proc.MemfdPrefix), true
		return
	}
	same := col.viewFile(text).SameFile(running)
	unlinked := strings.HasSuffix(text, proc.ExeDeletedSuffix) && !same
	if running.Nlink == 0 || unlinked || strings.HasPrefix(text, proc.MemfdPrefix) {
		p.ExeDeleted = true
		p.Exe = strings.TrimSuffix(text, proc.ExeDeletedSuffix)
		return
	}
	p.ExeMismatch = !same
}

// viewFile stats an exe path in ptrule's view, once per collection.
func (col *collection) viewFile(path string) proc.FileID {
	if id, ok := col.files[path]; ok {
		return id
	}
	var id proc.FileID
	if filepath.IsAbs(path) {
		id = proc.StatFileID(col.c.view + path)
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
	name := proc.LoginName(col.c.root, strconv.Itoa(uid))
	col.users[uid] = name
	return name
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
