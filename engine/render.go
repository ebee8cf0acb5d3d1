package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"
)

// Caps on rendered text. A process chooses the size of its own command
// line (up to the whole argument space, megabytes) and how many processes
// its user runs, so without them one alert about a few processes could
// take gigabytes of the daemon's memory and of a mail server's.
const (
	// MaxFieldBytes caps each string in template data (a command line, a
	// cmdline argument, an exe path, ...), before display escaping.
	MaxFieldBytes = 4 << 10
	// MaxListItems caps the other lists of template data: cmdline
	// arguments, sockets, a session's users.
	MaxListItems = 256
	// MaxListedProcs caps the process lists .user.procs, .session.procs
	// and .exe_procs. The message of an alert whose template reads a
	// list that was cut ends with a line saying how many were left out.
	MaxListedProcs = 100
	// MaxSubject caps a rendered subject.
	MaxSubject = 1 << 10
	// MaxAlertBytes caps a rendered subject and message together.
	MaxAlertBytes = 64 << 10
	// MaxRunArg caps a run action's rendered command and each argument,
	// far below the kernel's 128 KiB limit for one string.
	MaxRunArg = 32 << 10
)

// truncatedMark ends a string that was cut; %d is the number of bytes
// left out.
const truncatedMark = "…[truncated, %d bytes]"

// truncate returns s when it fits in max bytes, else its start and the
// truncation mark, within max bytes in all (max should leave room for the
// mark) and without splitting a UTF-8 sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(fmt.Sprintf(truncatedMark, len(s)))
	if keep < 0 {
		keep = 0
	}
	keep = runeCut(s, keep)
	return s[:keep] + fmt.Sprintf(truncatedMark, len(s)-keep)
}

// runeCut moves a cut at n back to the start of the UTF-8 sequence it
// falls into, if any.
func runeCut(s string, n int) int {
	for i := n; i > 0 && i > n-utf8.UTFMax && i < len(s); i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}

// Enricher supplies text that is read from the host only when an alert is
// rendered — open files, memory maps, a process table — so that a tick
// never pays for it on processes that do not fire. Templates call it as
// {{files .proc.pid}}, {{maps .proc.pid}}, {{ps}}, {{vmstat}}, {{netstat}}
// and {{fetch .params.apache_status}}.
type Enricher interface {
	// OpenFiles lists the files a process holds open, one per line,
	// sockets and pipes left out.
	OpenFiles(pid int) string
	// MemoryMaps returns the process's /proc/PID/maps.
	MemoryMaps(pid int) string
	// ProcessTable lists every process of the snapshot the alert is
	// about, like `ps axuf`.
	ProcessTable(s *Snapshot) string
	// MemoryStats summarises memory and CPU, like `vmstat`.
	MemoryStats() string
	// NetworkConnections lists the host's sockets, like `netstat -autpn`.
	NetworkConnections() string
	// HTTPGet fetches a status page; a failure is returned as text.
	HTTPGet(url string) string
}

// NoEnricher is the Enricher of fixtures: it reads nothing and returns "".
type NoEnricher struct{}

func (NoEnricher) OpenFiles(int) string          { return "" }
func (NoEnricher) MemoryMaps(int) string         { return "" }
func (NoEnricher) ProcessTable(*Snapshot) string { return "" }
func (NoEnricher) MemoryStats() string           { return "" }
func (NoEnricher) NetworkConnections() string    { return "" }
func (NoEnricher) HTTPGet(string) string         { return "" }

// funcMap gives templates the enricher's functions; {{ps}} lists the
// processes of s.
func funcMap(e Enricher, s *Snapshot) template.FuncMap {
	return template.FuncMap{
		"files":   e.OpenFiles,
		"maps":    e.MemoryMaps,
		"ps":      func() string { return e.ProcessTable(s) },
		"vmstat":  e.MemoryStats,
		"netstat": e.NetworkConnections,
		"fetch":   e.HTTPGet,
		"size":    humanSize,
		"dur":     humanDuration,
		// bytes and duration read params the way CEL does, so a message
		// can say which limit was crossed: {{if gt .proc.rss (bytes .params.rss)}}.
		"bytes":    ParseSize,
		"duration": time.ParseDuration,
		"join":     join,
		"indent":   indent,
		// killed says what a kill did: {{killed .outcome.kill}}.
		"killed": killedText,
	}
}

func newTemplate(name string) *template.Template {
	return template.New(name).Option("missingkey=error").Funcs(funcMap(NoEnricher{}, nil))
}

// templateError drops text/template's "template: name:" prefix.
func templateError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	return msg
}

// humanSize prints bytes with a binary unit: 512 MiB, 1.5 GiB.
func humanSize(v any) string {
	var n float64
	switch v := v.(type) {
	case int:
		n = float64(v)
	case int64:
		n = float64(v)
	case float64:
		n = v
	default:
		return fmt.Sprint(v)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	// 1023.96 KiB would print as "1024.0 KiB": move up a unit when the
	// rounded figure reaches 1024.
	for (n >= 1024 || (i > 0 && math.Round(n*10)/10 >= 1024)) && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 || n == float64(int64(n)) {
		return fmt.Sprintf("%d %s", int64(n), units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// humanDuration prints a duration rounded to seconds: 1h2m3s, 45s.
func humanDuration(v any) string {
	d, ok := v.(time.Duration)
	if !ok {
		return fmt.Sprint(v)
	}
	d = d.Round(time.Second)
	s := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, z) {
			s = strings.TrimSuffix(s, z[1:])
		}
	}
	return s
}

func join(list any, sep string) string {
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice {
		return fmt.Sprint(list)
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		parts[i] = fmt.Sprint(rv.Index(i).Interface())
	}
	return strings.Join(parts, sep)
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// Display escapes a string from /proc for people: control characters,
// backslashes and invalid UTF-8 become backslash escapes, so a hostile
// process name cannot forge lines in an alert or move a terminal's cursor.
func Display(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			// Bidi overrides, zero-width characters and line separators
			// can disguise text or start a new line in some readers.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// toData turns a fact struct into a template map keyed by its CEL names,
// with strings capped at MaxFieldBytes and escaped for display, lists
// other than PID lists capped at MaxListItems (a string list ends with a
// "…[N more]" item) and durations rounded to seconds.
func toData(v any) any { return dataOf(reflect.ValueOf(v)) }

func dataOf(rv reflect.Value) any {
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Type() {
	case timeType:
		return rv.Interface()
	case durationType:
		return time.Duration(rv.Int()).Round(time.Second)
	}
	switch rv.Kind() {
	case reflect.String:
		return Display(truncate(rv.String(), MaxFieldBytes))
	case reflect.Struct:
		fields := celFields(rv.Type())
		m := make(map[string]any, len(fields))
		for _, f := range fields {
			m[f.name] = dataOf(rv.Field(f.index))
		}
		return m
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Int {
			// PID lists are shared as they are, whole: actions such as
			// PT_USER_ACTION's get every pid, and copying a user's list
			// for each of its processes' matches would make rendering
			// quadratic.
			return rv.Interface()
		}
		n := min(rv.Len(), MaxListItems)
		out := make([]any, n, n+1)
		for i := range out {
			out[i] = dataOf(rv.Index(i))
		}
		if more := rv.Len() - n; more > 0 && rv.Type().Elem().Kind() == reflect.String {
			out = append(out, fmt.Sprintf("…[%d more]", more))
		}
		return out
	}
	return rv.Interface()
}

// celField is an exported struct field with a CEL name.
type celField struct {
	index int
	name  string
}

// celFieldCache holds the CEL fields of each fact type: a handful of
// types, read for every process of every rendered list.
var celFieldCache sync.Map // reflect.Type -> []celField

func celFields(t reflect.Type) []celField {
	if v, ok := celFieldCache.Load(t); ok {
		return v.([]celField)
	}
	var fs []celField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("cel")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fs = append(fs, celField{index: i, name: name})
	}
	celFieldCache.Store(t, fs)
	return fs
}

// needs says which process lists a template may read. Each list costs
// time in proportion to the processes it covers, for every match that is
// rendered, so a list is built only when the template mentions it.
type needs struct {
	procs    bool // .user.procs, .session.procs
	exeProcs bool // .exe_procs
	advice   bool // .ignore_lines, .interpreter
}

// allNeeds builds every list: for checking templates against sample facts.
var allNeeds = needs{procs: true, exeProcs: true, advice: true}

// needsOf returns the lists that the templates may read. A list counts as
// read when its name appears anywhere in a template's text (a field, a
// variable's field, a string given to index), which errs on the side of
// building it. Walking a template's tree costs far less than rendering it,
// so nothing is cached (a cache keyed by template would outlive reloads).
func needsOf(ts ...*template.Template) needs {
	var n needs
	eachTree(ts, func(root *parse.ListNode) {
		walkIdents(root, func(id string) {
			switch id {
			case "procs":
				n.procs = true
			case "exe_procs":
				n.exeProcs = true
			case "ignore_lines", "interpreter":
				n.advice = true
			}
		})
	})
	return n
}

// eachTree calls f with the root of every template, defined ones
// included, of each of ts (nil ones skipped).
func eachTree(ts []*template.Template, f func(root *parse.ListNode)) {
	for _, t := range ts {
		if t == nil {
			continue
		}
		for _, sub := range t.Templates() {
			if sub.Tree != nil && sub.Tree.Root != nil {
				f(sub.Tree.Root)
			}
		}
	}
}

// walkIdents calls f with every field name and string constant of a
// template tree.
func walkIdents(node parse.Node, f func(string)) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkIdents(c, f)
		}
	case *parse.ActionNode:
		walkIdents(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkIdents(c, f)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkIdents(a, f)
		}
	case *parse.FieldNode:
		for _, id := range n.Ident {
			f(id)
		}
	case *parse.VariableNode:
		for _, id := range n.Ident {
			f(id)
		}
	case *parse.ChainNode:
		walkIdents(n.Node, f)
		for _, id := range n.Field {
			f(id)
		}
	case *parse.StringNode:
		f(n.Text)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, f)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, f)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, f)
	case *parse.TemplateNode:
		walkIdents(n.Pipe, f)
	}
}

func walkBranch(b *parse.BranchNode, f func(string)) {
	walkIdents(b.Pipe, f)
	walkIdents(b.List, f)
	if b.ElseList != nil {
		walkIdents(b.ElseList, f)
	}
}

// templateData is what subject, message and run templates see. Only the
// process lists in need are built, each of at most MaxListedProcs
// processes; notes says, for each list that was cut, how many processes
// it left out.
func (m *Match) templateData(need needs) (data map[string]any, notes []string) {
	v := &m.vars
	m.complete()
	v.user.complete()
	v.session.complete()
	d := map[string]any{
		"host":    toData(&v.snap.Host),
		"load":    toData(&v.snap.Load),
		"now":     v.snap.Time,
		"params":  v.params,
		"ignored": v.isIgnored(),
		"rule": map[string]any{
			"name": m.Rule.Name, "severity": string(m.Rule.Severity),
			"description": m.Rule.Description, "scope": string(m.Rule.Scope),
		},
		"key": Display(truncate(m.Key, MaxFieldBytes)),
	}
	listed := func(pids []int, what string) []any {
		out := make([]any, 0, min(len(pids), MaxListedProcs))
		more := 0
		for i, pid := range pids {
			if len(out) == MaxListedProcs {
				// The aggregates hold only processes of the snapshot.
				more = len(pids) - i
				break
			}
			if p := v.snap.Proc(pid); p != nil {
				p.Need(FactAll)
				out = append(out, toData(p))
			}
		}
		if more > 0 {
			notes = append(notes, fmt.Sprintf("… and %d more processes %s, not listed (an alert lists at most %d)", more, what, MaxListedProcs))
		}
		return out
	}
	if v.proc != nil {
		d["proc"] = toData(v.proc)
		if need.advice {
			d["ignore_lines"], d["interpreter"] = ignoreAdvice(v.proc)
		}
		if need.exeProcs {
			// The processes running the same executable, itself
			// included: a rule that suppresses per executable names
			// them all in one alert.
			var same []int
			if v.proc.Exe != "" {
				v.snap.LoadAll(FactExe)
				for i := range v.snap.Procs {
					if q := &v.snap.Procs[i]; q.Exe == v.proc.Exe && q.ExeDeleted == v.proc.ExeDeleted {
						same = append(same, q.PID)
					}
				}
			}
			d["exe_procs"] = listed(same, "running "+Display(truncate(v.proc.Exe, MaxFieldBytes)))
		}
	}
	if v.user != nil {
		u := toData(v.user).(map[string]any)
		if need.procs {
			u["procs"] = listed(v.user.PIDs, "of user "+Display(truncate(v.user.Name, MaxFieldBytes)))
		}
		d["user"] = u
	}
	if v.session != nil {
		s := toData(v.session).(map[string]any)
		if need.procs {
			s["procs"] = listed(v.session.PIDs, fmt.Sprintf("of session %d", v.session.SID))
		}
		d["session"] = s
	}
	return d, notes
}

// cappedWriter keeps the first max bytes written to it and counts the
// rest, so that a template's output never takes more memory than its cap
// whatever the data. Every write reports success: the template runs to
// its end, its errors still reported.
type cappedWriter struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	room := w.max - w.buf.Len()
	if len(p) > room {
		w.buf.Write(p[:max(room, 0)])
		w.dropped += len(p) - max(room, 0)
		return len(p), nil
	}
	w.buf.Write(p)
	return len(p), nil
}

// String returns what was kept, cut and marked when bytes were dropped,
// within max bytes in all.
func (w *cappedWriter) String() string {
	s := w.buf.String()
	if w.dropped == 0 {
		return s
	}
	total := len(s) + w.dropped
	keep := max(w.max-len(fmt.Sprintf(truncatedMark, total)), 0)
	keep = runeCut(s, min(keep, len(s)))
	return s[:keep] + fmt.Sprintf(truncatedMark, total-keep)
}

// execute runs a template and returns at most limit bytes of its output,
// cut with the truncation mark. s is the snapshot {{ps}} lists.
func execute(t *template.Template, e Enricher, s *Snapshot, data any, limit int) (string, error) {
	if t == nil {
		return "", nil
	}
	if _, isNone := e.(NoEnricher); !isNone {
		var err error
		if t, err = t.Clone(); err != nil {
			return "", err
		}
		t.Funcs(funcMap(e, s))
	}
	w := &cappedWriter{max: limit}
	if err := t.Execute(w, data); err != nil {
		return "", errors.New(templateError(err))
	}
	return w.String(), nil
}

// checkTemplate runs a template once over sample facts of the rule's scope,
// so that a misspelt field (`{{.proc.exe_delted}}`) is a load error rather
// than a failed alert at three in the morning. Only missing keys are
// reported: other failures may depend on real values.
func checkTemplate(t *template.Template, scope Scope, params map[string]any) error {
	if t == nil {
		return nil
	}
	snap := NewView(NewSnapshot(time.Time{}, Host{}, Load{}, []Process{{PID: 1, Cmdline: []string{"x"}, Connections: []Socket{{}}, Listening: []Socket{{}}}}), nil)
	m := &Match{Rule: &Rule{Scope: scope}, vars: vars{snap: snap, params: params}}
	switch scope {
	case ScopeProcess:
		m.vars.proc, m.vars.user, m.vars.session = &snap.Procs[0], &snap.Users()[0], &snap.Sessions()[0]
	case ScopeUser:
		m.vars.user = &snap.Users()[0]
	case ScopeSession:
		m.vars.session = &snap.Sessions()[0]
	}
	data, _ := m.templateData(allNeeds)
	data["outcome"] = outcomeData(sampleOutcome)
	err := t.Execute(io.Discard, data)
	if err != nil && strings.Contains(err.Error(), "map has no entry for key") {
		return errors.New(templateError(err))
	}
	return nil
}
