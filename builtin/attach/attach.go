// Package attach reads the attachments of an alert when it is rendered:
// a process's open files and memory maps, tables like those of ps, vmstat
// and netstat, and the fetch of a status page over HTTP (HostEnricher, an
// engine.Enricher). Every /proc read goes through package proc, and
// everything taken from a process is escaped with engine.Display. It
// imports proc and engine, nothing else of ptrule's.
package attach

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"ptrule/builtin/proc"
	"ptrule/engine"
)

// Limits of the text an alert carries. An alert is mail: a fork bomb or a
// process holding a million descriptors must not turn one into megabytes.
const (
	// enrichMaxFiles is the number of open files listed per process.
	enrichMaxFiles = 200
	// enrichMaxMaps is the number of bytes of /proc/PID/maps kept.
	enrichMaxMaps = 64 << 10
	// enrichMaxRows is the number of processes or sockets listed by
	// ProcessTable and NetworkConnections.
	enrichMaxRows = 10000
	// enrichMaxCmdline is the number of bytes of a command line shown in
	// the process table.
	enrichMaxCmdline = 4096
	// enrichMaxDepth bounds the indentation of the process forest, so a
	// long chain of processes cannot make the table quadratic in size.
	enrichMaxDepth = 32
	// enrichMaxOwnerFDs is the number of descriptors read to name the
	// processes holding the sockets of NetworkConnections.
	enrichMaxOwnerFDs = 1 << 20
	// enrichMaxBody is the number of bytes of an HTTP body kept.
	enrichMaxBody = 256 << 10
	// enrichMaxFile bounds any other read of a /proc file.
	enrichMaxFile = 1 << 20
	// DefaultHTTPTimeout is the HTTPGet timeout of a new HostEnricher,
	// lfd's for the Apache status page.
	DefaultHTTPTimeout = 10 * time.Second
)

// HostEnricher reads alert attachments from a /proc tree when an alert is
// rendered. It implements engine.Enricher without running ps, vmstat or
// netstat, which lfd needed and which minimal hosts and containers lack.
//
// Every method returns text and never fails: a process that vanished, a
// file that cannot be read or does not parse leaves a note in parentheses
// and the rest of the text stands. Names and paths that come from
// processes are escaped with engine.Display, so that a process cannot
// forge lines in an alert. A HostEnricher keeps no state between calls and
// may be used by several goroutines at once once HTTPTimeout is set.
type HostEnricher struct {
	// HTTPTimeout bounds a whole HTTPGet: connecting, the headers and
	// the body. Zero or negative means DefaultHTTPTimeout.
	HTTPTimeout time.Duration

	root        string
	ticks       uint64
	maxOwnerFDs int
	pageSize    uint64
	transport   *http.Transport
	now         func() time.Time
}

var _ engine.Enricher = (*HostEnricher)(nil)

// NewHostEnricher returns a HostEnricher for the /proc tree at procRoot:
// "/proc" in production, a fake tree in tests.
func NewHostEnricher(procRoot string) *HostEnricher {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1
	t.IdleConnTimeout = 30 * time.Second
	return &HostEnricher{
		HTTPTimeout: DefaultHTTPTimeout,
		root:        procRoot,
		ticks:       proc.ClockTicks(),
		maxOwnerFDs: enrichMaxOwnerFDs,
		pageSize:    uint64(os.Getpagesize()),
		transport:   t,
		now:         time.Now,
	}
}

func (e *HostEnricher) path(elem ...string) string {
	return filepath.Join(append([]string{e.root}, elem...)...)
}

// enrichErr is the text of an error for a note: the system's reason
// without the path (the note names what was read), escaped.
func enrichErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return engine.Display(err.Error())
}

// enrichCount prints a count with the singular or plural noun.
func enrichCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// enrichProcessNote is the note for a per-process file that could not be read.
func enrichProcessNote(what string, pid int, err error) string {
	if proc.Vanished(err) {
		return fmt.Sprintf("(process %d not found: it has exited)\n", pid)
	}
	return fmt.Sprintf("(unable to read the %s of process %d: %s)\n", what, pid, enrichErr(err))
}

// OpenFiles lists the targets of the process's descriptors, one per line
// in descriptor order. Sockets (socket:[N]), pipes (pipe:[N]) and
// anonymous inodes (anon_inode:...) are left out; unlike lfd (its quirk
// Q9) a file whose path merely contains "pipe" is kept. Every file has an
// absolute path, so no file can be mistaken for one of these.
func (e *HostEnricher) OpenFiles(pid int) string {
	if pid <= 0 {
		return fmt.Sprintf("(no process %d)\n", pid)
	}
	var b strings.Builder
	listed, more, unreadable := 0, 0, 0
	var lastErr error
	err := proc.EachFD(e.root, pid, func(_ int, target string, err error) {
		switch {
		case proc.Vanished(err):
			// Closed since the directory was listed.
			return
		case err != nil:
			unreadable++
			lastErr = err
			return
		case strings.HasPrefix(target, "socket:["),
			strings.HasPrefix(target, "pipe:["),
			strings.HasPrefix(target, "anon_inode:"):
			return
		}
		if listed == enrichMaxFiles {
			more++
			return
		}
		listed++
		b.WriteString(engine.Display(target))
		b.WriteByte('\n')
	})
	if err != nil {
		return enrichProcessNote("open files", pid, err)
	}
	if more > 0 {
		fmt.Fprintf(&b, "... %d more\n", more)
	}
	if unreadable > 0 {
		fmt.Fprintf(&b, "(%s could not be read: %s)\n", enrichCount(unreadable, "descriptor", "descriptors"), enrichErr(lastErr))
	}
	return b.String()
}

// MemoryMaps returns /proc/PID/maps, cut after 64 KiB at a line end with a
// "[truncated]" line. The kernel already writes a newline in a mapped path
// as \012, so its backslashes are kept as they are (doubling them showed
// \\012, an escape of an escape); other control characters and bytes that
// are not UTF-8 are escaped here (see mapsLine).
func (e *HostEnricher) MemoryMaps(pid int) string {
	if pid <= 0 {
		return fmt.Sprintf("(no process %d)\n", pid)
	}
	data, truncated, err := proc.ReadCapped(e.path(strconv.Itoa(pid), "maps"), enrichMaxMaps)
	if err != nil {
		return enrichProcessNote("memory maps", pid, err)
	}
	if truncated {
		if i := strings.LastIndexByte(string(data), '\n'); i >= 0 {
			data = data[:i+1]
		}
	}
	var b strings.Builder
	b.Grow(len(data) + 16)
	for line := range strings.Lines(string(data)) {
		b.WriteString(mapsLine(strings.TrimSuffix(line, "\n")))
		b.WriteByte('\n')
	}
	if truncated {
		b.WriteString("[truncated]\n")
	}
	return b.String()
}

// mapsLine escapes a line of /proc/PID/maps for display as engine.Display
// does, except that a backslash stays one backslash: the kernel's own \012
// must read as written. A path holding a literal backslash sequence looks
// the same as the kernel's escape in the kernel's text already; no control
// character reaches the alert unescaped either way.
func mapsLine(line string) string {
	parts := strings.Split(line, `\`)
	for i, p := range parts {
		parts[i] = engine.Display(p)
	}
	return strings.Join(parts, `\`)
}

// enrichTTY names a controlling terminal from tty_nr as ps does for the
// common devices, "?" for none and MAJOR,MINOR for others.
func enrichTTY(nr int64) string {
	if nr <= 0 {
		return "?"
	}
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.FormatInt((major-136)*256+minor, 10)
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatInt(minor, 10)
	case major == 4:
		return "ttyS" + strconv.FormatInt(minor-64, 10)
	}
	return strconv.FormatInt(major, 10) + "," + strconv.FormatInt(minor, 10)
}

// enrichHost is what the process table needs from the host files.
type enrichHost struct {
	uptime   float64 // seconds since boot, 0 if unknown
	btime    int64   // boot time in epoch seconds, 0 if unknown
	memTotal uint64  // KiB, 0 if unknown
}

func (e *HostEnricher) readHost() enrichHost {
	var h enrichHost
	if data, _, err := proc.ReadCapped(e.path("uptime"), enrichMaxFile); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil && v > 0 && !math.IsInf(v, 0) {
				h.uptime = v
			}
		}
	}
	if data, _, err := proc.ReadCapped(e.path("stat"), enrichMaxFile); err == nil {
		if btime, _, ok := proc.ParseSystemStat(data); ok {
			h.btime = btime
		}
	}
	if data, _, err := proc.ReadCapped(e.path("meminfo"), enrichMaxFile); err == nil {
		h.memTotal, _ = proc.ParseMeminfo(data)["MemTotal"]
	}
	return h
}

// enrichRow is one process of the table.
type enrichRow struct {
	pid, ppid int
	head      string // every column before COMMAND
	cmd       string
}

// ProcessTable lists every process like `ps axuf`: USER PID %CPU %MEM VSZ
// RSS TTY STAT START TIME COMMAND, as a forest with children indented
// under their parent by "\_ ". As in ps, the children of init start their
// own trees (indenting them would indent nearly every line), and a
// process without a command line (a kernel thread) shows as [name].
//
// The processes of s, the snapshot the alert is about, are shown as the
// rules saw them, from the snapshot: only their command lines are read,
// if the rules did not read them already, through the snapshot. The
// processes a snapshot leaves out (kernel threads, and those started
// since) are read from the tree. STAT shows L (locked pages) only for
// those: the snapshot does not read each process's status.
//
// %CPU is what ps shows too: CPU time over the time since the process
// started, a lifetime average, not the current use, which would need two
// readings some time apart. %MEM is RSS over MemTotal.
func (e *HostEnricher) ProcessTable(s *engine.Snapshot) string {
	pids, err := proc.ListPIDs(e.root)
	if err != nil {
		return fmt.Sprintf("(unable to list processes: %s)\n", enrichErr(err))
	}
	host := e.readHost()
	now := e.now()
	users := map[string]string{}
	rows := make([]enrichRow, 0, len(pids))
	seen := map[int]bool{}
	if s != nil {
		for i := range s.Procs {
			p := &s.Procs[i]
			p.Need(engine.FactCmdline)
			rows = append(rows, e.snapshotRow(p, host, now))
			seen[p.PID] = true
		}
	}
	unreadable := 0
	var lastErr error
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		row, err := e.psRow(pid, host, now, users)
		if proc.Vanished(err) {
			continue
		}
		if err != nil {
			unreadable++
			lastErr = err
			continue
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b enrichRow) int { return a.pid - b.pid })

	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %7s %4s %4s %6s %5s %-8s %-4s %5s %6s %s\n",
		"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND")
	shown := 0
	enrichForest(rows, func(r *enrichRow, depth int) {
		if shown == enrichMaxRows {
			return
		}
		shown++
		b.WriteString(r.head)
		if depth > 0 {
			b.WriteString(strings.Repeat("    ", min(depth, enrichMaxDepth)-1))
			b.WriteString(` \_ `)
		}
		b.WriteString(r.cmd)
		b.WriteByte('\n')
	})
	if len(rows) > shown {
		fmt.Fprintf(&b, "... %d more processes\n", len(rows)-shown)
	}
	if unreadable > 0 {
		fmt.Fprintf(&b, "(%s could not be read: %s)\n", enrichCount(unreadable, "process", "processes"), enrichErr(lastErr))
	}
	return b.String()
}

// errEnrichParse is a /proc file that does not parse.
var errEnrichParse = errors.New("malformed stat")

// psRow reads one process. An error that is not "gone" means the process
// exists but could not be shown.
func (e *HostEnricher) psRow(pid int, host enrichHost, now time.Time, users map[string]string) (enrichRow, error) {
	dir := strconv.Itoa(pid)
	data, _, err := proc.ReadCapped(e.path(dir, "stat"), enrichMaxFile)
	if err != nil {
		return enrichRow{}, err
	}
	st, err := proc.ParseStat(data)
	if err != nil {
		return enrichRow{}, errEnrichParse
	}
	// status and cmdline are optional: a row shows what could be read.
	status, _, _ := proc.ReadCapped(e.path(dir, "status"), enrichMaxFile)
	cmdData, cut, _ := proc.ReadCapped(e.path(dir, "cmdline"), enrichMaxCmdline)

	userName := "?"
	uidLine, _ := proc.StatusField(status, "Uid:")
	if uids := strings.Fields(string(uidLine)); len(uids) >= 2 {
		userName = enrichUser(e.root, uids[1], users)
	}

	lckLine, _ := proc.StatusField(status, "VmLck:")
	lck := strings.Fields(string(lckLine))
	stat := psStat(st.State, int(st.Nice), len(lck) > 0 && lck[0] != "0", st.Session == pid, st.Threads, st.TPGID, st.PGrp)

	cpuSecs := float64(st.UTime+st.STime) / float64(e.ticks)
	age := host.uptime - float64(st.StartTime)/float64(e.ticks)
	// rss is signed in the kernel's format but never negative.
	rssKiB := uint64(max(st.RSS, 0)) * e.pageSize / 1024
	start := time.Time{}
	if host.btime > 0 {
		start = time.Unix(host.btime+int64(st.StartTime/e.ticks), 0)
	}
	head := psHead(userName, pid, cpuSecs, age, rssKiB, st.VSize/1024, int64(st.TTYNr), stat, start, now, host.memTotal)

	// Arguments are NUL-terminated; programs that rewrite their title pad
	// it with NULs, dropped here.
	args := strings.ReplaceAll(strings.TrimRight(string(cmdData), "\x00"), "\x00", " ")
	return enrichRow{pid: pid, ppid: st.PPID, head: head, cmd: psCommand(args, cut, st.Comm, st.State)}, nil
}

// psCommand is ps's COMMAND column: the command line (cut marked with
// "..."), or [comm] for a process without one, and <defunct> after a
// zombie's, escaped for display.
func psCommand(cmd string, cut bool, comm, state string) string {
	out := "[" + engine.Display(comm) + "]"
	if cmd != "" {
		out = engine.Display(cmd)
		if cut {
			out += "..."
		}
	}
	if state == "Z" {
		out += " <defunct>"
	}
	return out
}

// snapshotRow is the row of a process of the snapshot.
func (e *HostEnricher) snapshotRow(p *engine.Process, host enrichHost, now time.Time) enrichRow {
	stat := psStat(p.State, p.Nice, false, p.SID == p.PID, p.Threads, p.TPGID, p.PGID)
	head := psHead(engine.Display(p.User), p.PID, p.CPU.Seconds(), p.Age.Seconds(), uint64(max(p.RSS, 0))/1024,
		uint64(max(p.VMSize, 0))/1024, int64(p.TTY), stat, p.Start, now, host.memTotal)
	cmd, cut := p.Cmd, len(p.Cmd) > enrichMaxCmdline
	if cut {
		cmd = cmd[:enrichMaxCmdline]
	}
	return enrichRow{pid: p.PID, ppid: p.PPID, head: head, cmd: psCommand(cmd, cut, p.Comm, p.State)}
}

// psStat is ps's STAT column: the state, then < or N for a raised or
// lowered priority, L for locked pages, s for a session leader, l for
// several threads and + for the terminal's foreground group.
func psStat(state string, nice int, locked, leader bool, threads, tpgid, pgid int) string {
	stat := state
	switch {
	case nice < 0:
		stat += "<"
	case nice > 0:
		stat += "N"
	}
	if locked {
		stat += "L"
	}
	if leader {
		stat += "s"
	}
	if threads > 1 {
		stat += "l"
	}
	if tpgid > 0 && tpgid == pgid {
		stat += "+"
	}
	return stat
}

// psHead writes every column of a row before COMMAND. age is the seconds
// since the process started (0 or less when unknown), start its start
// (zero when unknown), memTotal the host's memory in KiB (0 when unknown).
func psHead(user string, pid int, cpuSecs, age float64, rssKiB, vszKiB uint64, tty int64, stat string, start, now time.Time, memTotal uint64) string {
	pcpu := 0.0
	if age > 0 {
		pcpu = min(cpuSecs/age*100, 999.9)
	}
	pmem := "-"
	if memTotal > 0 {
		pmem = strconv.FormatFloat(min(float64(rssKiB)/float64(memTotal)*100, 99.9), 'f', 1, 64)
	}
	startText := "?"
	if !start.IsZero() {
		t := start.In(now.Location())
		switch age := now.Sub(t); {
		case age < 24*time.Hour:
			startText = t.Format("15:04")
		case age < 365*24*time.Hour:
			startText = t.Format("Jan02")
		default:
			startText = t.Format("2006")
		}
	}
	secs := int64(cpuSecs)
	return fmt.Sprintf("%-8s %7d %4.1f %4s %6d %5d %-8s %-4s %5s %6s ",
		user, pid, pcpu, pmem, vszKiB, rssKiB, enrichTTY(tty),
		engine.Display(stat), startText, fmt.Sprintf("%d:%02d", secs/60, secs%60))
}

// enrichUser names a uid from the passwd database, or shows the number.
func enrichUser(procRoot, uid string, cache map[string]string) string {
	if name, ok := cache[uid]; ok {
		return name
	}
	name := engine.Display(proc.LoginName(procRoot, uid))
	cache[uid] = name
	return name
}

// enrichForest calls visit for the rows sorted by pid (rows must be) in
// forest order with each row's depth. A row is a root if its parent is 0,
// 1 or itself or is not in the table; rows left over (a loop of parents,
// which a garbage tree can present) are visited as roots too.
func enrichForest(rows []enrichRow, visit func(r *enrichRow, depth int)) {
	index := make(map[int]int, len(rows))
	for i := range rows {
		index[rows[i].pid] = i
	}
	children := make(map[int][]int, len(rows))
	var roots []int
	for i := range rows {
		r := &rows[i]
		if _, ok := index[r.ppid]; !ok || r.ppid <= 1 || r.ppid == r.pid {
			roots = append(roots, i)
			continue
		}
		children[r.ppid] = append(children[r.ppid], i)
	}
	seen := make([]bool, len(rows))
	type item struct{ i, depth int }
	var stack []item
	walk := func(root int) {
		stack = append(stack[:0], item{root, 0})
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[it.i] {
				continue
			}
			seen[it.i] = true
			visit(&rows[it.i], it.depth)
			kids := children[rows[it.i].pid]
			for k := len(kids) - 1; k >= 0; k-- {
				stack = append(stack, item{kids[k], it.depth + 1})
			}
		}
	}
	for _, i := range roots {
		walk(i)
	}
	for i := range rows {
		if !seen[i] {
			walk(i)
		}
	}
}

// MemoryStats summarises memory, swap, processes, CPU and load from
// /proc/meminfo, /proc/stat and /proc/loadavg, with the figures of the
// first line of `vmstat` (which averages since boot), in KiB. A figure
// that cannot be read shows as "?".
func (e *HostEnricher) MemoryStats() string {
	var b strings.Builder
	var notes []string
	note := func(file string, err error) {
		notes = append(notes, fmt.Sprintf("(unable to read %s: %s)", file, enrichErr(err)))
	}
	stat, err := e.readStatLines()
	if err != nil {
		note("stat", err)
	}
	fmt.Fprintf(&b, "procs:  %s running, %s blocked\n", stat.count("procs_running"), stat.count("procs_blocked"))
	if err := e.writeMemory(&b); err != nil {
		note("meminfo", err)
	}
	fmt.Fprintf(&b, "cpu:    %s\n", stat.cpuShares())
	if err := e.writeLoad(&b); err != nil {
		note("loadavg", err)
	}
	for _, n := range notes {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.String()
}

// statLines are the lines of /proc/stat by their first field.
type statLines map[string][]string

// readStatLines reads /proc/stat; an unreadable file gives no lines and
// the error.
func (e *HostEnricher) readStatLines() (statLines, error) {
	stat := statLines{}
	data, _, err := proc.ReadCapped(e.path("stat"), enrichMaxFile)
	if err != nil {
		return stat, err
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 1 {
			stat[f[0]] = f[1:]
		}
	}
	return stat, nil
}

// count is the number on the line key, "?" if there is none.
func (stat statLines) count(key string) string {
	if v := stat[key]; len(v) > 0 {
		if _, err := strconv.ParseUint(v[0], 10, 64); err == nil {
			return v[0]
		}
	}
	return "?"
}

// cpuShares shows the cpu line, which counts ticks since boot: user nice
// system idle iowait irq softirq steal (guest time is included in user).
// The columns are vmstat's: us = user+nice, sy = system+irq+softirq.
func (stat statLines) cpuShares() string {
	v := stat["cpu"]
	if len(v) < 4 {
		return "?"
	}
	var t [8]uint64
	ok := true
	for i := range t {
		if i < len(v) {
			n, err := strconv.ParseUint(v[i], 10, 64)
			ok = ok && err == nil
			t[i] = n
		}
	}
	total := 0.0
	for _, n := range t {
		total += float64(n)
	}
	if !ok || total <= 0 {
		return "?"
	}
	pct := func(n ...uint64) float64 {
		s := 0.0
		for _, x := range n {
			s += float64(x)
		}
		return s / total * 100
	}
	return fmt.Sprintf("us %.0f%%, sy %.0f%%, id %.0f%%, wa %.0f%%, st %.0f%% (since boot)",
		pct(t[0], t[1]), pct(t[2], t[5], t[6]), pct(t[3]), pct(t[4]), pct(t[7]))
}

// writeMemory writes the memory and swap lines from /proc/meminfo; an
// unreadable file shows as "?" and gives the error.
func (e *HostEnricher) writeMemory(b *strings.Builder) error {
	data, _, err := proc.ReadCapped(e.path("meminfo"), enrichMaxFile)
	if err != nil {
		b.WriteString("memory: ?\nswap:   ?\n")
		return err
	}
	m := proc.ParseMeminfo(data)
	num := func(key string) string {
		if v, ok := m[key]; ok {
			return strconv.FormatUint(v, 10)
		}
		return "?"
	}
	fmt.Fprintf(b, "memory: total %s, free %s, available %s, buffers %s, cached %s (KiB)\n",
		num("MemTotal"), num("MemFree"), num("MemAvailable"), num("Buffers"), num("Cached"))
	used := "?"
	if t, ok := m["SwapTotal"]; ok {
		if f, ok := m["SwapFree"]; ok && f <= t {
			used = strconv.FormatUint(t-f, 10)
		}
	}
	fmt.Fprintf(b, "swap:   total %s, free %s, used %s (KiB)\n", num("SwapTotal"), num("SwapFree"), used)
	return nil
}

// writeLoad writes the load line from /proc/loadavg; an unreadable file
// shows as "?" and gives the error.
func (e *HostEnricher) writeLoad(b *strings.Builder) error {
	data, _, err := proc.ReadCapped(e.path("loadavg"), enrichMaxFile)
	if err != nil {
		b.WriteString("load:   ?\n")
		return err
	}
	if f := strings.Fields(string(data)); len(f) >= 4 {
		fmt.Fprintf(b, "load:   %s %s %s (1, 5, 15 min), %s running/total\n",
			engine.Display(f[0]), engine.Display(f[1]), engine.Display(f[2]), engine.Display(f[3]))
	} else {
		b.WriteString("load:   ? (malformed loadavg)\n")
	}
	return nil
}

// enrichSocket is one line of a /proc/net table as netstat shows it.
type enrichSocket struct {
	proto          string
	recvQ, sendQ   uint64
	local, foreign string
	state          string
	inode          uint64
}

// enrichSocketOf shows a line of the table proto as netstat does.
func enrichSocketOf(n proc.NetEntry, proto string) enrichSocket {
	s := enrichSocket{proto: proto, recvQ: n.RxQueue, sendQ: n.TxQueue,
		local: enrichAddr(n.Local), foreign: enrichAddr(n.Remote), inode: n.Inode}
	switch {
	case strings.HasPrefix(proto, "udp"):
		// netstat leaves the state of an unconnected UDP socket blank.
		if n.State == 1 {
			s.state = "ESTABLISHED"
		}
	default:
		s.state = proc.TCPStateName(n.State)
	}
	return s
}

// enrichAddr formats an address as netstat does: 127.0.0.1:8080, :::22,
// 0.0.0.0:*.
func enrichAddr(a netip.AddrPort) string {
	p := "*"
	if a.Port() != 0 {
		p = strconv.FormatUint(uint64(a.Port()), 10)
	}
	return a.Addr().String() + ":" + p
}

// socketSource is where the sockets of ptrule's own network namespace
// come from, table by table: a proc.InetSockets dump.
type socketSource interface {
	Table(proto string) ([]proc.NetEntry, error)
}

// dumpOwnSockets reads every socket of ptrule's own network namespace
// over NETLINK_SOCK_DIAG, TIME_WAIT ones included, as netstat lists them.
// Tests replace it to make the dump fail.
var dumpOwnSockets = func() socketSource { return proc.DumpInetSockets(proc.AllSocketStates) }

// NetworkConnections lists the host's TCP and UDP sockets like
// `netstat -autpn`, those of the namespace of the reader, with the pid and
// name of a process holding each socket. On the real /proc the sockets
// come from a sock_diag dump, which costs the kernel less than printing
// the tables under procRoot/net; a table the dump could not read, and
// every table of a fake tree, is read from its file. Owners are found by
// walking the descriptors of processes in pid order until every socket
// shown has one (see socketOwners).
func (e *HostEnricher) NetworkConnections() string {
	var socks []enrichSocket
	var notes []string
	malformed, read := 0, 0
	var dump socketSource
	if _, err := proc.SelfNetNS(e.root); err == nil && proc.IsProcfs(e.root) {
		// On a procfs whose self is ptrule, procRoot/net is the
		// namespace that a netlink socket of ptrule's reaches.
		dump = dumpOwnSockets()
	}
	for _, proto := range proc.NetTables {
		if dump != nil {
			if entries, err := dump.Table(proto); err == nil {
				read++
				for _, n := range entries {
					socks = append(socks, enrichSocketOf(n, proto))
				}
				continue
			}
		}
		data, cut, err := proc.ReadCapped(e.path("net", proto), 64<<20)
		if errors.Is(err, fs.ErrNotExist) {
			// No IPv6 on this host, say.
			continue
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("(unable to read net/%s: %s)", proto, enrichErr(err)))
			continue
		}
		read++
		if cut {
			notes = append(notes, fmt.Sprintf("(net/%s is too large: cut)", proto))
		}
		first := true
		for line := range bytes.Lines(data) {
			if first {
				// The header.
				first = false
				continue
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			n, ok := proc.ParseNetLine(line)
			if !ok {
				malformed++
				continue
			}
			socks = append(socks, enrichSocketOf(n, proto))
		}
	}
	if read == 0 && len(notes) == 0 {
		notes = append(notes, "(no socket tables under net/)")
	}
	if malformed > 0 {
		notes = append(notes, fmt.Sprintf("(%s left out)", enrichCount(malformed, "malformed line", "malformed lines")))
	}

	shown := socks[:min(len(socks), enrichMaxRows)]
	owners, unreadable, cut := e.socketOwners(shown)
	if unreadable > 0 {
		notes = append(notes, fmt.Sprintf("(the descriptors of %s could not be read: their sockets show no PID/Program)",
			enrichCount(unreadable, "process", "processes")))
	}
	if cut {
		notes = append(notes, fmt.Sprintf("(owners were looked for in the first %d open descriptors only: the sockets of later processes show no PID/Program)", e.maxOwnerFDs))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %6s %6s %-23s %-23s %-11s %s\n",
		"Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State", "PID/Program name")
	for _, s := range shown {
		owner := "-"
		if o, ok := owners[s.inode]; ok && s.inode != 0 {
			owner = o
		}
		fmt.Fprintf(&b, "%-5s %6d %6d %-23s %-23s %-11s %s\n",
			s.proto, s.recvQ, s.sendQ, s.local, s.foreign, s.state, owner)
	}
	if len(socks) > len(shown) {
		fmt.Fprintf(&b, "... %d more sockets\n", len(socks)-len(shown))
	}
	for _, n := range notes {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.String()
}

// socketOwners maps the inodes of socks (the rows shown) to "PID/name" of
// the lowest pid holding them, and counts the processes whose descriptors
// could not be read (those of other users, unless the daemon runs as
// root). Processes are walked only when there is a socket to name, with
// the fewest system calls a process allows (proc.SocketHolders), and the
// walk stops once every socket has its owner, or once it has read
// maxOwnerFDs descriptors, which cut reports true: a host with a million
// descriptors open must not hold an alert up.
func (e *HostEnricher) socketOwners(socks []enrichSocket) (owners map[uint64]string, unreadable int, cut bool) {
	want := map[uint64]bool{}
	for _, s := range socks {
		if s.inode != 0 {
			want[s.inode] = true
		}
	}
	owners = map[uint64]string{}
	if len(want) == 0 {
		return owners, 0, false
	}
	pids, err := proc.ListPIDs(e.root)
	if err != nil {
		return owners, 0, false
	}
	slices.Sort(pids)
	var holders proc.SocketHolders
	var inodes []uint64
	read := 0
	for _, pid := range pids {
		if len(owners) == len(want) {
			break
		}
		if read >= e.maxOwnerFDs {
			return owners, unreadable, true
		}
		var fds int
		inodes, fds, err = holders.Append(e.root, pid, inodes[:0])
		read += fds
		if err != nil {
			if !proc.Vanished(err) {
				unreadable++
			}
			continue
		}
		name := ""
		for _, inode := range inodes {
			if _, known := owners[inode]; known || !want[inode] {
				continue
			}
			if name == "" {
				name = e.commOf(pid)
			}
			owners[inode] = strconv.Itoa(pid) + "/" + name
		}
	}
	return owners, unreadable, false
}

// commOf returns the escaped name of a process, or "?".
func (e *HostEnricher) commOf(pid int) string {
	data, _, err := proc.ReadCapped(e.path(strconv.Itoa(pid), "comm"), 256)
	if err != nil || len(data) == 0 {
		return "?"
	}
	return engine.Display(strings.TrimSuffix(string(data), "\n"))
}

// HTTPGet fetches an http or https URL with a timeout of HTTPTimeout and
// returns up to 256 KiB of its body. Any failure, a status other than 2xx
// included, is returned as "Unable to retrieve URL: reason" with any
// password in the URL masked. Line breaks and tabs of the body are kept;
// other control characters are escaped.
func (e *HostEnricher) HTTPGet(rawURL string) (text string) {
	shown := engine.Display(rawURL)
	fail := func(reason string) string {
		return fmt.Sprintf("Unable to retrieve %s: %s\n", shown, reason)
	}
	defer func() {
		// Nothing below should panic; if something does, the alert
		// still goes out.
		if r := recover(); r != nil {
			text = fail(engine.Display(fmt.Sprint(r)))
		}
	}()
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(engine.Display(err.Error()))
	}
	shown = engine.Display(u.Redacted())
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail("only http and https URLs are accepted")
	}
	if u.Host == "" {
		return fail("no host in the URL")
	}
	timeout := e.HTTPTimeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	client := &http.Client{Transport: e.transport, Timeout: timeout}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(engine.Display(err.Error()))
	}
	req.Header.Set("User-Agent", "ptrule")
	resp, err := client.Do(req)
	if err != nil {
		return fail(enrichHTTPErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("HTTP status " + engine.Display(resp.Status))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, enrichMaxBody+1))
	if err != nil {
		return fail(enrichHTTPErr(err))
	}
	truncated := len(body) > enrichMaxBody
	if truncated {
		body = body[:enrichMaxBody]
	}
	var b strings.Builder
	b.Grow(len(body) + 16)
	for line := range strings.Lines(string(body)) {
		line, nl := strings.CutSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		for i, part := range strings.Split(line, "\t") {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(engine.Display(part))
		}
		if nl {
			b.WriteByte('\n')
		}
	}
	if truncated {
		b.WriteString("\n[truncated]\n")
	}
	return b.String()
}

// enrichHTTPErr is the reason of a failed request without the URL, which
// the message already names (and url.Error would show unredacted).
func enrichHTTPErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return engine.Display(err.Error())
}
