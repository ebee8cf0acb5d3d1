package engine

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// interpreters are the programs that run scripts (by base name, version
// and -fpm/-cgi suffixes removed): ignoring one of them by its executable
// would hide every script it runs, exploited web scripts included.
var interpreters = map[string]bool{
	"perl": true, "php": true, "python": true, "pypy": true, "ruby": true, "node": true, "nodejs": true,
	"deno": true, "bun": true, "java": true, "lua": true, "luajit": true, "tclsh": true, "wish": true,
	"expect": true, "rscript": true, "pwsh": true, "awk": true, "gawk": true, "mawk": true,
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "csh": true,
	"tcsh": true, "fish": true, "busybox": true,
}

// Interpreter returns the interpreter exe runs (perl, php, python, bash,
// ...), or "" when exe is not one. Versions and the php-fpm/php-cgi
// suffixes are ignored: /usr/sbin/php-fpm8.2 and /usr/bin/python3.11 are
// php and python.
func Interpreter(exe string) string {
	name := strings.ToLower(path.Base(exe))
	if exe == "" || name == "/" || name == "." {
		return ""
	}
	trimVersion := func(s string) string { return strings.TrimRight(s, "0123456789.") }
	name = trimVersion(name)
	for _, suffix := range []string{"-fpm", "-cgi"} {
		name = strings.TrimSuffix(name, suffix)
	}
	name = strings.TrimSuffix(trimVersion(name), "-")
	if interpreters[name] {
		return name
	}
	return ""
}

// IgnoreLine returns an ignore-list line (contract §3) that hides exactly
// the processes whose item, exe, cmd or unit, equals value. The literal form
// (exe:/usr/sbin/nginx) is used when the value can be written on a line as
// it is: valid UTF-8, printable, without white space at either end (which
// the parser trims) and, for unit:, without glob characters. Otherwise
// exe and cmd take the pattern form (pexe:, pcmd:) with every regular
// expression metacharacter and every unprintable character escaped, so a
// name with a newline or a terminal escape gets a line that matches it; a
// unit takes the glob form with *, ?, [ and \ escaped. It returns "" when
// no line can name the value: an empty value, or a unit name that is not
// printable.
func IgnoreLine(item, value string) string {
	if value == "" {
		return ""
	}
	literal := utf8.ValidString(value) && strings.TrimSpace(value) == value &&
		!strings.ContainsFunc(value, func(r rune) bool { return !unicode.IsPrint(r) })
	switch item {
	case ignoreExe, ignoreCmd:
		if literal {
			return item + ":" + value
		}
		return "p" + item + ":" + quoteIgnoreRegexp(value)
	case ignoreUnit:
		if !literal {
			return ""
		}
		var b strings.Builder
		for _, r := range value {
			if strings.ContainsRune(`*?[\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return item + ":" + b.String()
	}
	return ""
}

// quoteIgnoreRegexp is an RE2 expression matching exactly s on one
// printable line: metacharacters quoted, unprintable characters and white
// space at either end written as \x{...}. A byte that is not UTF-8 is
// written as \x{fffd}, which is what Go's regexp sees in its place (so
// the line also matches a real U+FFFD there; nothing narrower exists).
func quoteIgnoreRegexp(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		edge := i == 0 || i+size == len(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x{fffd}`)
		case !unicode.IsPrint(r) || (edge && unicode.IsSpace(r)):
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += size
	}
	return b.String()
}

// ignoreAdvice is what a message can suggest to hide a process, as
// template data: `ignore_lines` (exe, cmd and unit, each "" when none
// fits) and `interpreter` (see Interpreter).
func ignoreAdvice(p *Process) (lines map[string]any, interpreter string) {
	lines = map[string]any{"exe": "", "cmd": "", "unit": ""}
	if !p.ExeDeleted {
		lines["exe"] = IgnoreLine(ignoreExe, p.Exe)
	}
	lines["cmd"] = IgnoreLine(ignoreCmd, p.Cmd)
	// A session scope holds a whole login: only a service is narrow enough.
	if strings.HasSuffix(p.Unit, ".service") {
		lines["unit"] = IgnoreLine(ignoreUnit, p.Unit)
	}
	return lines, Interpreter(p.Exe)
}
