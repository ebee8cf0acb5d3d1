package act

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proc"
)

// killPoll is how often survivors of the first signal are checked during
// the grace period.
const killPoll = 50 * time.Millisecond

// maxGroupPasses bounds how many times a process group or session is
// re-read and re-signalled. A fork bomb keeps creating members while the
// first pass runs; a process with SIGKILL pending can no longer fork, so a
// few passes catch the stragglers.
const maxGroupPasses = 10

// ProcID names one process the way a Snapshot saw it: the PID and the
// kernel start time of the process that had it (engine.Process.StartTicks,
// field 22 of /proc/PID/stat). The start time is what tells the process
// from a later one that reused its PID.
type ProcID struct {
	PID        int
	StartTicks uint64
}

// KillRequest says what to signal: explicit processes (Procs), or one
// process group (PGID) or one session (SID) together with the members the
// snapshot saw in it (Seen). A process met twice is signalled once.
type KillRequest struct {
	// Signal is the signal to send.
	Signal syscall.Signal
	// Grace, with any signal but SIGKILL, is how long the signalled
	// processes get to exit before the survivors get SIGKILL. Zero means
	// no escalation.
	Grace time.Duration
	// Target describes the target for people ("session 1234"); it is
	// copied into the result.
	Target string
	// Procs are explicit processes (process and user targets). Each is
	// signalled only if its start time still matches.
	Procs []ProcID
	// PGID, when non-zero, targets every live process of this process
	// group, read from /proc at kill time.
	PGID int
	// SID, when non-zero, targets every live process whose session id is
	// SID, in whatever process group it is (lfd only killed the group whose
	// id equals the session id, quirk Q4). The session is re-read until no
	// new member appears, so a fork bomb's late children die too.
	SID int
	// Seen are the processes the snapshot saw in the group or session,
	// with their start times. They tie the number to the group or session
	// the rule matched: see Killer.Kill.
	Seen []ProcID
}

// KillNote is one process that was not signalled, and why. A note about a
// whole group or session carries the group or session id as PID.
type KillNote struct {
	PID    int    `json:"pid"`
	Reason string `json:"reason"`
}

// KillDuration is a duration that prints, and encodes to JSON, as Go
// writes durations ("1m30s").
type KillDuration time.Duration

// String returns the duration as time.Duration writes it.
func (d KillDuration) String() string { return time.Duration(d).String() }

// MarshalJSON encodes the duration as a string such as "1m30s".
func (d KillDuration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// KillEscalation is what happened after the first signal when the kill
// had a grace period.
type KillEscalation struct {
	// Grace is the grace period the rule gave.
	Grace KillDuration `json:"grace"`
	// Waited is how long ptrule really waited before it sent SIGKILL (or
	// saw every process exit): shorter than Grace when every process
	// exited early or when ptrule was stopping.
	Waited KillDuration `json:"waited"`
	// CutShort reports that ptrule was stopping and sent SIGKILL before
	// the grace period was over.
	CutShort bool `json:"cut_short"`
	// Exited are the signalled processes that exited within the wait.
	Exited []int `json:"exited"`
	// Killed are the processes that were still alive and got SIGKILL.
	Killed []int `json:"killed"`
	// Failed are survivors that SIGKILL could not be sent to.
	Failed []KillNote `json:"failed"`
}

// KillResult is what one kill did: which processes got the signal, which
// were already gone, which were refused and why, and what the grace
// period led to. It is a plain value for logs, JSON output and alerts.
type KillResult struct {
	// Signal is the signal name, such as "SIGTERM".
	Signal string `json:"signal"`
	// Target is the request's description of the target.
	Target string `json:"target"`
	// Signalled are the processes the signal was delivered to, in the
	// order they were signalled.
	Signalled []int `json:"signalled"`
	// Gone are the processes (or the group or session) that no longer
	// existed, or no longer belonged to the target, when ptrule came to
	// signal them.
	Gone []KillNote `json:"gone"`
	// Refused are the processes (or the group or session) that ptrule
	// would not, or could not, signal.
	Refused []KillNote `json:"refused"`
	// Escalation is set when the request had a grace period and at least
	// one process was signalled.
	Escalation *KillEscalation `json:"escalation,omitempty"`
}

// SignalName returns the name of sig as in "SIGTERM", or "signal 40" for
// a signal without a name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// String says in one line what the kill did, for logs and text output.
func (r *KillResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s: ", r.Signal, r.Target)
	var parts []string
	if len(r.Signalled) > 0 {
		parts = append(parts, "signalled "+joinPIDs(r.Signalled))
	}
	if len(r.Gone) > 0 {
		parts = append(parts, "gone "+joinNotes(r.Gone))
	}
	if len(r.Refused) > 0 {
		parts = append(parts, "refused "+joinNotes(r.Refused))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to signal")
	}
	b.WriteString(strings.Join(parts, "; "))
	if e := r.Escalation; e != nil {
		switch {
		case e.CutShort:
			fmt.Fprintf(&b, "; grace %s cut short after %s as ptrule was stopping", e.Grace, e.Waited)
		case len(e.Killed)+len(e.Failed) == 0:
			fmt.Fprintf(&b, "; all exited within %s of the %s grace", e.Waited, e.Grace)
		default:
			fmt.Fprintf(&b, "; still alive after %s of grace", e.Waited)
		}
		if len(e.Killed) > 0 {
			b.WriteString(": SIGKILL to " + joinPIDs(e.Killed))
		}
		if len(e.Failed) > 0 {
			b.WriteString("; SIGKILL failed for " + joinNotes(e.Failed))
		}
	}
	return b.String()
}

func joinPIDs(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

func joinNotes(notes []KillNote) string {
	s := make([]string, len(notes))
	for i, n := range notes {
		s[i] = fmt.Sprintf("%d (%s)", n.PID, n.Reason)
	}
	return strings.Join(s, ", ")
}

// Killer sends signals with the safety checks that hold whatever a rule
// says: never pid 1, kernel threads, ptrule itself or its ancestors, nor a
// process whose start time no longer matches (PID reuse), nor a group or
// session whose number was reused.
type Killer struct {
	// procRoot is where the killer reads process identities. It is always
	// "/proc", the procfs a signal's PID numbers refer to; tests of this
	// package may point it elsewhere, nothing else can.
	procRoot string
	self     int
	// hz is the kernel's USER_HZ, the unit of start times.
	hz uint64
	// beforeCheck, set by tests of this package only, runs after a group
	// or session pass has read a member and before its pidfd is opened:
	// the window in which the member may leave or its PID be reused.
	beforeCheck func(pid int)
}

// NewKiller returns a Killer. It reads the identity of the processes it
// signals from /proc, and refuses to signal anything unless /proc is the
// procfs of ptrule's own PID namespace: only there do the numbers it reads
// name the processes a signal reaches.
func NewKiller() *Killer {
	return &Killer{procRoot: "/proc", self: os.Getpid(), hz: proc.ClockTicks()}
}

// CheckProcfs returns nil when dir is a procfs that shows the processes of
// ptrule's own PID namespace, which is what a PID number in a signal
// refers to, and otherwise an error that says what dir is instead. A
// directory that merely looks like /proc (a fake tree, a copy) or the
// procfs of another PID namespace (a container's, or the host's seen from
// a container) is refused: acting on its numbers would signal unrelated
// processes.
func CheckProcfs(dir string) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if fs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not a procfs mount (a copied or fake /proc tree)", dir)
	}
	self := strconv.Itoa(os.Getpid())
	link, err := os.Readlink(filepath.Join(dir, "self"))
	if err != nil || link != self {
		return fmt.Errorf("%s is the procfs of another PID namespace: ptrule (pid %s) is not its %q there", dir, self, "self")
	}
	// NSpid lists the process's pid in the namespace of the procfs and in
	// each nested one down to its own: one entry means the procfs is of
	// ptrule's own namespace, not of an ancestor where its pid happens to
	// be the same number.
	b, _, err := proc.ReadCapped(filepath.Join(dir, "self", "status"), proc.MaxFileSize)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if v, ok := proc.StatusField(b, "NSpid:"); ok {
		if f := strings.Fields(string(v)); len(f) != 1 || f[0] != self {
			return fmt.Errorf("%s is the procfs of an ancestor PID namespace (NSpid %s)", dir, strings.Join(f, " "))
		}
	}
	return nil
}

// readStat reads and parses /proc/PID/stat. A process that is gone, or
// exiting while its stat is read, yields an error for which proc.Vanished
// reports true.
func (k *Killer) readStat(pid int) (proc.Stat, error) {
	b, _, err := proc.ReadCapped(filepath.Join(k.procRoot, strconv.Itoa(pid), "stat"), proc.MaxFileSize)
	if err != nil {
		return proc.Stat{}, err
	}
	return proc.ParseStat(b)
}

// readTgid returns the thread group id of pid from /proc/PID/status.
func (k *Killer) readTgid(pid int) (int, error) {
	b, _, err := proc.ReadCapped(filepath.Join(k.procRoot, strconv.Itoa(pid), "status"), proc.MaxFileSize)
	if err != nil {
		return 0, err
	}
	v, ok := proc.StatusField(b, "Tgid:")
	if !ok {
		return 0, errors.New("no Tgid line in status")
	}
	return strconv.Atoi(string(bytes.TrimSpace(v)))
}

// protected returns the processes that are never signalled, other than pid
// 1 and kernel threads: ptrule and its ancestors, walked at kill time
// because ptrule may have been re-parented since it started.
func (k *Killer) protected() map[int]string {
	p := map[int]string{k.self: "ptrule itself"}
	if pp := os.Getppid(); pp > 1 {
		p[pp] = "an ancestor of ptrule"
	}
	visited := map[int]bool{}
	for pid := k.self; pid > 1 && !visited[pid]; {
		visited[pid] = true
		st, err := k.readStat(pid)
		if err != nil || st.PPID <= 1 {
			break
		}
		p[st.PPID] = "an ancestor of ptrule"
		pid = st.PPID
	}
	return p
}

// victim is a process that received the signal, remembered for the grace
// period: its pidfd (or -1) keeps addressing that very process.
type victim struct {
	pid   int
	start uint64
	fd    int
}

// candidate is a process that passed every check and is about to be
// signalled: its pidfd (or -1) is open, and its stat was read after it.
type candidate struct {
	pid int
	fd  int
	st  proc.Stat
}

// memberKey identifies a process across passes: a PID reused by a new
// member of a fork bomb is a new member.
type memberKey struct {
	pid   int
	start uint64
}

// killRun is the state of one Kill call.
type killRun struct {
	k       *Killer
	sig     syscall.Signal
	guard   map[int]string
	res     KillResult
	victims []victim
	seen    map[memberKey]bool
}

// Kill signals what req names and says what happened.
//
// Each process is addressed by a pidfd opened before its start time is
// read from /proc, so the check and the signal concern the same process:
// a pidfd names one process for good, and the signal sent through it
// reaches that process or fails with ESRCH, which also proves that the
// stat read before it was that process's. Where the kernel has no pidfd
// (ENOSYS, or EPERM from a seccomp filter) it falls back to kill(2) right
// after the check.
//
// A group or session is signalled only while it provably is the one the
// snapshot saw. Its number names it only as long as some process holds it
// as group or session id: Linux hands out no PID, and so no new group or
// session id, while any process (a zombie included) still holds the number.
// So after each pass has read and opened the current members, Kill looks
// for an anchor: a process of req.Seen, or one this Kill already signalled
// as a member, that still exists with its start time and still belongs to
// the group or session. With an anchor the number was never released since
// the snapshot, every member read is a member of the matched group or
// session, and all are signalled, the ones born after the snapshot (a fork
// bomb's late children) included: a process enters a session only by
// being forked into it. Without one, in the first pass nothing is
// signalled and the whole target is refused as reused. In a later pass,
// where the members signalled so far may all have been reaped, a member
// is still signalled if it started before the last moment an anchor was
// seen: every process of a session that reused the number started after
// the matched one ended. Later members are refused and left to the next
// scan, which sees them.
// (Process groups have one gap the kernel does not close: a member may
// setpgid back into a group of the same number created within its own
// session; such processes are the matched session's own.)
//
// With a Grace and any signal but SIGKILL, survivors get SIGKILL after
// Grace; a ctx that ends cuts the grace short and survivors get SIGKILL at
// once, since the kill was already decided.
func (k *Killer) Kill(ctx context.Context, req KillRequest) KillResult {
	r := &killRun{k: k, sig: req.Signal, seen: map[memberKey]bool{}}
	r.res = KillResult{Signal: SignalName(req.Signal), Target: req.Target, Signalled: []int{}, Gone: []KillNote{}, Refused: []KillNote{}}
	return r.run(ctx, req)
}

func (r *killRun) run(ctx context.Context, req KillRequest) KillResult {
	defer func() {
		for _, v := range r.victims {
			if v.fd >= 0 {
				unix.Close(v.fd)
			}
		}
	}()
	if req.PGID != 0 && req.SID != 0 {
		r.refuse(req.SID, "a kill names a process group or a session, not both")
		return r.res
	}
	if err := CheckProcfs(r.k.procRoot); err != nil {
		why := "cannot tell which process a pid names: " + err.Error()
		for _, p := range req.Procs {
			r.refuse(p.PID, why)
		}
		for _, id := range []int{req.PGID, req.SID} {
			if id != 0 {
				r.refuse(id, why)
			}
		}
		return r.res
	}
	r.guard = r.k.protected()

	for _, p := range req.Procs {
		key := memberKey{p.PID, p.StartTicks}
		if r.seen[key] {
			continue
		}
		r.seen[key] = true
		if c, ok := r.check(p.PID, p.StartTicks, nil, ""); ok {
			r.fire(c)
		}
	}
	if req.PGID != 0 {
		r.signalAll(ctx, "process group", req.PGID, req.Seen, func(s proc.Stat) bool { return s.PGrp == req.PGID })
	}
	if req.SID != 0 {
		r.signalAll(ctx, "session", req.SID, req.Seen, func(s proc.Stat) bool { return s.Session == req.SID })
	}
	if req.Grace > 0 && req.Signal != syscall.SIGKILL && len(r.victims) > 0 {
		r.escalate(ctx, req.Grace)
	}
	return r.res
}

func (r *killRun) gone(pid int, reason string) {
	r.res.Gone = append(r.res.Gone, KillNote{PID: pid, Reason: reason})
}

func (r *killRun) refuse(pid int, reason string) {
	r.res.Refused = append(r.res.Refused, KillNote{PID: pid, Reason: reason})
}

// check opens a pidfd on pid and checks that it is the process that
// started at start, that it may be signalled, and that member, if not nil,
// holds for it as read after the pidfd was opened (a group or session
// member that moved out is left alone). It records why when it is not.
func (r *killRun) check(pid int, start uint64, member func(proc.Stat) bool, what string) (candidate, bool) {
	switch {
	case pid <= 0:
		r.refuse(pid, "not a process id")
		return candidate{}, false
	case pid == 1:
		r.refuse(pid, "pid 1 (init) is never signalled")
		return candidate{}, false
	}
	if why, ok := r.guard[pid]; ok {
		r.refuse(pid, why+" is never signalled")
		return candidate{}, false
	}

	// The pidfd comes first: once it is open it names one process for
	// good, so a start time read afterwards that matches, followed by a
	// signal through the pidfd that succeeds, proves the pidfd is the
	// process the snapshot saw.
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
	case errors.Is(err, unix.ESRCH):
		r.gone(pid, "no such process")
		return candidate{}, false
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
		fd = -1
	case errors.Is(err, unix.EINVAL):
		r.refuse(pid, "not a process (a thread id?)")
		return candidate{}, false
	default:
		r.refuse(pid, fmt.Sprintf("cannot open a pidfd: %v", err))
		return candidate{}, false
	}
	keep := false
	defer func() {
		if !keep && fd >= 0 {
			unix.Close(fd)
		}
	}()

	st, err := r.k.readStat(pid)
	if err != nil {
		if proc.Vanished(err) {
			r.gone(pid, "no such process")
		} else {
			r.refuse(pid, fmt.Sprintf("cannot read its stat: %v", err))
		}
		return candidate{}, false
	}
	switch {
	case st.KernelThread():
		r.refuse(pid, "kernel threads are never signalled")
		return candidate{}, false
	case start == 0:
		r.refuse(pid, "start time unknown (StartTicks is 0): cannot rule out pid reuse")
		return candidate{}, false
	case st.StartTime != start:
		r.refuse(pid, "pid reused (start time differs)")
		return candidate{}, false
	case member != nil && !member(st):
		r.gone(pid, "left the "+what+" before it was signalled")
		return candidate{}, false
	case st.Zombie():
		r.gone(pid, "already exited (zombie)")
		return candidate{}, false
	}
	if fd < 0 {
		// Without a pidfd, kill(2) on a thread id would signal the whole
		// thread group it belongs to, which may be ptrule's.
		if tgid, err := r.k.readTgid(pid); err != nil || tgid != pid {
			r.refuse(pid, "not a process (a thread id?)")
			return candidate{}, false
		}
	}
	keep = true
	return candidate{pid: pid, fd: fd, st: st}, true
}

// fire signals a checked candidate and records the outcome; it takes over
// the candidate's pidfd.
func (r *killRun) fire(c candidate) {
	if err := r.send(c.pid, c.fd, r.sig); err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		if errors.Is(err, unix.ESRCH) {
			r.gone(c.pid, "exited before the signal")
		} else {
			r.refuse(c.pid, fmt.Sprintf("sending %s failed: %v", SignalName(r.sig), err))
		}
		return
	}
	r.res.Signalled = append(r.res.Signalled, c.pid)
	r.victims = append(r.victims, victim{pid: c.pid, start: c.st.StartTime, fd: c.fd})
}

// send signals through the pidfd, or with kill(2) when there is none.
func (r *killRun) send(pid, fd int, sig syscall.Signal) error {
	if fd >= 0 {
		return unix.PidfdSendSignal(fd, sig, nil, 0)
	}
	return unix.Kill(pid, sig)
}

// signalAll signals every member of a process group or session, re-reading
// /proc until a pass finds no new member (or maxGroupPasses), as long as an
// anchor shows the number is still the one seen (see Kill).
func (r *killRun) signalAll(ctx context.Context, what string, id int, seen []ProcID, member func(proc.Stat) bool) {
	if id <= 1 {
		// Group and session 1 hold init and whatever it started without a
		// session of its own; 0 and negative ids are not real groups.
		r.refuse(id, fmt.Sprintf("%s %d is never signalled as a whole", what, id))
		return
	}
	g := &groupKill{what: what, id: id, seen: seen, member: member, anchors: append([]ProcID(nil), seen...)}
	for pass := range maxGroupPasses {
		// The first pass always runs; an ended ctx only stops the chase
		// of late members.
		if pass > 0 && ctx.Err() != nil {
			return
		}
		cands, found := r.newMembers(g)
		if !found {
			if pass == 0 {
				r.gone(id, fmt.Sprintf("%s %d has no process left", what, id))
			}
			return
		}
		if !r.prove(g) {
			cands = r.unproven(g, pass, cands)
			if pass == 0 {
				return
			}
		}
		for _, c := range cands {
			r.fire(c)
			g.anchors = append(g.anchors, ProcID{PID: c.pid, StartTicks: c.st.StartTime})
		}
		// The processes just signalled are still there, dying or zombies,
		// for a moment: proving the number now covers the members they
		// forked before the signal reached them.
		r.prove(g)
	}
}

// groupKill is the state of signalAll for one process group or session.
type groupKill struct {
	what   string // "process group" or "session"
	id     int
	seen   []ProcID
	member func(proc.Stat) bool
	// anchors are the processes whose presence proves the number is
	// still the matched one: those of the snapshot and those signalled.
	anchors []ProcID
	// provenBefore is a boot-clock tick before which the number was last
	// proven to be the matched one by an anchor; 0 while it never was.
	provenBefore uint64
}

// newMembers reads the members of the group or session that no earlier
// pass met and checks each (see check); found reports whether there was
// any new member, checked or not.
func (r *killRun) newMembers(g *groupKill) (cands []candidate, found bool) {
	for _, st := range r.k.scan(g.member) {
		key := memberKey{st.PID, st.StartTime}
		if r.seen[key] {
			continue
		}
		r.seen[key] = true
		found = true
		if r.k.beforeCheck != nil {
			r.k.beforeCheck(st.PID)
		}
		if c, ok := r.check(st.PID, st.StartTime, g.member, g.what); ok {
			cands = append(cands, c)
		}
	}
	return cands, found
}

// prove looks for an anchor and, when one is there, records the moment
// before the look as the last time the number was proven.
func (r *killRun) prove(g *groupKill) bool {
	t := r.k.nowTicks()
	if !r.anchored(g.anchors, g.member) {
		return false
	}
	g.provenBefore = t
	return true
}

// unproven deals with the candidates of a pass that found no anchor: it
// keeps those that started before the number was last proven, members of
// the matched group or session, and refuses the others (and, in the first
// pass with no candidate, the whole target) with the reason.
func (r *killRun) unproven(g *groupKill, pass int, cands []candidate) []candidate {
	var reason string
	switch {
	case pass > 0:
		reason = fmt.Sprintf("joined %s %d after every process known to be in it was gone: cannot rule out that the id was reused; the next scan sees it", g.what, g.id)
	case len(g.seen) == 0:
		reason = fmt.Sprintf("no process of the snapshot ties %s %d to the one the rule matched", g.what, g.id)
	default:
		reason = fmt.Sprintf("%s id reused: none of the %d processes the snapshot saw in %s %d is still in it", g.what, len(g.seen), g.what, g.id)
	}
	var kept []candidate
	for _, c := range cands {
		if c.st.StartTime < g.provenBefore {
			kept = append(kept, c)
			continue
		}
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		r.refuse(c.pid, reason)
	}
	if pass == 0 && len(cands) == 0 {
		r.refuse(g.id, reason)
	}
	return kept
}

// nowTicks returns the boot clock in the unit and origin of the start
// times of /proc/PID/stat (USER_HZ ticks since boot).
func (k *Killer) nowTicks() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	hz := k.hz
	if hz == 0 {
		hz = proc.DefaultClockTicks
	}
	return uint64(ts.Nano()) / (uint64(time.Second) / hz)
}

// anchored reports whether one of ids still exists, zombie or not, with
// its start time and still a member: proof that the group or session
// number was never released since that process was seen in it.
func (r *killRun) anchored(ids []ProcID, member func(proc.Stat) bool) bool {
	for _, id := range ids {
		if id.StartTicks == 0 {
			continue
		}
		st, err := r.k.readStat(id.PID)
		if err == nil && st.StartTime == id.StartTicks && member(st) {
			return true
		}
	}
	return false
}

// scan reads every process under procRoot and returns those for which
// member holds, zombies and kernel threads excluded. Processes that vanish
// while being read are skipped.
func (k *Killer) scan(member func(proc.Stat) bool) []proc.Stat {
	pids, err := proc.ListPIDs(k.procRoot)
	if err != nil {
		return nil
	}
	var res []proc.Stat
	for _, pid := range pids {
		st, err := k.readStat(pid)
		if err != nil || st.Zombie() || st.KernelThread() || !member(st) {
			continue
		}
		res = append(res, st)
	}
	return res
}

// alive reports whether the victim still runs: same start time, not a
// zombie.
func (k *Killer) alive(v victim) bool {
	st, err := k.readStat(v.pid)
	return err == nil && st.StartTime == v.start && !st.Zombie()
}

// escalate waits up to grace for the signalled processes to exit and
// sends SIGKILL to those still alive, recording what it did and how long
// it really waited.
func (r *killRun) escalate(ctx context.Context, grace time.Duration) {
	begin := time.Now()
	e := &KillEscalation{Grace: KillDuration(grace), Exited: []int{}, Killed: []int{}, Failed: []KillNote{}}
	r.res.Escalation = e
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(killPoll)
	defer tick.Stop()
	pending := r.victims
wait:
	for {
		var still []victim
		for _, v := range pending {
			if r.k.alive(v) {
				still = append(still, v)
			} else {
				e.Exited = append(e.Exited, v.pid)
			}
		}
		pending = still
		if len(pending) == 0 {
			e.Waited = KillDuration(time.Since(begin).Round(time.Millisecond))
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			e.CutShort = true
			break wait
		}
	}
	e.Waited = KillDuration(time.Since(begin).Round(time.Millisecond))
	for _, v := range pending {
		if v.fd < 0 {
			// kill(2) has no handle on the process: check again that
			// the PID is still the same process right before it.
			if !r.k.alive(v) {
				e.Exited = append(e.Exited, v.pid)
				continue
			}
		}
		err := r.send(v.pid, v.fd, syscall.SIGKILL)
		switch {
		case err == nil:
			e.Killed = append(e.Killed, v.pid)
		case errors.Is(err, unix.ESRCH):
			e.Exited = append(e.Exited, v.pid)
		default:
			e.Failed = append(e.Failed, KillNote{PID: v.pid, Reason: fmt.Sprintf("sending SIGKILL failed: %v", err)})
		}
	}
}
