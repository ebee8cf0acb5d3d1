package csf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The default rules a csf.conf patches, in the order the patch lists them.
var patchOrder = []string{"pt-suspicious", "pt-deleted", "pt-user-procs", "pt-user-resources", "pt-load", "pt-forkbomb", "pt-sshd-hung"}

// processRules are the rules PT_LIMIT = "0" turns off: every check of
// lfd's process scan, which that value skips altogether.
var processRules = []string{"pt-suspicious", "pt-deleted", "pt-user-procs", "pt-user-resources", "pt-forkbomb", "pt-sshd-hung"}

// notCarried are the PT_* directives with no ptrule equivalent, and why.
var notCarried = map[string]string{
	"PT_SSHDKILL":  "not carried: ptrule does not block login failures, which is what PT_SSHDKILL reacted to",
	"PT_ALL_USERS": "not needed: ptrule tracks every user but root",
	"GENERIC":      "not needed: ptrule tracks every user but root, whatever the control panel",
}

// directives are the csf.conf settings the importer carries, in the order
// of the README's "csf.conf → ptrule" table.
var directives = []string{
	"PT_LIMIT", "PT_INTERVAL", "PT_SKIP_HTTP", "PT_DELETED", "PT_DELETED_ACTION",
	"PT_USERPROC", "PT_USERMEM", "PT_USERRSS", "PT_USERTIME", "PT_USERKILL",
	"PT_USERKILL_ALERT", "PT_USER_ACTION", "PT_LOAD", "PT_LOAD_AVG", "PT_LOAD_LEVEL",
	"PT_LOAD_SKIP", "PT_LOAD_ACTION", "PT_APACHESTATUS", "PT_FORKBOMB", "PT_SSHDHUNG",
	"LF_FLUSH",
}

// patchLine is one key of a rule's patch and the setting it came from.
type patchLine struct {
	key, value string
	from       Setting
}

// rulePatch is what the patch says about one rule.
type rulePatch struct {
	enabled, every *patchLine
	params         []patchLine
}

// Directive is one csf.conf setting and what it became.
type Directive struct {
	Setting
	// Became says what ptrule does with the value, for the report.
	Became string
}

// Conversion is the outcome of converting a csf.conf.
type Conversion struct {
	// Patch is the YAML patch file of the default rules.
	Patch []byte
	// Interval is the config line PT_INTERVAL became ("" when not set).
	Interval string
	// Directives are the csf.conf settings the importer knows, in file order.
	Directives []Directive
	// Unset are the carried directives the csf.conf does not set: ptrule's
	// defaults apply to them.
	Unset []string
	// Problems are the lines that could not be read or converted.
	Problems []Problem
}

// Convert turns c into a patch of the default rules. source is the path
// named in the patch's header.
func Convert(c *Conf, source string) *Conversion {
	out := &Conversion{Problems: append([]Problem(nil), c.Problems...)}
	rules := map[string]*rulePatch{}
	rule := func(name string) *rulePatch {
		if rules[name] == nil {
			rules[name] = &rulePatch{}
		}
		return rules[name]
	}
	param := func(s Setting, key, value string, names ...string) {
		for _, n := range names {
			r := rule(n)
			r.params = append(r.params, patchLine{key, value, s})
		}
	}
	setEnabled := func(s Setting, on bool, names ...string) {
		for _, n := range names {
			rule(n).enabled = &patchLine{"enabled", strconv.FormatBool(on), s}
		}
	}
	became := map[string]string{}
	bad := func(s Setting, why string) {
		out.Problems = append(out.Problems, Problem{s.Pos, fmt.Sprintf("%s = %s: %s; ptrule's default is kept", s.Name, quote(s.Value), why)})
		became[s.Name] = "not converted, ptrule's default is kept: see \"could not import\""
	}
	limitOff := false
	if s, ok := c.Settings["PT_LIMIT"]; ok {
		if n, ok := number(s.Value); ok && n == 0 {
			limitOff = true
		}
	}

	for _, name := range directives {
		s, ok := c.Settings[name]
		if !ok {
			out.Unset = append(out.Unset, name)
			continue
		}
		v := strings.TrimSpace(s.Value)
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			bad(s, "holds control characters or bytes that are not UTF-8")
			continue
		}
		switch name {
		case "PT_LIMIT":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of seconds")
				continue
			}
			if n == 0 {
				setEnabled(s, false, processRules...)
				became[name] = "enabled: false on " + strings.Join(processRules, ", ") + " (0 turns lfd's whole process scan off)"
				continue
			}
			param(s, "min_age", secs(n), "pt-suspicious", "pt-deleted")
			became[name] = "min_age: " + secs(n) + " on pt-suspicious and pt-deleted"
		case "PT_INTERVAL":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of seconds")
				continue
			}
			if n < 10 {
				out.Interval = fmt.Sprintf("interval: 60s   # %s = %q (lfd raised values below 10 to 60)", name, s.Value)
				became[name] = "config interval: 60s (lfd raised values below 10 to 60, so 60 is what ran)"
				continue
			}
			out.Interval = fmt.Sprintf("interval: %s   # %s = %q", secs(n), name, s.Value)
			became[name] = "config interval: " + secs(n)
		case "PT_SKIP_HTTP", "PT_USERKILL", "PT_USERKILL_ALERT":
			n, ok := number(v)
			if !ok {
				bad(s, "not 0 or 1")
				continue
			}
			b := strconv.FormatBool(n != 0)
			switch name {
			case "PT_SKIP_HTTP":
				param(s, "skip_http", b, "pt-suspicious")
				became[name] = "skip_http: " + b + " on pt-suspicious"
			case "PT_USERKILL":
				param(s, "kill", b, "pt-user-procs", "pt-user-resources")
				became[name] = "kill: " + b + " on pt-user-procs and pt-user-resources"
			case "PT_USERKILL_ALERT":
				param(s, "kill_alert", b, "pt-user-procs", "pt-user-resources")
				became[name] = "kill_alert: " + b + " on pt-user-procs and pt-user-resources"
			}
		case "PT_DELETED", "PT_SSHDHUNG":
			n, ok := number(v)
			if !ok {
				bad(s, "not 0 or 1")
				continue
			}
			r := map[string]string{"PT_DELETED": "pt-deleted", "PT_SSHDHUNG": "pt-sshd-hung"}[name]
			if limitOff {
				became[name] = r + " stays off: PT_LIMIT = \"0\" turns it off, as in lfd"
				continue
			}
			setEnabled(s, n != 0, r)
			became[name] = fmt.Sprintf("enabled: %t on %s", n != 0, r)
			if name == "PT_DELETED" && n == 0 {
				became[name] += " (ptrule's default is on, as csf's own sanity check recommends)"
			}
		case "PT_DELETED_ACTION", "PT_USER_ACTION", "PT_LOAD_ACTION":
			if v != "" && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t")) {
				bad(s, "ptrule runs an action as the absolute path of a program, without a shell; write a script that runs this command line and set its path by hand")
				continue
			}
			rs := map[string][]string{"PT_DELETED_ACTION": {"pt-deleted"}, "PT_USER_ACTION": {"pt-user-procs", "pt-user-resources"}, "PT_LOAD_ACTION": {"pt-load"}}[name]
			param(s, "action", yamlString(v), rs...)
			became[name] = "action: " + yamlString(v) + " on " + strings.Join(rs, " and ")
		case "PT_USERPROC":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of processes")
				continue
			}
			param(s, "max", strconv.FormatInt(n, 10), "pt-user-procs")
			became[name] = "max: " + strconv.FormatInt(n, 10) + " on pt-user-procs" + offNote(n)
		case "PT_USERMEM", "PT_USERRSS":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of MB")
				continue
			}
			key := map[string]string{"PT_USERMEM": "vmsize", "PT_USERRSS": "rss"}[name]
			val := `"0"`
			if n != 0 {
				val = strconv.FormatInt(n, 10) + "MiB"
			}
			param(s, key, val, "pt-user-resources")
			became[name] = key + ": " + val + " on pt-user-resources" + offNote(n)
		case "PT_USERTIME":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of seconds")
				continue
			}
			param(s, "time", secs(n), "pt-user-resources")
			became[name] = "time: " + secs(n) + " on pt-user-resources" + offNote(n)
		case "PT_LOAD":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of seconds")
				continue
			}
			if n == 0 {
				setEnabled(s, false, "pt-load")
				became[name] = "enabled: false on pt-load"
				continue
			}
			rule("pt-load").every = &patchLine{"every", secs(n), s}
			became[name] = "every: " + secs(n) + " on pt-load"
		case "PT_LOAD_AVG":
			n, ok := number(v)
			if !ok {
				bad(s, "not 1, 5 or 15")
				continue
			}
			param(s, "avg", strconv.FormatInt(n, 10), "pt-load")
			note := ""
			if n != 1 && n != 5 && n != 15 {
				note = " (neither 1, 5 nor 15: read as 5, as in lfd)"
			}
			became[name] = "avg: " + strconv.FormatInt(n, 10) + " on pt-load" + note
		case "PT_LOAD_LEVEL":
			f, err := strconv.ParseFloat(v, 64)
			if v == "" {
				f, err = 0, nil
			}
			if err != nil || f < 0 || f != f || f > 1e9 {
				bad(s, "not a load level")
				continue
			}
			lv := strconv.FormatFloat(f, 'f', -1, 64)
			if !strings.Contains(lv, ".") {
				lv += ".0"
			}
			param(s, "level", lv, "pt-load")
			became[name] = "level: " + lv + " on pt-load"
		case "PT_LOAD_SKIP":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of seconds")
				continue
			}
			param(s, "skip", secs(n), "pt-load")
			became[name] = "skip: " + secs(n) + " on pt-load"
		case "PT_APACHESTATUS":
			param(s, "apache_status", yamlString(v), "pt-load")
			became[name] = "apache_status: " + yamlString(v) + " on pt-load"
			if v != "" {
				became[name] += " (fetched into every load alert, as lfd did)"
			}
		case "PT_FORKBOMB":
			n, ok := number(v)
			if !ok {
				bad(s, "not a number of processes")
				continue
			}
			if n == 0 {
				setEnabled(s, false, "pt-forkbomb")
				became[name] = "enabled: false on pt-forkbomb"
				continue
			}
			param(s, "max", strconv.FormatInt(n, 10), "pt-forkbomb")
			if limitOff {
				became[name] = "max: " + strconv.FormatInt(n, 10) + " on pt-forkbomb, which stays off: PT_LIMIT = \"0\" turns it off, as in lfd"
				continue
			}
			setEnabled(s, true, "pt-forkbomb")
			became[name] = "enabled: true, max: " + strconv.FormatInt(n, 10) + " on pt-forkbomb"
		case "LF_FLUSH":
			n, ok := number(v)
			if !ok || n == 0 {
				bad(s, "not a number of seconds above 0")
				continue
			}
			rs := []string{"pt-suspicious", "pt-deleted", "pt-user-procs", "pt-user-resources"}
			param(s, "repeat", secs(n), rs...)
			became[name] = "repeat: " + secs(n) + " on " + strings.Join(rs, ", ")
		}
	}
	for name, s := range c.Settings {
		if why, ok := notCarried[name]; ok {
			became[name] = why
		} else if _, known := became[name]; !known && strings.HasPrefix(name, "PT_") && !isDirective(name) {
			became[name] = "not carried: not a Process Tracking directive ptrule knows"
		}
		if b, ok := became[name]; ok {
			out.Directives = append(out.Directives, Directive{Setting: s, Became: b})
		}
	}
	sort.Slice(out.Directives, func(i, j int) bool { return out.Directives[i].Pos.Line < out.Directives[j].Pos.Line })
	sort.Slice(out.Problems, func(i, j int) bool { return out.Problems[i].Pos.Line < out.Problems[j].Pos.Line })
	out.Patch = renderPatch(rules, source)
	return out
}

func isDirective(name string) bool {
	for _, d := range directives {
		if d == name {
			return true
		}
	}
	return false
}

func offNote(n int64) string {
	if n == 0 {
		return " (0: that test is off)"
	}
	return ""
}

// number reads a csf integer: an empty value is 0, as Perl reads it.
func number(v string) (int64, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<31 {
		return 0, false
	}
	return n, true
}

func secs(n int64) string { return strconv.FormatInt(n, 10) + "s" }

// yamlString renders s as a YAML scalar that reads back as the string s.
func yamlString(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil || strings.Count(strings.TrimSuffix(string(b), "\n"), "\n") > 0 {
		return strconv.Quote(s)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// renderPatch writes the patch file: one entry per patched rule, each line
// commented with the setting it came from.
func renderPatch(rules map[string]*rulePatch, source string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `ptrule import-csf` from %s.\n", commentSafe(source))
	b.WriteString("# Each line says which csf.conf setting it came from; edit freely.\n")
	b.WriteString("rules:\n")
	if len(rules) == 0 {
		b.Reset()
		fmt.Fprintf(&b, "# Written by `ptrule import-csf` from %s,\n# which sets no Process Tracking directive: the default rules apply unchanged.\nrules: []\n", commentSafe(source))
		return []byte(b.String())
	}
	line := func(indent, key, value string, from Setting) {
		kv := indent + key + ": " + value
		fmt.Fprintf(&b, "%-36s # %s = %s\n", kv, from.Name, commentSafe(strconv.Quote(from.Value)))
	}
	for _, name := range patchOrder {
		r := rules[name]
		if r == nil {
			continue
		}
		fmt.Fprintf(&b, "  - name: %s\n", name)
		if r.enabled != nil {
			line("    ", "enabled", r.enabled.value, r.enabled.from)
		}
		if r.every != nil {
			line("    ", "every", r.every.value, r.every.from)
		}
		if len(r.params) > 0 {
			b.WriteString("    params:\n")
			for _, p := range r.params {
				line("      ", p.key, p.value, p.from)
			}
		}
	}
	return []byte(b.String())
}

// commentSafe keeps text on one comment line.
func commentSafe(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}
