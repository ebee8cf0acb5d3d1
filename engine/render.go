package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

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
	// ProcessTable lists every process, like `ps axuf`.
	ProcessTable() string
	// MemoryStats summarises memory and CPU, like `vmstat`.
	MemoryStats() string
	// NetworkConnections lists the host's sockets, like `netstat -autpn`.
	NetworkConnections() string
	// HTTPGet fetches a status page; a failure is returned as text.
	HTTPGet(url string) string
}

// NoEnricher is the Enricher of fixtures: it reads nothing and returns "".
type NoEnricher struct{}

func (NoEnricher) OpenFiles(int) string       { return "" }
func (NoEnricher) MemoryMaps(int) string      { return "" }
func (NoEnricher) ProcessTable() string       { return "" }
func (NoEnricher) MemoryStats() string        { return "" }
func (NoEnricher) NetworkConnections() string { return "" }
func (NoEnricher) HTTPGet(string) string      { return "" }

func funcMap(e Enricher) template.FuncMap {
	return template.FuncMap{
		"files":   e.OpenFiles,
		"maps":    e.MemoryMaps,
		"ps":      e.ProcessTable,
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
	}
}

func newTemplate(name string) *template.Template {
	return template.New(name).Option("missingkey=error").Funcs(funcMap(NoEnricher{}))
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
// with strings escaped for display and durations rounded to seconds.
func toData(v any) any {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch x := rv.Interface().(type) {
	case time.Time:
		return x
	case time.Duration:
		return x.Round(time.Second)
	case string:
		return Display(x)
	}
	switch rv.Kind() {
	case reflect.Struct:
		t := rv.Type()
		m := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("cel")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			m[name] = toData(rv.Field(i).Interface())
		}
		return m
	case reflect.Slice:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = toData(rv.Index(i).Interface())
		}
		return out
	}
	return rv.Interface()
}

// templateData is what subject, message and run templates see.
func (m *Match) templateData() map[string]any {
	v := &m.vars
	d := map[string]any{
		"host":    toData(&v.snap.Host),
		"load":    toData(&v.snap.Load),
		"now":     v.snap.Time,
		"params":  v.params,
		"ignored": v.ignored,
		"rule": map[string]any{
			"name": m.Rule.Name, "severity": string(m.Rule.Severity),
			"description": m.Rule.Description, "scope": string(m.Rule.Scope),
		},
		"key": Display(m.Key),
	}
	procsOf := func(pids []int) []any {
		out := make([]any, 0, len(pids))
		for _, pid := range pids {
			if p := v.snap.Proc(pid); p != nil {
				out = append(out, toData(p))
			}
		}
		return out
	}
	if v.proc != nil {
		d["proc"] = toData(v.proc)
		d["ignore_lines"], d["interpreter"] = ignoreAdvice(v.proc)
		// The processes running the same executable, itself included: a
		// rule that suppresses per executable names them all in one alert.
		same := []any{}
		if v.proc.Exe != "" {
			for i := range v.snap.Procs {
				if q := &v.snap.Procs[i]; q.Exe == v.proc.Exe && q.ExeDeleted == v.proc.ExeDeleted {
					same = append(same, toData(q))
				}
			}
		}
		d["exe_procs"] = same
	}
	if v.user != nil {
		u := toData(v.user).(map[string]any)
		u["procs"] = procsOf(v.user.PIDs)
		d["user"] = u
	}
	if v.session != nil {
		s := toData(v.session).(map[string]any)
		s["procs"] = procsOf(v.session.PIDs)
		d["session"] = s
	}
	return d
}

func execute(t *template.Template, e Enricher, data any) (string, error) {
	if t == nil {
		return "", nil
	}
	if _, isNone := e.(NoEnricher); !isNone {
		var err error
		if t, err = t.Clone(); err != nil {
			return "", err
		}
		t.Funcs(funcMap(e))
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", errors.New(templateError(err))
	}
	return b.String(), nil
}

// checkTemplate runs a template once over sample facts of the rule's scope,
// so that a misspelt field (`{{.proc.exe_delted}}`) is a load error rather
// than a failed alert at three in the morning. Only missing keys are
// reported: other failures may depend on real values.
func checkTemplate(t *template.Template, scope Scope, params map[string]any) error {
	if t == nil {
		return nil
	}
	snap := &Snapshot{Procs: []Process{{PID: 1, Cmdline: []string{"x"}, Connections: []Socket{{}}, Listening: []Socket{{}}}}}
	snap.Derive(nil)
	m := &Match{Rule: &Rule{Scope: scope}, vars: vars{snap: snap, params: params}}
	switch scope {
	case ScopeProcess:
		m.vars.proc, m.vars.user, m.vars.session = &snap.Procs[0], &snap.Users()[0], &snap.Sessions()[0]
	case ScopeUser:
		m.vars.user = &snap.Users()[0]
	case ScopeSession:
		m.vars.session = &snap.Sessions()[0]
	}
	err := t.Execute(io.Discard, m.templateData())
	if err != nil && strings.Contains(err.Error(), "map has no entry for key") {
		return errors.New(templateError(err))
	}
	return nil
}
