package engine

import (
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Facts is a set of the facts that cost work of their own to learn: the
// process facts a collection may leave unread until something reads them
// (a rule's condition, an ignore list, a template), the facts the engine
// derives from other processes, and the user and session aggregates that
// depend on the ignore list. The zero value is none of them.
type Facts uint8

const (
	// FactSockets are proc.connections and proc.listening: the process's
	// fd directory and the socket tables.
	FactSockets Facts = 1 << iota
	// FactExe are proc.exe, proc.exe_deleted and proc.exe_mismatch: the
	// exe link and the identity of the file behind it.
	FactExe
	// FactCmdline are proc.cmdline and proc.cmd.
	FactCmdline
	// FactCgroup are proc.cgroup and proc.unit.
	FactCgroup
	// FactRelatives are proc.parent_exe, proc.parent_exe_deleted and
	// proc.pgrp_exe, which the engine takes from the parent's and the
	// group leader's FactExe.
	FactRelatives
	// FactAggregates are the user and session fields that leave out
	// ignored processes (count, pids, rss, vmsize, sessions) and
	// session.leader_exe.
	FactAggregates

	// FactAll is every fact.
	FactAll = FactSockets | FactExe | FactCmdline | FactCgroup | FactRelatives | FactAggregates
	// FactRead are the process facts a Loader reads.
	FactRead = FactSockets | FactExe | FactCmdline | FactCgroup
)

// Has reports whether f holds every fact of g.
func (f Facts) Has(g Facts) bool { return f&g == g }

// processFieldFacts maps the CEL names of the Process fields that may be
// left unread to the fact that holds them; every other field is read with
// the process.
var processFieldFacts = map[string]Facts{
	"exe": FactExe, "exe_deleted": FactExe, "exe_mismatch": FactExe,
	"cmdline": FactCmdline, "cmd": FactCmdline,
	"cgroup": FactCgroup, "unit": FactCgroup,
	"connections": FactSockets, "listening": FactSockets,
	"parent_exe": FactRelatives, "parent_exe_deleted": FactRelatives, "pgrp_exe": FactRelatives,
}

// aggregateFields are the CEL names of the User and Session fields that
// are computed on first use (FactAggregates).
var aggregateFields = map[string]bool{
	"count": true, "pids": true, "rss": true, "vmsize": true, "sessions": true, "leader_exe": true,
}

// Loader reads the facts a lazy collection left unread. The collector
// implements it over the process directories it keeps open while the
// snapshot is in use, so that a fact read late still belongs to the
// process the snapshot saw, never to a later one that reused its PID.
type Loader interface {
	// Load fills the fields of the facts f (of FactRead) of p, the i-th
	// process of the snapshot; a fact that cannot be read (the process
	// is gone) leaves its fields empty, as an eager collection would.
	Load(i int, p *Process, f Facts)
	// Release gives back what the loader holds; Load is not called after.
	Release()
}

// lazyProc is what a process of a lazy snapshot has yet to learn.
type lazyProc struct {
	snap    *Snapshot
	i       int
	pending Facts
}

// NewLazySnapshot is NewSnapshot for a collection that left the facts
// pending[i] of procs[i] unread: they are read through l on first use, by
// a rule's condition (through CEL field access), an ignore list, a
// template, or Need. procs must be sorted by PID. FactRelatives is pending
// for every process. A lazy snapshot is used by one goroutine at a time,
// and Release ends it.
func NewLazySnapshot(t time.Time, host Host, load Load, procs []Process, pending []Facts, l Loader) *Snapshot {
	s := &Snapshot{Time: t, Host: host, Load: load, Procs: procs, loader: l}
	s.Host.Procs = len(procs)
	s.byPID = indexByPID(procs)
	s.lazy = make([]lazyProc, len(procs))
	for i := range procs {
		s.lazy[i] = lazyProc{snap: s, i: i, pending: pending[i]&FactRead | FactRelatives}
		procs[i].lazy = &s.lazy[i]
	}
	return s
}

// Need reads the facts f of p that its snapshot left unread, if any. It
// is a no-op for a process of an eager snapshot (fixtures, `facts`) and
// after the snapshot's Release.
func (p *Process) Need(f Facts) {
	if p.lazy != nil && p.lazy.pending&f != 0 {
		p.lazy.snap.load(p.lazy.i, f)
	}
}

// load reads the pending facts f of the process at index i.
func (s *Snapshot) load(i int, f Facts) {
	lp := &s.lazy[i]
	todo := lp.pending & f
	if todo == 0 {
		return
	}
	// Cleared first: a fact is read once, whatever the read gives.
	lp.pending &^= todo
	p := &s.Procs[i]
	if read := todo & FactRead; read != 0 && s.loader != nil {
		s.loader.Load(i, p, read)
	}
	if todo.Has(FactRelatives) {
		s.fillRelatives(i)
	}
}

// LoadAll reads the facts f of every process that has them pending.
func (s *Snapshot) LoadAll(f Facts) {
	for i := range s.lazy {
		s.load(i, f)
	}
}

// Release ends the lazy reading: the loader gives back what it holds, and
// what was not read stays as it is, empty. Whatever is decided after
// Release (an ignore decision, an aggregate) is decided from what was read
// by then, so the caller releases a snapshot when it is done with it and
// with its views. It is safe to call on any snapshot, more than once.
func (s *Snapshot) Release() {
	if s.loader != nil {
		s.loader.Release()
		s.loader = nil
	}
	for i := range s.lazy {
		s.lazy[i].pending = 0
	}
}

// fillRelatives sets parent_exe and parent_exe_deleted from the process
// whose PID is the ppid, and pgrp_exe from the one whose PID is the pgid,
// where the reader left them empty.
func (s *Snapshot) fillRelatives(i int) {
	p := &s.Procs[i]
	if p.ParentExe == "" {
		if j, ok := s.byPID[p.PPID]; ok && j != i {
			parent := &s.Procs[j]
			parent.Need(FactExe)
			p.ParentExe, p.ParentExeDeleted = parent.Exe, parent.ExeDeleted
		}
	}
	if p.PgrpExe == "" {
		if j, ok := s.byPID[p.PGID]; ok {
			leader := &s.Procs[j]
			leader.Need(FactExe)
			p.PgrpExe = leader.Exe
		}
	}
}

// lazyFieldAccess makes CEL's access to the fields of processes, users and
// sessions read them on first use: it wraps the environment's type
// provider so that the field accessors of the lazy fields first ask for
// their facts. It must follow ext.NativeTypes.
func lazyFieldAccess(e *cel.Env) (*cel.Env, error) {
	return cel.CustomTypeProvider(&lazyProvider{Provider: e.CELTypeProvider()})(e)
}

// lazyProvider is a types.Provider whose lazy fields load their facts.
// CEL reaches a field through FieldType.GetFrom when the type of the value
// is known when the expression is checked (proc.cmd, p.exe in
// [proc].map(p, ...)); through dyn it reaches the Go struct directly,
// which is why exprNeeds names what such an expression reads, and the
// evaluation reads it first.
type lazyProvider struct {
	types.Provider
}

func (p *lazyProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	ft, ok := p.Provider.FindStructFieldType(name, field)
	if !ok || ft.GetFrom == nil || ft.IsSet == nil {
		return ft, ok
	}
	var need func(obj any) any
	switch {
	case name == typeProcess && processFieldFacts[field] != 0:
		f := processFieldFacts[field]
		need = func(obj any) any {
			switch p := obj.(type) {
			case *Process:
				p.Need(f)
			case Process:
				// A copy: read from the snapshot's own process.
				if p.lazy != nil {
					q := &p.lazy.snap.Procs[p.lazy.i]
					q.Need(f)
					return q
				}
			}
			return obj
		}
	case (name == typeUser || name == typeSession) && aggregateFields[field]:
		need = func(obj any) any {
			switch a := obj.(type) {
			case *User:
				a.complete()
			case *Session:
				a.complete()
			}
			return obj
		}
	default:
		return ft, ok
	}
	get, isSet := ft.GetFrom, ft.IsSet
	return &types.FieldType{
		Type:        ft.Type,
		IsJSONField: ft.IsJSONField,
		IsSet:       func(obj any) bool { return isSet(need(obj)) },
		GetFrom:     func(obj any) (any, error) { return get(need(obj)) },
	}, true
}
