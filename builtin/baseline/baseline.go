// Package baseline proposes an ignore list for what the rules would report
// on a host now: the file `ptrule baseline` writes, for an administrator to
// review before installing it, so that the first day of ptrule is not an
// alert flood about the daemons the host has always run.
//
// It is pure: it reads a snapshot's matches (engine.RuleSet.Evaluate) and
// renders text. It never proposes a line that would hide a deleted or
// replaced executable, nor an exe: line for an interpreter (which would hide
// every script it runs); every line carries an annotation with a reason, an
// owner and an expiry, so a baseline cannot hide a future intruder forever.
package baseline

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ptrule/engine"
)

// DefaultOwner is the owner annotation of a proposed line when none is given.
const DefaultOwner = "baseline"

// DefaultValidity is how long a proposed line stays valid by default.
const DefaultValidity = 90 * 24 * time.Hour

// Options say how a proposal is annotated.
type Options struct {
	// Now is the moment of the scan, used in the reasons.
	Now time.Time
	// Expires is written as each line's expires= value, as given: a date
	// (YYYY-MM-DD) or an RFC 3339 time.
	Expires string
	// Owner is each line's owner= value.
	Owner string
}

// Entry is one proposed ignore line and the processes it would hide.
type Entry struct {
	// Line is the ignore-list line (exe:, cmd:, pcmd: or unit:).
	Line string
	// Rules are the rules that would fire for those processes, in rule
	// order.
	Rules []string
	// Users are the users running them with their process counts.
	Users []UserCount
	// PIDs are the processes the line hides now, ascending.
	PIDs []int
	// Exe is the executable the processes run.
	Exe string
	// Interpreter is set when Exe runs scripts (see engine.Interpreter).
	Interpreter string
	// Risk says what the line hides beyond these processes ("" for an
	// exe: line of a daemon).
	Risk string
	// StillReported are the rules that report these processes even with
	// the line loaded (see Recheck): rules that do not consult ignore
	// lists, such as pt-sshd-hung.
	StillReported []string
}

// UserCount is one user's share of an entry.
type UserCount struct {
	User  string
	Count int
}

// Skipped is a reported process for which no line is proposed, and why.
type Skipped struct {
	Rules []string
	Users []UserCount
	PIDs  []int
	// What names the processes (their executable); Why says why nothing
	// is proposed and what to do instead.
	What, Why string
}

// Finding is a user-, session- or host-scope match: an ignore line
// cannot narrow it, so it is listed with what to patch instead.
type Finding struct {
	Rule   string
	Scope  engine.Scope
	Entity string
	// Advice says what to change instead of ignoring.
	Advice string
}

// Proposal is the proposed ignore list.
type Proposal struct {
	Host    string
	Options Options
	// Entries are grouped by the first rule that would fire for them, in
	// rule order, and sorted by line within a group.
	Entries  []Entry
	Skipped  []Skipped
	Findings []Finding
}

// Propose builds the proposal for the matches of one evaluation of snap.
// Only process-scope matches give lines; a process is proposed once, under
// every rule that matched it.
func Propose(snap *engine.Snapshot, matches []*engine.Match, opt Options) *Proposal {
	if opt.Owner == "" {
		opt.Owner = DefaultOwner
	}
	p := &Proposal{Host: snap.Host.Name, Options: opt}
	type acc struct {
		entry   Entry
		skipped bool
		order   int
		users   map[string]int
		pids    map[int]bool
		rules   []string
	}
	byKey := map[string]*acc{}
	var keys []string
	for _, m := range matches {
		if m.Rule.Scope != engine.ScopeProcess {
			p.Findings = append(p.Findings, finding(m))
			continue
		}
		pr := m.Proc
		e, why := propose(pr)
		key := "line\x00" + e.Line
		if e.Line == "" {
			key = "skip\x00" + pr.Exe + "\x00" + why
		}
		a := byKey[key]
		if a == nil {
			a = &acc{entry: e, skipped: e.Line == "", order: len(keys), users: map[string]int{}, pids: map[int]bool{}}
			a.entry.Risk = cmp.Or(a.entry.Risk, why)
			byKey[key] = a
			keys = append(keys, key)
		}
		if !slices.Contains(a.rules, m.Rule.Name) {
			a.rules = append(a.rules, m.Rule.Name)
		}
		if !a.pids[pr.PID] {
			a.pids[pr.PID] = true
			a.users[pr.User]++
		}
	}
	for _, k := range keys {
		a := byKey[k]
		e := a.entry
		e.Rules = a.rules
		for u, n := range a.users {
			e.Users = append(e.Users, UserCount{User: u, Count: n})
		}
		sort.Slice(e.Users, func(i, j int) bool { return e.Users[i].User < e.Users[j].User })
		for pid := range a.pids {
			e.PIDs = append(e.PIDs, pid)
		}
		sort.Ints(e.PIDs)
		if a.skipped {
			p.Skipped = append(p.Skipped, Skipped{Rules: e.Rules, Users: e.Users, PIDs: e.PIDs, What: e.Exe, Why: e.Risk})
			continue
		}
		p.Entries = append(p.Entries, e)
	}
	// Group by the first rule, in the order the rules were evaluated.
	ruleOrder := map[string]int{}
	for _, m := range matches {
		if _, ok := ruleOrder[m.Rule.Name]; !ok {
			ruleOrder[m.Rule.Name] = len(ruleOrder)
		}
	}
	slices.SortStableFunc(p.Entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(ruleOrder[a.Rules[0]], ruleOrder[b.Rules[0]]), strings.Compare(a.Line, b.Line))
	})
	return p
}

// Recheck evaluates rs again against snap with the proposed lines added to
// its ignore lists, and records in each entry the rules that still report
// one of its processes, so the file never claims to hide what it does
// not. It returns the evaluation errors.
func (p *Proposal) Recheck(rs *engine.RuleSet, snap *engine.Snapshot) []error {
	var b strings.Builder
	for _, e := range p.Entries {
		b.WriteString(e.Line + "\n")
	}
	proposed, _ := engine.ParseIgnore("baseline", []byte(b.String()), 1, nil)
	merged := &engine.IgnoreList{}
	merged.Append(rs.Ignore)
	merged.Append(proposed)
	again := *rs
	again.Ignore = merged
	matches, errs := again.Evaluate(snap, nil)
	for i := range p.Entries {
		e := &p.Entries[i]
		e.StillReported = nil
		for _, m := range matches {
			if m.Proc != nil && slices.Contains(e.PIDs, m.Proc.PID) && !slices.Contains(e.StillReported, m.Rule.Name) {
				e.StillReported = append(e.StillReported, m.Rule.Name)
			}
		}
	}
	return errs
}

// Risk comments of the line kinds that hide more than a daemon.
const (
	riskCmd   = "a cmd: line hides every process with exactly this command line, whoever runs it and whatever program it runs: anyone who reads it in ps can copy it"
	riskTitle = "its command line is a process title, not a script: the line hides every script this process runs, an exploited one included, and anyone can copy the title"
	riskUnit  = "a unit: line hides every process of the service, a shell an exploited service spawns included"
)

// propose returns the entry for one reported process, or an entry without
// a line and the reason none fits.
func propose(p *engine.Process) (Entry, string) {
	e := Entry{Exe: p.Exe, Interpreter: engine.Interpreter(p.Exe)}
	switch {
	case p.ExeDeleted:
		return e, "it runs a deleted or replaced executable: restart it" + restartHint(p) + " if an update replaced the file, investigate if not; no ignore line is proposed for it"
	case p.ExeMismatch:
		return e, "the file it runs is not the file at its path in ptrule's view (a container or a bind mount): exe: lines never match it; write a unit: or user: line by hand if you trust it"
	case p.Exe == "":
		return e, "its executable could not be read: exe: lines never match it"
	case e.Interpreter != "":
		return proposeInterpreter(p, e)
	}
	e.Line = engine.IgnoreLine("exe", p.Exe)
	if e.Line == "" {
		return e, "no ignore line can name its executable"
	}
	return e, ""
}

// proposeInterpreter proposes the exact command line of an interpreter
// process when that names one script or program title, else its service
// unit, else nothing: an exe: line would hide every script it runs.
func proposeInterpreter(p *engine.Process, e Entry) (Entry, string) {
	if !bareInterpreter(p) {
		if e.Line = engine.IgnoreLine("cmd", p.Cmd); e.Line != "" {
			e.Risk = riskCmd
			if len(p.Cmdline) == 1 {
				e.Risk = riskTitle
			}
			return e, ""
		}
	}
	if strings.HasSuffix(p.Unit, ".service") {
		if e.Line = engine.IgnoreLine("unit", p.Unit); e.Line != "" {
			e.Risk = riskUnit
			return e, ""
		}
	}
	return e, e.Interpreter + " is an interpreter and its command line names no script: an exe: or cmd: line would hide everything it runs; find out what it is"
}

// bareInterpreter reports whether p's command line is only an interpreter's
// name (bash, -bash, /usr/bin/python3): a cmd: line for it would hide
// every interactive use of that interpreter.
func bareInterpreter(p *engine.Process) bool {
	if len(p.Cmdline) > 1 {
		return false
	}
	if len(p.Cmdline) == 0 {
		return true
	}
	return engine.Interpreter(strings.TrimPrefix(p.Cmdline[0], "-")) != ""
}

func restartHint(p *engine.Process) string {
	if p.Unit == "" {
		return ""
	}
	return " (systemctl restart " + text(p.Unit) + ")"
}

// finding describes a match that no ignore line can narrow.
func finding(m *engine.Match) Finding {
	f := Finding{Rule: m.Rule.Name, Scope: m.Rule.Scope}
	patch := "patch the rule's params" + params(m.Rule) + " in /etc/ptrule/rules.d/*.yaml, or set enabled: false"
	switch m.Rule.Scope {
	case engine.ScopeUser:
		f.Entity = "user " + text(m.User.Name)
		f.Advice = patch + "; a user:" + text(m.User.Name) + " line would hide every process of the account, from every rule"
	case engine.ScopeSession:
		f.Entity = "session " + strconv.Itoa(m.Session.SID)
		f.Advice = patch
	default:
		f.Entity = "host"
		f.Advice = patch
	}
	return f
}

// params renders a rule's params as " (k: v, ...)", sorted by name.
func params(r *engine.Rule) string {
	if len(r.Params) == 0 {
		return ""
	}
	names := make([]string, 0, len(r.Params))
	for k := range r.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if v, ok := r.Params[k].(string); ok {
			fmt.Fprintf(&b, "%s: %q", k, v)
		} else {
			fmt.Fprintf(&b, "%s: %v", k, r.Params[k])
		}
	}
	return " (" + text(b.String()) + ")"
}

// text makes s safe in a comment line: printable text is kept, anything
// else (a newline that would end the comment and start an entry, a
// terminal escape) is written as a Go quoted string.
func text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return strconv.Quote(s)
}

// annotationValue writes v as an annotation value, double-quoted when it
// holds a space.
func annotationValue(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
}

// ValidOwner reports why owner cannot be written in an annotation, or nil.
func ValidOwner(owner string) error {
	if owner == "" || strings.ContainsAny(owner, "\"\\=") || text(owner) != owner {
		return fmt.Errorf("owner %q: use printable text without quotes, backslashes or '='", owner)
	}
	return nil
}

// WriteTo writes the proposal as an ignore list.
func (p *Proposal) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	date := p.Options.Now.UTC().Format(time.DateOnly)
	fmt.Fprintf(&b, "# Proposed by `ptrule baseline` on %s at %s: an ignore line for each\n", text(p.Host), p.Options.Now.UTC().Format(time.RFC3339))
	b.WriteString("# process the enabled process rules would report now. Review every entry, delete\n")
	b.WriteString("# what you do not recognise, then install the file in /etc/ptrule/rules.d/ as\n")
	fmt.Fprintf(&b, "# baseline.pignore. Each entry expires %s: then it stops matching and\n", text(p.Options.Expires))
	b.WriteString("# `ptrule check` warns, so a baseline never hides a future intruder for good.\n")
	if len(p.Entries) == 0 && len(p.Skipped) == 0 && len(p.Findings) == 0 {
		b.WriteString("#\n# Nothing would be reported now: no entry is proposed.\n")
	}
	group := ""
	for _, e := range p.Entries {
		if e.Rules[0] != group {
			group = e.Rules[0]
			fmt.Fprintf(&b, "\n# == %s would fire ==\n", text(group))
		}
		b.WriteString("\n")
		what := text(e.Exe)
		if e.Interpreter != "" {
			what += " (interpreter " + e.Interpreter + ")"
		}
		fmt.Fprintf(&b, "# %s: %s; %s\n", what, strings.Join(texts(e.Rules), ", "), people(e.Users, e.PIDs))
		if e.Risk != "" {
			fmt.Fprintf(&b, "# Risk: %s.\n", e.Risk)
		}
		if len(e.StillReported) > 0 {
			fmt.Fprintf(&b, "# Not enough: %s still reports these with this line loaded (it does not consult ignore lists); patch that rule instead.\n", strings.Join(texts(e.StillReported), ", "))
		}
		reason := fmt.Sprintf("baseline %s: %s would fire", date, strings.Join(texts(e.Rules), ", "))
		fmt.Fprintf(&b, "# ptrule: reason=%s owner=%s expires=%s\n", annotationValue(reason), annotationValue(p.Options.Owner), p.Options.Expires)
		b.WriteString(e.Line + "\n")
	}
	if len(p.Skipped) > 0 {
		b.WriteString("\n# == Reported, but no line is proposed ==\n")
		for _, s := range p.Skipped {
			fmt.Fprintf(&b, "#\n# %s: %s; %s\n#   %s.\n", cmp.Or(text(s.What), "(no executable)"), strings.Join(texts(s.Rules), ", "), people(s.Users, s.PIDs), s.Why)
		}
	}
	if len(p.Findings) > 0 {
		b.WriteString("\n# == Not process rules: no ignore line narrows these ==\n")
		for _, f := range p.Findings {
			fmt.Fprintf(&b, "#\n# %s would fire for %s (%s scope).\n#   Instead: %s.\n", text(f.Rule), f.Entity, f.Scope, f.Advice)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}

// people renders "user bob, 2 processes (pids 300, 301)".
func people(users []UserCount, pids []int) string {
	us := make([]string, len(users))
	for i, u := range users {
		us[i] = text(u.User)
		if len(users) > 1 {
			us[i] += fmt.Sprintf(" (%d)", u.Count)
		}
	}
	label := "user"
	if len(users) > 1 {
		label = "users"
	}
	ps := make([]string, len(pids))
	for i, pid := range pids {
		ps[i] = strconv.Itoa(pid)
	}
	noun := "processes"
	if len(pids) == 1 {
		noun = "process"
	}
	return fmt.Sprintf("%s %s, %d %s (pid %s)", label, strings.Join(us, ", "), len(pids), noun, strings.Join(ps, ", "))
}

// ParseExpiry reads --expires: a number of days ("90d"), a date
// (YYYY-MM-DD, meaning the end of that day UTC) or an RFC 3339 time. It
// returns the annotation value to write.
func ParseExpiry(s string, now time.Time) (string, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 3650 {
			return "", fmt.Errorf("--expires %q: write a number of days from 1 to 3650 (90d), a date (2027-03-01) or an RFC 3339 time", s)
		}
		return now.UTC().AddDate(0, 0, n).Format(time.DateOnly), nil
	}
	end := time.Time{}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		end = t.AddDate(0, 0, 1)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		end = t
	} else {
		return "", fmt.Errorf("--expires %q: write a number of days (90d), a date (2027-03-01) or an RFC 3339 time (2027-03-01T12:00:00Z)", s)
	}
	if !end.After(now) {
		return "", fmt.Errorf("--expires %q is in the past: the entries would never match", s)
	}
	return s, nil
}
