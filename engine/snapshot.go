// Package engine is ptrule's pure core. It owns:
//
//   - the facts model: Snapshot (built by NewSnapshot), Process and the
//     contract's process defaults, and View, the user and session
//     aggregates of one evaluation;
//   - loading: finding rule files and ignore lists (find.go), parsing and
//     patching rules (load.go, patch.go), compiling their CEL and templates
//     (compile.go, cel.go) and checking their actions (actions.go), with
//     problems that point into the YAML; the ignore lists (ignore.go);
//   - facts read on first use: the lazy snapshot, its Loader and CEL's
//     lazy field access (lazy.go), and what rules read out of sight of it
//     (needs.go);
//   - evaluation, suppression decisions and the rendering of alert and run
//     text (eval.go, render.go);
//   - the fixture runner behind `ptrule test` and the snapshot format of
//     `ptrule facts` (fixture.go, facts.go).
//
// It imports nothing of ptrule's own packages: builtin collects the facts
// and carries out actions, notify sends alerts and cmd wires them to this
// core. Nothing here reads /proc, sends signals, starts programs or touches
// the network. Time enters only as a Snapshot's timestamp, which is what
// makes `ptrule test` exact.
package engine

import (
	"path"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Snapshot is one reading of the host: every user-space process plus the
// host-wide facts. The fixture runner builds it from YAML with
// NewSnapshot; the collector in builtin reads it from /proc with
// NewLazySnapshot, leaving each process's costly facts to be read on
// first use (Process.Need). Once built it changes only by those reads:
// what rules see of it beyond its processes (the ignore decisions and the
// user and session aggregates, which depend on the ignore list) is a
// View's.
type Snapshot struct {
	// Time is the moment the snapshot was taken; rules see it as `now`.
	Time time.Time `yaml:"-"`
	Host Host      `yaml:"host"`
	Load Load      `yaml:"load"`
	// Procs are the user-space processes (no kernel threads), sorted by PID.
	Procs []Process `yaml:"processes"`

	// byPID maps each PID to the index of its first process in Procs.
	byPID map[int]int
	// loader and lazy are set for a lazy snapshot (NewLazySnapshot): the
	// reader of the facts left unread, and by index in Procs what each
	// process has yet to learn.
	loader Loader
	lazy   []lazyProc
}

// Process is one user-space process. Field names in CEL and YAML are the
// contract's snake_case names.
type Process struct {
	PID  int `cel:"pid" yaml:"pid"`
	PPID int `cel:"ppid" yaml:"ppid"`
	PGID int `cel:"pgid" yaml:"pgid"`
	SID  int `cel:"sid" yaml:"sid"`
	// UID is the effective user id.
	UID int `cel:"uid" yaml:"uid"`
	// User is the name of UID, or its decimal form when it has no name.
	User string `cel:"user" yaml:"user"`
	// Exe is the executable path without the " (deleted)" suffix, "" when
	// the link could not be read.
	Exe string `cel:"exe" yaml:"exe"`
	// ExeDeleted reports that the executable was deleted or replaced while
	// running, memfd executables included: the kernel's link count of the
	// file is 0, or the name it was started as was unlinked. A file whose
	// own name ends in " (deleted)" is not deleted.
	ExeDeleted bool `cel:"exe_deleted" yaml:"exe_deleted,omitempty"`
	// ExeMismatch reports that the file the process runs is not the file
	// at Exe in ptrule's view of the file system — the process lives in
	// another mount namespace (a container) or runs a program
	// bind-mounted over the path — or that ptrule could not confirm it
	// is. (A chrooted process shows its path from ptrule's root, which
	// leads to the very file: no mismatch.) exe: and pexe:
	// ignore entries never match such a process. Never set together with
	// ExeDeleted.
	ExeMismatch bool     `cel:"exe_mismatch" yaml:"exe_mismatch,omitempty"`
	Comm        string   `cel:"comm" yaml:"comm"`
	Cmdline     []string `cel:"cmdline" yaml:"cmdline,flow"`
	// Cmd is Cmdline joined by single spaces, trailing white space removed.
	Cmd string `cel:"cmd" yaml:"-"`
	// State is the one-letter process state (R, S, D, Z, T, ...).
	State string    `cel:"state" yaml:"state"`
	Start time.Time `cel:"start" yaml:"start"`
	// StartTicks is the kernel's start time in clock ticks since boot
	// (field 22 of /proc/PID/stat). It never changes for a process, not
	// even when the wall clock is stepped, so a kill compares it to tell
	// the process from a later one that reused its PID, and Key is built
	// from it. Fixtures derive it from Start (see fixtureTicks).
	StartTicks uint64 `cel:"-" yaml:"-" json:"-"`
	// TTY, TPGID and Nice are stat's tty_nr, tpgid and nice, which only
	// the process table of alerts ({{ps}}) shows.
	TTY   int `cel:"-" yaml:"-" json:"-"`
	TPGID int `cel:"-" yaml:"-" json:"-"`
	Nice  int `cel:"-" yaml:"-" json:"-"`
	// Age is the elapsed time since Start, measured on the boot clock so a
	// wall-clock jump does not change it.
	Age time.Duration `cel:"age" yaml:"age"`
	// CPU is user plus system CPU time.
	CPU time.Duration `cel:"cpu" yaml:"cpu"`
	// VMSize and RSS are virtual and resident memory in bytes.
	VMSize  int64 `cel:"vmsize" yaml:"vmsize"`
	RSS     int64 `cel:"rss" yaml:"rss"`
	Threads int   `cel:"threads" yaml:"threads"`
	// Connections are the connected TCP/UDP sockets (non-zero remote address).
	Connections []Socket `cel:"connections" yaml:"connections,omitempty"`
	// Listening are the listening TCP and bound, unconnected UDP sockets.
	Listening        []Socket `cel:"listening" yaml:"listening,omitempty"`
	ParentExe        string   `cel:"parent_exe" yaml:"parent_exe,omitempty"`
	ParentExeDeleted bool     `cel:"parent_exe_deleted" yaml:"parent_exe_deleted,omitempty"`
	PgrpExe          string   `cel:"pgrp_exe" yaml:"pgrp_exe,omitempty"`
	// Unit is the systemd unit from the cgroup path, "" if none.
	Unit string `cel:"unit" yaml:"unit,omitempty"`
	// Cgroup is the cgroup v2 path, or the first v1 path.
	Cgroup string `cel:"cgroup" yaml:"cgroup,omitempty"`

	// lazy is set in a lazy snapshot: what the process has yet to read.
	lazy *lazyProc
}

// Key is the process identity used for suppression: "PID@TICKS", the PID
// and the start time in clock ticks since boot, so that a reused PID is a
// new process. "4242@1234567" is what `awk '{print $22}' /proc/4242/stat`
// prints. The start is taken on the boot clock rather than the wall clock,
// so a clock step (NTP, a resumed VM) keeps every key.
func (p *Process) Key() string {
	return strconv.Itoa(p.PID) + "@" + strconv.FormatUint(p.StartTicks, 10)
}

// Socket is one TCP or UDP socket held by a process.
type Socket struct {
	// Proto is tcp, tcp6, udp or udp6.
	Proto      string `cel:"proto" yaml:"proto" json:"proto"`
	LocalIP    string `cel:"local_ip" yaml:"local_ip" json:"local_ip"`
	LocalPort  int    `cel:"local_port" yaml:"local_port" json:"local_port"`
	RemoteIP   string `cel:"remote_ip" yaml:"remote_ip" json:"remote_ip"`
	RemotePort int    `cel:"remote_port" yaml:"remote_port" json:"remote_port"`
	// State is the kernel's TCP state name (ESTABLISHED, LISTEN, ...); UDP
	// sockets report ESTABLISHED when connected and CLOSE otherwise, as the
	// kernel does.
	State string `cel:"state" yaml:"state" json:"state"`
}

// User aggregates the processes of one uid.
type User struct {
	Name string `cel:"name"`
	UID  int    `cel:"uid"`
	// Count is the number of its processes that are not ignored.
	Count int `cel:"count"`
	// CountAll counts every process of the user, ignored ones included.
	CountAll int `cel:"count_all"`
	// PIDs lists the counted (not ignored) processes, ascending.
	PIDs []int `cel:"pids"`
	// RSS and VMSize are sums over the counted processes.
	RSS    int64 `cel:"rss"`
	VMSize int64 `cel:"vmsize"`
	// Sessions is the number of distinct sessions the counted processes
	// are in: a fork bomb that calls setsid spreads over many.
	Sessions int `cel:"sessions"`

	// agg computes Count, PIDs, RSS, VMSize and Sessions on first use.
	agg *aggregate
}

// Session aggregates the processes of one session id.
type Session struct {
	SID      int      `cel:"sid"`
	Count    int      `cel:"count"`
	CountAll int      `cel:"count_all"`
	PIDs     []int    `cel:"pids"`
	Users    []string `cel:"users"`
	// LeaderExe is the executable of the session leader, "" when it is gone.
	LeaderExe string `cel:"leader_exe"`

	// startTicks is the start of the leader, or of the oldest process when
	// the leader is gone, in clock ticks since boot: part of the session's
	// identity.
	startTicks uint64
	// agg computes Count, PIDs and LeaderExe on first use.
	agg *aggregate
}

// Key is the session identity used for suppression: "SID@TICKS", the
// session id and the start of its leader (or of its oldest process when
// the leader is gone) in clock ticks since boot, as in Process.Key.
func (s *Session) Key() string {
	return strconv.Itoa(s.SID) + "@" + strconv.FormatUint(s.startTicks, 10)
}

// Load is the kernel's load average line.
type Load struct {
	Avg1    float64 `cel:"avg1" yaml:"avg1"`
	Avg5    float64 `cel:"avg5" yaml:"avg5"`
	Avg15   float64 `cel:"avg15" yaml:"avg15"`
	Running int     `cel:"running" yaml:"running"`
	Total   int     `cel:"total" yaml:"total"`
}

// Host holds facts about the machine itself.
type Host struct {
	Name   string        `cel:"name" yaml:"name"`
	CPUs   int           `cel:"cpus" yaml:"cpus"`
	Uptime time.Duration `cel:"uptime" yaml:"uptime"`
	Boot   time.Time     `cel:"boot" yaml:"boot"`
	Procs  int           `cel:"procs" yaml:"procs"`
}

// IgnoreMatcher tells which entry of an ignore list, if any, hides a
// process at a time (an expired entry hides nothing). NewView uses it to
// leave ignored processes out of the user and session counts.
type IgnoreMatcher interface {
	MatchAt(p *Process, t time.Time) (IgnoreEntry, bool)
}

// NewSnapshot builds the snapshot of the processes procs, read at time t.
// It is the one way the fixture runner and eager readers make a Snapshot
// (a lazy collection uses NewLazySnapshot): it takes procs over and sorts
// them by PID, sets host.procs to their number, and fills the facts that
// follow from other processes of the same snapshot where the reader left
// them empty: parent_exe and parent_exe_deleted from the process whose PID
// is the ppid, pgrp_exe from the one whose PID is the pgid. Nothing here
// depends on rules; the aggregates that do are a View's.
func NewSnapshot(t time.Time, host Host, load Load, procs []Process) *Snapshot {
	s := &Snapshot{Time: t, Host: host, Load: load, Procs: procs}
	slices.SortStableFunc(s.Procs, func(a, b Process) int { return a.PID - b.PID })
	s.Host.Procs = len(s.Procs)
	s.byPID = indexByPID(s.Procs)
	for i := range s.Procs {
		s.fillRelatives(i)
	}
	return s
}

// indexByPID maps each PID to the index of its first process in procs.
func indexByPID(procs []Process) map[int]int {
	m := make(map[int]int, len(procs))
	for i := range procs {
		if _, dup := m[procs[i].PID]; !dup {
			m[procs[i].PID] = i
		}
	}
	return m
}

// FillDefaults gives the zero fields of p the contract's process defaults
// (§4): ppid 1 (none for PID 1), pgid and sid the PID, the user name of uid
// (root for 0, else the decimal uid), comm the base name of exe, cmdline
// [exe] and state S. The fixture runner and the fake /proc trees of tests
// (builtin/proctest) both fill a process through it, so that a process
// described once means the same in either.
func (p *Process) FillDefaults() {
	if p.PPID == 0 && p.PID != 1 {
		p.PPID = 1
	}
	if p.PGID == 0 {
		p.PGID = p.PID
	}
	if p.SID == 0 {
		p.SID = p.PID
	}
	if p.User == "" {
		p.User = "root"
		if p.UID != 0 {
			p.User = strconv.Itoa(p.UID)
		}
	}
	if p.Comm == "" && p.Exe != "" {
		p.Comm = path.Base(p.Exe)
	}
	if p.Cmdline == nil {
		p.Cmdline = []string{p.Exe}
	}
	if p.State == "" {
		p.State = "S"
	}
}

// View is a snapshot as one rule set sees it: the snapshot, which it
// changes only by reading the facts a lazy collection left unread, and
// what depends on the rule set's ignore list: whether each process is
// ignored, and the user and session aggregates, which leave out the
// processes the list hides (as lfd does). Evaluate makes one per
// evaluation; matches and templates read it.
//
// Both are made on first use, so that what no rule asks costs nothing:
// the ignore decision of a process reads only the facts its entries need,
// and pt-forkbomb asks for session.count only of a session with as many
// processes as its max (count_all comes first in its condition).
type View struct {
	*Snapshot

	ign      IgnoreMatcher
	byPID    map[int]int
	users    []User
	sessions []Session
	// decided is, by index in Procs, whether the process's ignore decision
	// was made; ignored is that decision.
	decided []bool
	ignored []bool
	// ignoreList is the matcher when it is an *IgnoreList: ignoredAt then
	// holds indices into its entries instead of copies.
	ignoreList *IgnoreList
	// ignoredAt is, by index in Procs, the index in ignoreList's entries of
	// the entry that hides the process; nil when no process is hidden or
	// the matcher is another type.
	ignoredAt []int32
	// ignoredBy is ignoredAt for a matcher of another type: the entries
	// themselves.
	ignoredBy []IgnoreEntry
}

// aggregate is what a user or session aggregate needs to compute, on
// first use, the fields that leave out ignored processes.
type aggregate struct {
	view *View
	// members are the indices in Procs of every process of the user or
	// session, ascending.
	members []int32
	done    bool
}

// NewView prepares the view of s through the ignore list ign, which may be
// nil. s is only read, but for facts a lazy snapshot reads on first use:
// one snapshot may be viewed by several rule sets, and `ptrule facts`
// prints it as it was read.
func NewView(s *Snapshot, ign IgnoreMatcher) *View {
	n := len(s.Procs)
	v := &View{Snapshot: s, ign: ign, byPID: s.byPID, decided: make([]bool, n), ignored: make([]bool, n)}
	if v.byPID == nil {
		// A Snapshot written as a literal (tests) is indexed here.
		v.byPID = indexByPID(s.Procs)
	}
	users := map[int]int{}    // uid -> index in v.users
	sessions := map[int]int{} // sid -> index in v.sessions
	for i := range s.Procs {
		p := &s.Procs[i]
		ui, ok := users[p.UID]
		if !ok {
			ui = len(v.users)
			users[p.UID] = ui
			v.users = append(v.users, User{Name: p.User, UID: p.UID, PIDs: []int{}, agg: &aggregate{view: v}})
		}
		u := &v.users[ui]
		u.CountAll++
		u.agg.members = append(u.agg.members, int32(i))

		si, ok := sessions[p.SID]
		if !ok {
			si = len(v.sessions)
			sessions[p.SID] = si
			v.sessions = append(v.sessions, Session{SID: p.SID, PIDs: []int{}, Users: []string{}, startTicks: p.StartTicks, agg: &aggregate{view: v}})
		}
		se := &v.sessions[si]
		se.CountAll++
		se.agg.members = append(se.agg.members, int32(i))
		if !slices.Contains(se.Users, p.User) {
			se.Users = append(se.Users, p.User)
		}
		if p.StartTicks < se.startTicks {
			se.startTicks = p.StartTicks
		}
	}
	sort.Slice(v.users, func(i, j int) bool { return v.users[i].UID < v.users[j].UID })
	for i := range v.sessions {
		se := &v.sessions[i]
		if leader := v.Proc(se.SID); leader != nil {
			se.startTicks = leader.StartTicks
		}
		sort.Strings(se.Users)
	}
	sort.Slice(v.sessions, func(i, j int) bool { return v.sessions[i].SID < v.sessions[j].SID })
	return v
}

// Ignored reports whether the ignore list hides the process at index i of
// Procs, deciding it on first use.
func (v *View) Ignored(i int) bool {
	if !v.decided[i] {
		v.decide(i)
	}
	return v.ignored[i]
}

// decide makes the ignore decision of the process at index i.
func (v *View) decide(i int) {
	v.decided[i] = true
	p := &v.Procs[i]
	if list, ok := v.ign.(*IgnoreList); ok {
		// The common case, without copying entries: four bytes a
		// process when some are hidden.
		if j := list.matchAt(p, v.Time); j >= 0 {
			v.ignored[i] = true
			if v.ignoredAt == nil {
				v.ignoreList, v.ignoredAt = list, make([]int32, len(v.Procs))
			}
			v.ignoredAt[i] = int32(j)
		}
		return
	}
	if v.ign == nil {
		return
	}
	if e, ok := v.ign.MatchAt(p, v.Time); ok {
		v.ignored[i] = true
		if v.ignoredBy == nil {
			v.ignoredBy = make([]IgnoreEntry, len(v.Procs))
		}
		v.ignoredBy[i] = e
	}
}

// IgnoredBy returns the ignore-list entry that hides the process at index
// i of Procs, the one that made its `ignored` true, if any.
func (v *View) IgnoredBy(i int) (IgnoreEntry, bool) {
	if i < 0 || i >= len(v.ignored) || !v.Ignored(i) {
		return IgnoreEntry{}, false
	}
	if v.ignoredAt != nil {
		return v.ignoreList.entries[v.ignoredAt[i]], true
	}
	return v.ignoredBy[i], true
}

// DecidedIgnoredBy is IgnoredBy for a process whose ignore decision was
// made (by a rule, a count or DecideAll); it decides nothing, so it costs
// no read.
func (v *View) DecidedIgnoredBy(i int) (IgnoreEntry, bool) {
	if i < 0 || i >= len(v.decided) || !v.decided[i] {
		return IgnoreEntry{}, false
	}
	return v.IgnoredBy(i)
}

// DecideAll makes the ignore decision of every process.
func (v *View) DecideAll() {
	for i := range v.Procs {
		v.Ignored(i)
	}
}

// Proc returns the process with the given PID, or nil.
func (v *View) Proc(pid int) *Process {
	if i, ok := v.byPID[pid]; ok {
		return &v.Procs[i]
	}
	return nil
}

// Users returns the user aggregates, complete, by ascending uid.
func (v *View) Users() []User {
	for i := range v.users {
		v.users[i].complete()
	}
	return v.users
}

// Sessions returns the session aggregates, complete, by ascending sid.
func (v *View) Sessions() []Session {
	for i := range v.sessions {
		v.sessions[i].complete()
	}
	return v.sessions
}

// UserOf returns the aggregate of uid, complete, or nil.
func (v *View) UserOf(uid int) *User {
	u := v.userOf(uid)
	u.complete()
	return u
}

// SessionOf returns the aggregate of sid, complete, or nil.
func (v *View) SessionOf(sid int) *Session {
	s := v.sessionOf(sid)
	s.complete()
	return s
}

// userOf is UserOf whose counts are left to their first use.
func (v *View) userOf(uid int) *User {
	i := sort.Search(len(v.users), func(i int) bool { return v.users[i].UID >= uid })
	if i < len(v.users) && v.users[i].UID == uid {
		return &v.users[i]
	}
	return nil
}

// sessionOf is SessionOf whose counts are left to their first use.
func (v *View) sessionOf(sid int) *Session {
	i := sort.Search(len(v.sessions), func(i int) bool { return v.sessions[i].SID >= sid })
	if i < len(v.sessions) && v.sessions[i].SID == sid {
		return &v.sessions[i]
	}
	return nil
}

// complete computes the fields of u that leave out ignored processes, once.
func (u *User) complete() {
	if u == nil || u.agg == nil || u.agg.done {
		return
	}
	a := u.agg
	a.done = true
	seen := map[int]bool{}
	for _, i := range a.members {
		if a.view.Ignored(int(i)) {
			continue
		}
		p := &a.view.Procs[i]
		u.Count++
		u.PIDs = append(u.PIDs, p.PID)
		u.RSS += p.RSS
		u.VMSize += p.VMSize
		if !seen[p.SID] {
			seen[p.SID] = true
			u.Sessions++
		}
	}
}

// complete computes the fields of s that leave out ignored processes, and
// the leader's executable, once.
func (s *Session) complete() {
	if s == nil || s.agg == nil || s.agg.done {
		return
	}
	a := s.agg
	a.done = true
	for _, i := range a.members {
		if !a.view.Ignored(int(i)) {
			s.Count++
			s.PIDs = append(s.PIDs, a.view.Procs[i].PID)
		}
	}
	if leader := a.view.Proc(s.SID); leader != nil {
		leader.Need(FactExe)
		s.LeaderExe = leader.Exe
	}
}

// GetSID returns the session id, or 0 for a nil session.
func (s *Session) GetSID() int {
	if s == nil {
		return 0
	}
	return s.SID
}
