package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Results of a KillOutcome.
const (
	// KillSignalled means the signal was delivered to the process.
	KillSignalled = "signalled"
	// KillGone means the process no longer existed (or had already exited
	// and was waiting to be reaped) when ptrule came to signal it.
	KillGone = "gone"
	// KillRefused means ptrule would not, or could not, signal the process;
	// Reason says why.
	KillRefused = "refused"
)

// killPoll is how often survivors of a SIGTERM are checked during the grace
// period.
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

// KillRequest says what to signal. Procs, PGID and SID may be combined; a
// process met twice is signalled once.
type KillRequest struct {
	// Signal is the signal to send.
	Signal syscall.Signal
	// Grace, with SIGTERM, is how long survivors get before SIGKILL. Zero
	// means no escalation; other signals never escalate.
	Grace time.Duration
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
}

// KillOutcome is what happened to one process. A request-wide refusal (a
// group or session id that is never signalled) carries that id as PID.
type KillOutcome struct {
	PID int
	// Result is KillSignalled, KillGone or KillRefused.
	Result string
	// Reason explains a refusal, an escalation or how a process was gone.
	Reason string
}

// Killer sends signals with the safety checks that hold whatever a rule
// says: never pid 1, kernel threads, ptrule itself or its ancestors, nor a
// process whose start time no longer matches (PID reuse).
type Killer struct {
	procRoot string
	self     int
}

// NewKiller returns a Killer reading process facts under procRoot
// (normally "/proc"; "" means "/proc"). Signals always go to the real
// processes of the running kernel, so procRoot must be the procfs of the
// PID namespace ptrule runs in.
func NewKiller(procRoot string) *Killer {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return &Killer{procRoot: procRoot, self: os.Getpid()}
}

// zombie reports whether the process has exited and only waits to be
// reaped: such a process cannot be signalled into doing anything.
func (s pidStat) zombie() bool { return s.state == "Z" || s.state == "X" || s.state == "x" }

// kernelThread reports whether the killer takes the process for a kernel
// thread: flagged PF_KTHREAD, or kthreadd (PID 2) or one of its children.
// Unlike the collector's test, it holds in a PID namespace too: refusing
// a signal is the safe mistake.
func (s pidStat) kernelThread() bool {
	return s.flags&kthreadFlag != 0 || s.pid == 2 || s.ppid == 2
}

// readStat reads and parses /proc/PID/stat. A process that is gone, or
// exiting while its stat is read, yields an error for which vanished
// reports true.
func (k *Killer) readStat(pid int) (pidStat, error) {
	b, _, err := readCapped(filepath.Join(k.procRoot, strconv.Itoa(pid), "stat"), maxProcFileSize)
	if err != nil {
		return pidStat{}, err
	}
	return parsePidStat(b)
}

// readTgid returns the thread group id of pid from /proc/PID/status.
func (k *Killer) readTgid(pid int) (int, error) {
	b, _, err := readCapped(filepath.Join(k.procRoot, strconv.Itoa(pid), "status"), maxProcFileSize)
	if err != nil {
		return 0, err
	}
	v, ok := statusField(b, "Tgid:")
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
		if err != nil || st.ppid <= 1 {
			break
		}
		p[st.ppid] = "an ancestor of ptrule"
		pid = st.ppid
	}
	return p
}

// victim is a process that received the signal, remembered for the grace
// period: its pidfd (or -1) keeps addressing that very process.
type victim struct {
	pid   int
	start uint64
	fd    int
	out   int // index in the outcomes
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
	out     []KillOutcome
	victims []victim
	seen    map[memberKey]bool
}

// Kill signals what req names and reports one outcome per process met.
// Each process is addressed by a pidfd opened before its start time is
// checked, so the check and the signal concern the same process; where the
// kernel has no pidfd (ENOSYS, or EPERM from a seccomp filter) it falls back
// to kill(2) right after the check. With SIGTERM and a Grace, survivors get
// SIGKILL after Grace; a ctx that ends cuts the grace short and survivors
// get SIGKILL at once, since the kill was already decided.
func (k *Killer) Kill(ctx context.Context, req KillRequest) []KillOutcome {
	r := &killRun{k: k, sig: req.Signal, guard: k.protected(), seen: map[memberKey]bool{}}
	defer func() {
		for _, v := range r.victims {
			if v.fd >= 0 {
				unix.Close(v.fd)
			}
		}
	}()

	done := map[int]bool{}
	for _, p := range req.Procs {
		if done[p.PID] {
			continue
		}
		done[p.PID] = true
		r.seen[memberKey{p.PID, p.StartTicks}] = true
		r.signal(p.PID, p.StartTicks, nil, "")
	}
	if req.PGID != 0 {
		r.signalAll(ctx, "process group", req.PGID, func(s pidStat) bool { return s.pgrp == req.PGID })
	}
	if req.SID != 0 {
		r.signalAll(ctx, "session", req.SID, func(s pidStat) bool { return s.session == req.SID })
	}
	if req.Signal == syscall.SIGTERM && req.Grace > 0 && len(r.victims) > 0 {
		r.escalate(ctx, req.Grace)
	}
	return r.out
}

// add records an outcome and returns its index.
func (r *killRun) add(pid int, result, reason string) int {
	r.out = append(r.out, KillOutcome{PID: pid, Result: result, Reason: reason})
	return len(r.out) - 1
}

// signal checks and signals one process whose start time must be start.
// member, if not nil, must still hold for the process as read after its
// pidfd is open (a group or session member that moved out is left alone).
func (r *killRun) signal(pid int, start uint64, member func(pidStat) bool, what string) {
	switch {
	case pid <= 0:
		r.add(pid, KillRefused, "not a process id")
		return
	case pid == 1:
		r.add(pid, KillRefused, "pid 1 (init) is never signalled")
		return
	case pid == 2:
		r.add(pid, KillRefused, "kernel threads are never signalled")
		return
	}
	if why, ok := r.guard[pid]; ok {
		r.add(pid, KillRefused, why+" is never signalled")
		return
	}

	// The pidfd comes first: once it is open it names one process for
	// good, so a start time read afterwards that matches proves the pidfd
	// is the process the snapshot saw.
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
	case errors.Is(err, unix.ESRCH):
		r.add(pid, KillGone, "no such process")
		return
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
		fd = -1
	case errors.Is(err, unix.EINVAL):
		r.add(pid, KillRefused, "not a process (a thread id?)")
		return
	default:
		r.add(pid, KillRefused, fmt.Sprintf("cannot open a pidfd: %v", err))
		return
	}
	keep := false
	defer func() {
		if !keep && fd >= 0 {
			unix.Close(fd)
		}
	}()

	st, err := r.k.readStat(pid)
	if err != nil {
		if vanished(err) {
			r.add(pid, KillGone, "no such process")
		} else {
			r.add(pid, KillRefused, fmt.Sprintf("cannot read its stat: %v", err))
		}
		return
	}
	switch {
	case st.kernelThread():
		r.add(pid, KillRefused, "kernel threads are never signalled")
		return
	case st.starttime != start && start == 0:
		r.add(pid, KillRefused, "start time unknown (StartTicks is 0): cannot rule out pid reuse")
		return
	case st.starttime != start:
		r.add(pid, KillRefused, "pid reused (start time differs)")
		return
	case member != nil && !member(st):
		r.add(pid, KillGone, "left the "+what+" before it was signalled")
		return
	case st.zombie():
		r.add(pid, KillGone, "already exited (zombie)")
		return
	}
	if fd < 0 {
		// Without a pidfd, kill(2) on a thread id would signal the whole
		// thread group it belongs to, which may be ptrule's.
		if tgid, err := r.k.readTgid(pid); err != nil || tgid != pid {
			r.add(pid, KillRefused, "not a process (a thread id?)")
			return
		}
	}
	if err := r.send(pid, fd, r.sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			r.add(pid, KillGone, "exited before the signal")
		} else {
			r.add(pid, KillRefused, fmt.Sprintf("sending %v failed: %v", r.sig, err))
		}
		return
	}
	keep = true
	i := r.add(pid, KillSignalled, "")
	r.victims = append(r.victims, victim{pid: pid, start: st.starttime, fd: fd, out: i})
}

// send signals through the pidfd, or with kill(2) when there is none.
func (r *killRun) send(pid, fd int, sig syscall.Signal) error {
	if fd >= 0 {
		return unix.PidfdSendSignal(fd, sig, nil, 0)
	}
	return unix.Kill(pid, sig)
}

// signalAll signals every member of a process group or session, re-reading
// /proc until a pass finds no new member (or maxGroupPasses).
func (r *killRun) signalAll(ctx context.Context, what string, id int, member func(pidStat) bool) {
	if id <= 1 {
		// Group and session 1 hold init and whatever it started without a
		// session of its own; 0 and negative ids are not real groups.
		r.add(id, KillRefused, fmt.Sprintf("%s %d is never signalled as a whole", what, id))
		return
	}
	for pass := range maxGroupPasses {
		// The first pass always runs, as explicit processes are always
		// signalled; an ended ctx only stops the chase of late members.
		if pass > 0 && ctx.Err() != nil {
			return
		}
		found := false
		for _, st := range r.k.scan(member) {
			key := memberKey{st.pid, st.starttime}
			if r.seen[key] {
				continue
			}
			r.seen[key] = true
			found = true
			r.signal(st.pid, st.starttime, member, what)
		}
		if !found {
			return
		}
	}
}

// scan reads every process under procRoot and returns those for which
// member holds, zombies and kernel threads excluded. Processes that vanish
// while being read are skipped.
func (k *Killer) scan(member func(pidStat) bool) []pidStat {
	pids, err := listPIDs(k.procRoot)
	if err != nil {
		return nil
	}
	var res []pidStat
	for _, pid := range pids {
		st, err := k.readStat(pid)
		if err != nil || st.zombie() || st.kernelThread() || !member(st) {
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
	return err == nil && st.starttime == v.start && !st.zombie()
}

// escalate waits up to grace for the victims of a SIGTERM to exit and sends
// SIGKILL to those still alive.
func (r *killRun) escalate(ctx context.Context, grace time.Duration) {
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
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for _, v := range pending {
		o := &r.out[v.out]
		if v.fd < 0 {
			// kill(2) has no handle on the process: check again that
			// the PID is still the same process right before it.
			if !r.k.alive(v) {
				o.Reason = "exited within the grace period"
				continue
			}
		}
		err := r.send(v.pid, v.fd, syscall.SIGKILL)
		switch {
		case err == nil:
			o.Reason = fmt.Sprintf("still alive after %v of grace: sent SIGKILL", grace)
		case errors.Is(err, unix.ESRCH):
			o.Reason = "exited within the grace period"
		default:
			o.Reason = fmt.Sprintf("still alive after %v of grace; SIGKILL failed: %v", grace, err)
		}
	}
}
