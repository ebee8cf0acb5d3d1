package engine

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Ignore list items, as written before the colon (lower case).
const (
	ignoreExe   = "exe"
	ignoreCmd   = "cmd"
	ignoreUser  = "user"
	ignorePExe  = "pexe"
	ignorePCmd  = "pcmd"
	ignorePUser = "puser"
	ignoreUnit  = "unit"
)

// ignoreItems is the hint given for a line without a known item.
const ignoreItems = "use exe, cmd, user, pexe, pcmd, puser or unit"

// maxIncludeDepth bounds Include nesting. Loops are caught by name; this
// catches the ones that spell the same file differently (symbolic links,
// "dir/../file") before they exhaust anything.
const maxIncludeDepth = 16

// maxIncludeFiles bounds the number of files one parse reads, so that a few
// Include lines per file cannot multiply into an endless read.
const maxIncludeFiles = 1000

// IgnoreList is a parsed set of csf.pignore-style entries, in file order.
//
// Literal entries (exe:, cmd:, user: and unit: without glob characters) are
// kept in maps and regex and glob entries are compiled once, so matching a
// process costs three or four map look-ups plus the pattern entries. The zero
// value is an empty list. A list is not modified by matching, so it may be
// used from several goroutines once built.
type IgnoreList struct {
	entries []IgnoreEntry

	// Literal entries: value -> index in entries of the first entry with
	// that value.
	exe  map[string]int
	cmd  map[string]int
	user map[string]int
	unit map[string]int

	// patterns are the pexe/pcmd/puser entries and the unit: entries with
	// glob characters, in file order.
	patterns []ignorePattern
	// pattern is, by index in entries, the index in patterns of the
	// entry's compiled pattern, or -1 for a literal entry.
	pattern []int
	// expiring is set when some entry has an expiry: only then can the
	// first matching entry be passed over.
	expiring bool
}

// ignorePattern is a compiled regex or glob entry.
type ignorePattern struct {
	idx  int    // index in IgnoreList.entries
	item string // pexe, pcmd, puser or unit
	re   *regexp.Regexp
	glob string
}

func (pt *ignorePattern) match(p *Process) bool {
	p.Need(itemFacts[pt.item])
	switch pt.item {
	case ignorePExe:
		return exeTrusted(p) && pt.re.MatchString(p.Exe)
	case ignorePCmd:
		return pt.re.MatchString(p.Cmd)
	case ignorePUser:
		return pt.re.MatchString(p.User)
	case ignoreUnit:
		if p.Unit == "" {
			return false
		}
		ok, _ := path.Match(pt.glob, p.Unit) // validated when parsed
		return ok
	}
	return false
}

// IgnoreEntry is one line of an ignore list, with the annotation written
// on the comment line directly above it (`# ptrule: reason="..." owner=...
// expires=...`), if any.
type IgnoreEntry struct {
	Pos   Pos    // file and line (Col 0 or the column of the value)
	Item  string // exe, cmd, user, pexe, pcmd, puser, unit (lower case)
	Value string // as written, trimmed

	// Reason and Owner are the annotation's reason= and owner=, "" when
	// not given.
	Reason, Owner string
	// Expires is the last instant the entry matches (a date expires= means
	// the end of that day, UTC); the zero time means never.
	Expires time.Time
}

// ExpiredAt reports whether the entry no longer matches at time t: it has
// an expiry and t is after it. A zero t (a snapshot without a time) expires
// nothing.
func (e IgnoreEntry) ExpiredAt(t time.Time) bool {
	return !e.Expires.IsZero() && !t.IsZero() && t.After(e.Expires)
}

// Annotated reports whether the entry carries an annotation field.
func (e IgnoreEntry) Annotated() bool {
	return e.Reason != "" || e.Owner != "" || !e.Expires.IsZero()
}

// Annotation returns the entry's annotation in the syntax it is written
// in, without the leading "# ptrule:", or "" when it has none. A date-only
// expiry is written back as that date.
func (e IgnoreEntry) Annotation() string {
	var parts []string
	if e.Reason != "" {
		parts = append(parts, "reason="+annotationQuote(e.Reason))
	}
	if e.Owner != "" {
		parts = append(parts, "owner="+annotationQuote(e.Owner))
	}
	if !e.Expires.IsZero() {
		parts = append(parts, "expires="+FormatExpiry(e.Expires))
	}
	return strings.Join(parts, " ")
}

// FormatExpiry writes an expiry as an annotation would: YYYY-MM-DD for the
// end of a day in UTC, else RFC 3339.
func FormatExpiry(t time.Time) string {
	if u := t.UTC(); u.Equal(endOfDay(u)) {
		return u.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

// endOfDay is the last instant of t's day in UTC.
func endOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
}

// annotationQuote returns v bare when it needs no quotes, else double
// quoted with \" and \\ escaped.
func annotationQuote(v string) string {
	if v != "" && !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\\' || !unicode.IsPrint(r) }) {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// String returns "path:line: item:value", for explain output.
func (e IgnoreEntry) String() string {
	return fmt.Sprintf("%s: %s:%s", Pos{File: e.Pos.File, Line: e.Pos.Line}, e.Item, e.Value)
}

// ParseIgnore parses src, the contents of file name. Lines are numbered from
// firstLine (1 for a file; a fixture's embedded `ignore:` block passes the
// YAML line where its text starts; values below 1 count as 1). readFile
// reads Include targets (a relative PATH is relative to the directory of
// name, or of the included file that names it); nil means Include is an
// error.
//
// It returns every good entry and every problem: a bad line is reported and
// skipped, the rest of the file is kept. The list is never nil. Columns in
// positions count characters (runes), a tab counting as one.
func ParseIgnore(name string, src []byte, firstLine int, readFile func(path string) ([]byte, error)) (*IgnoreList, Problems) {
	if firstLine < 1 {
		firstLine = 1
	}
	ip := &ignoreParser{list: &IgnoreList{}, readFile: readFile}
	ip.parse(name, src, firstLine, []string{filepath.Clean(name)})
	return ip.list, ip.probs
}

type ignoreParser struct {
	list     *IgnoreList
	probs    Problems
	readFile func(string) ([]byte, error)
	included int // files read through Include
	// pending is the annotation of the line just read, waiting for the
	// entry below it; nil when the last line was no annotation.
	pending *ignoreAnnotation
}

// ignoreAnnotation is a parsed `# ptrule:` comment line.
type ignoreAnnotation struct {
	line   *ignoreLine
	off    int // byte offset of the '#'
	fields IgnoreEntry
}

// dangling reports the pending annotation, if any, as annotating nothing
// (why is what follows it), and forgets it.
func (ip *ignoreParser) dangling(why string) {
	if a := ip.pending; a != nil {
		ip.pending = nil
		a.line.annFail(a.off, "annotation %s: put it on the line directly above the entry it describes", why)
	}
}

// parse reads one file. chain holds the cleaned names of the files being
// read, outermost first, this one last.
func (ip *ignoreParser) parse(name string, src []byte, firstLine int, chain []string) {
	text := string(src)
	for n := 0; text != ""; n++ {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		line = strings.TrimSuffix(line, "\r")
		ip.line(name, line, firstLine+n, chain)
	}
	ip.dangling("at the end of the file annotates no entry")
}

// ignoreLine is one line of an ignore list being parsed, which its
// problems point into.
type ignoreLine struct {
	ip   *ignoreParser
	file string
	text string // without its line ending
	no   int
	// included is set in a file read through Include.
	included bool
}

// pos is the position of byte offset off of the line.
func (l *ignoreLine) pos(off int) Pos {
	return Pos{File: l.file, Line: l.no, Col: utf8.RuneCountInString(l.text[:off]) + 1}
}

// fail reports a problem at byte offset off, quoting the line.
func (l *ignoreLine) fail(off int, format string, args ...any) {
	l.ip.probs = append(l.ip.probs, &Problem{Pos: l.pos(off), Msg: fmt.Sprintf(format, args...), Source: l.text})
}

// annFail reports a problem of an annotation at byte offset off.
func (l *ignoreLine) annFail(off int, format string, args ...any) {
	l.fail(off, format, args...)
	l.ip.probs[len(l.ip.probs)-1].annotation = true
}

// notEntry reports a line that is no ignore entry at all. In an included
// file it is not quoted: Include may have named a passwd or shadow file.
func (l *ignoreLine) notEntry(off int, format string, args ...any) {
	p := &Problem{Pos: l.pos(off), Msg: fmt.Sprintf(format, args...), Source: l.text}
	if l.included {
		p.Source = ""
	}
	l.ip.probs = append(l.ip.probs, p)
}

// line handles one line, without its line ending: a blank line or a
// comment, an Include, or an entry.
func (ip *ignoreParser) line(name, text string, lineNo int, chain []string) {
	l := &ignoreLine{ip: ip, file: name, text: text, no: lineNo, included: len(chain) > 1}
	body := strings.TrimLeftFunc(text, unicode.IsSpace)
	start := len(text) - len(body) // offset of the first non-space character
	body = strings.TrimRightFunc(body, unicode.IsSpace)
	if body == "" {
		ip.dangling("followed by a blank line annotates no entry")
		return
	}
	if body[0] == '#' {
		if rest, ok := cutAnnotation(body); ok {
			ip.dangling("followed by another annotation annotates no entry")
			ip.pending = l.annotation(rest, start+len(body)-len(rest), start)
			return
		}
		ip.dangling("followed by a comment annotates no entry")
		return
	}
	ann := ip.pending
	ip.pending = nil
	if i := strings.IndexByte(body, '\r'); i >= 0 {
		l.fail(start+i, "stray carriage return: save the file with LF or CRLF line endings")
		return
	}
	if rest, ok := cutInclude(body); ok {
		if ann != nil {
			ann.line.annFail(ann.off, "annotation above an Include line: annotate the entries in the included file instead")
		}
		ip.include(l, rest, start+len(body)-len(rest), chain)
		return
	}
	if e, valOff, ok := l.entry(body, start); ok {
		if ann != nil {
			e.Reason, e.Owner, e.Expires = ann.fields.Reason, ann.fields.Owner, ann.fields.Expires
		}
		ip.add(l, e, valOff)
	}
}

// annotationPrefix starts an annotation comment, after the '#' and any
// white space.
const annotationPrefix = "ptrule:"

// cutAnnotation reports whether the comment body (trimmed, starting with
// '#') is an annotation, and returns the text after "ptrule:".
func cutAnnotation(body string) (string, bool) {
	rest := strings.TrimLeftFunc(body[1:], unicode.IsSpace)
	return strings.CutPrefix(rest, annotationPrefix)
}

// annotation parses the key=value pairs of an annotation line; rest is
// the text after "ptrule:", at byte offset off of the line, and hash the
// offset of the '#'. A bad pair is reported at its column; the pairs read
// before it are kept.
func (l *ignoreLine) annotation(rest string, off, hash int) *ignoreAnnotation {
	a := &ignoreAnnotation{line: l, off: hash}
	seen := map[string]bool{}
	i := 0
	for {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
		if i >= len(rest) {
			break
		}
		keyStart := i
		for i < len(rest) && rest[i] != '=' && rest[i] != ' ' && rest[i] != '\t' {
			i++
		}
		key := rest[keyStart:i]
		if i >= len(rest) || rest[i] != '=' {
			l.annFail(off+keyStart, "%q is not key=value: write reason=\"...\", owner=NAME or expires=YYYY-MM-DD", key)
			return a
		}
		i++ // '='
		valStart := i
		var val string
		if i < len(rest) && rest[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(rest) {
				c := rest[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' {
					if i+1 < len(rest) && (rest[i+1] == '"' || rest[i+1] == '\\') {
						b.WriteByte(rest[i+1])
						i += 2
						continue
					}
					l.annFail(off+i, `unknown escape in %s: only \" and \\ are escapes inside quotes`, key)
					return a
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				l.annFail(off+valStart, "unterminated quote in %s: close the value with \"", key)
				return a
			}
			if i < len(rest) && rest[i] != ' ' && rest[i] != '\t' {
				l.annFail(off+i, "text right after the closing quote of %s: separate key=value pairs with a space", key)
				return a
			}
			val = b.String()
		} else {
			for i < len(rest) && rest[i] != ' ' && rest[i] != '\t' {
				i++
			}
			val = rest[valStart:i]
		}
		if !utf8.ValidString(val) || strings.ContainsFunc(val, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
			l.annFail(off+valStart, "control or invalid characters in %s: write printable UTF-8 text", key)
			continue
		}
		if strings.TrimSpace(val) == "" {
			l.annFail(off+valStart, "empty %s: give a value or leave the key out", key)
			continue
		}
		if seen[key] {
			l.annFail(off+keyStart, "%s given twice: keep one", key)
			continue
		}
		seen[key] = true
		switch key {
		case "reason":
			a.fields.Reason = val
		case "owner":
			a.fields.Owner = val
		case "expires":
			t, err := ParseExpiry(val)
			if err != nil {
				l.annFail(off+valStart, "%v", err)
				continue
			}
			a.fields.Expires = t
		default:
			l.annFail(off+keyStart, "unknown annotation key %q: use reason, owner or expires", key)
		}
	}
	return a
}

// ParseExpiry reads an annotation's expires= value: a date YYYY-MM-DD,
// meaning the end of that day in UTC, or an RFC 3339 time.
func ParseExpiry(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return endOfDay(t), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad expires %q: write a date YYYY-MM-DD (the entry ends with that day, UTC) or an RFC 3339 time such as 2027-03-01T12:00:00Z", v)
}

// entry splits body, the trimmed line from byte offset start on, into
// item and value, and checks both are there and the item is known. valOff
// is the byte offset of the value in the line.
func (l *ignoreLine) entry(body string, start int) (e IgnoreEntry, valOff int, ok bool) {
	colon := strings.IndexByte(body, ':')
	if colon < 0 {
		if strings.EqualFold(body, "include") {
			l.fail(start, "Include needs a file: write Include PATH")
			return IgnoreEntry{}, 0, false
		}
		l.notEntry(start, `no ":" in line: write item:value and %s`, ignoreItems)
		return IgnoreEntry{}, 0, false
	}
	item := strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, body[:colon]))
	raw := body[colon+1:]
	value := strings.TrimLeftFunc(raw, unicode.IsSpace) // body is already right-trimmed
	valOff = start + colon + 1 + len(raw) - len(value)

	switch item {
	case ignoreExe, ignoreCmd, ignoreUser, ignorePExe, ignorePCmd, ignorePUser, ignoreUnit:
	case "":
		l.fail(start, `missing item before ":": %s`, ignoreItems)
		return IgnoreEntry{}, 0, false
	case "include":
		l.fail(start, "Include takes its file after a space, not a colon: write Include PATH")
		return IgnoreEntry{}, 0, false
	default:
		l.notEntry(start, "unknown item %q: %s", item, ignoreItems)
		return IgnoreEntry{}, 0, false
	}
	if value == "" {
		l.fail(start+colon+1, "empty value after %q: give the %s to ignore, or remove the line", item+":", ignoreWhat(item))
		return IgnoreEntry{}, 0, false
	}
	return IgnoreEntry{Pos: l.pos(valOff), Item: item, Value: value}, valOff, true
}

// add files an entry of line l, whose value starts at byte offset valOff:
// a literal in its item's map, a glob or regex compiled among the
// patterns. A bad glob or regex is reported at the value and the entry
// dropped.
func (ip *ignoreParser) add(l *ignoreLine, e IgnoreEntry, valOff int) {
	list := ip.list
	idx := len(list.entries)
	pat := -1
	switch e.Item {
	case ignoreExe:
		list.exe = addFirst(list.exe, e.Value, idx)
	case ignoreCmd:
		list.cmd = addFirst(list.cmd, e.Value, idx)
	case ignoreUser:
		list.user = addFirst(list.user, e.Value, idx)
	case ignoreUnit:
		if !strings.ContainsAny(e.Value, `*?[\`) {
			list.unit = addFirst(list.unit, e.Value, idx)
			break
		}
		if _, err := path.Match(e.Value, ""); err != nil {
			l.fail(valOff, "bad glob %q: use *, ? and [...] as in php*-fpm.service", e.Value)
			return
		}
		pat = len(list.patterns)
		list.patterns = append(list.patterns, ignorePattern{idx: idx, item: e.Item, glob: e.Value})
	default: // pexe, pcmd, puser
		// Compile the expression alone first: wrapped in ^(?:...)$ an
		// unbalanced one like "a)(b" would compile into something else.
		if _, err := regexp.Compile(e.Value); err != nil {
			l.fail(valOff, "bad regex in %s: %v: use RE2 syntax (no look-around or back-references)", e.Item, err)
			return
		}
		re, err := regexp.Compile("^(?:" + e.Value + ")$")
		if err != nil {
			l.fail(valOff, "bad regex in %s: %v: use RE2 syntax (no look-around or back-references)", e.Item, err)
			return
		}
		pat = len(list.patterns)
		list.patterns = append(list.patterns, ignorePattern{idx: idx, item: e.Item, re: re})
	}
	list.entries = append(list.entries, e)
	list.pattern = append(list.pattern, pat)
	list.expiring = list.expiring || !e.Expires.IsZero()
}

// include handles the Include line l; rest is the text after the word
// Include (starting with white space) and off its offset in the line.
func (ip *ignoreParser) include(l *ignoreLine, rest string, off int, chain []string) {
	name, fail := l.file, l.fail
	target := strings.TrimLeftFunc(rest, unicode.IsSpace)
	off += len(rest) - len(target)
	if target == "" {
		fail(off, "Include needs a file: write Include PATH")
		return
	}
	if ip.readFile == nil {
		fail(off, "Include is not allowed here: list the entries themselves")
		return
	}
	file := target
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(name), file)
	}
	clean := filepath.Clean(file)
	for i, c := range chain {
		if c == clean {
			loop := append(append([]string{}, chain[i:]...), clean)
			fail(off, "Include loop %s: remove one of these Include lines", strings.Join(loop, " -> "))
			return
		}
	}
	if len(chain) > maxIncludeDepth {
		fail(off, "Include nested more than %d files deep (%s -> %s): flatten the includes", maxIncludeDepth, strings.Join(chain, " -> "), clean)
		return
	}
	if ip.included >= maxIncludeFiles {
		fail(off, "more than %d included files: include fewer files", maxIncludeFiles)
		return
	}
	ip.included++
	src, err := ip.readFile(file)
	if err != nil {
		fail(off, "cannot read included file: %v: fix the path or remove the line", err)
		return
	}
	ip.parse(file, src, 1, append(chain[:len(chain):len(chain)], clean))
}

// cutInclude reports whether body (trimmed, non-empty) is an Include line:
// the word Include in any case followed by white space. It returns the text
// after the word.
func cutInclude(body string) (string, bool) {
	const word = "include"
	if len(body) <= len(word) || !strings.EqualFold(body[:len(word)], word) {
		return "", false
	}
	rest := body[len(word):]
	r, _ := utf8.DecodeRuneInString(rest)
	if !unicode.IsSpace(r) {
		return "", false
	}
	return rest, true
}

// ignoreWhat names the value an item takes, for messages.
func ignoreWhat(item string) string {
	switch item {
	case ignoreExe:
		return "executable path"
	case ignoreCmd:
		return "command line"
	case ignoreUser:
		return "user name"
	case ignoreUnit:
		return "unit name or glob"
	}
	return "regex"
}

func addFirst(m map[string]int, key string, idx int) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	if _, ok := m[key]; !ok {
		m[key] = idx
	}
	return m
}

// Append adds the entries of other after those of l: later lists add to
// earlier ones. A nil other adds nothing; a nil l is left alone.
func (l *IgnoreList) Append(other *IgnoreList) {
	if l == nil || other == nil || len(other.entries) == 0 {
		return
	}
	base := len(l.entries)
	l.entries = append(l.entries, other.entries...)
	merge := func(dst, src map[string]int) map[string]int {
		for k, i := range src {
			dst = addFirst(dst, k, base+i)
		}
		return dst
	}
	l.exe = merge(l.exe, other.exe)
	l.cmd = merge(l.cmd, other.cmd)
	l.user = merge(l.user, other.user)
	l.unit = merge(l.unit, other.unit)
	patBase := len(l.patterns)
	for _, k := range other.pattern {
		if k >= 0 {
			k += patBase
		}
		l.pattern = append(l.pattern, k)
	}
	for _, pt := range other.patterns {
		pt.idx += base
		l.patterns = append(l.patterns, pt)
	}
	l.expiring = l.expiring || other.expiring
}

// Len returns the number of entries.
func (l *IgnoreList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.entries)
}

// Entries returns a copy of the entries, in file order (included files in
// place of their Include line, appended lists after).
func (l *IgnoreList) Entries() []IgnoreEntry {
	if l == nil {
		return nil
	}
	return append([]IgnoreEntry(nil), l.entries...)
}

// itemFacts are the facts an entry of each kind reads.
var itemFacts = map[string]Facts{
	ignoreExe: FactExe, ignorePExe: FactExe, ignoreCmd: FactCmdline, ignorePCmd: FactCmdline, ignoreUnit: FactCgroup,
}

// exeTrusted reports whether exe: and pexe: entries may judge p by its exe
// path: not when the executable was deleted, and not when the file it runs
// is not the file at that path in ptrule's view (a bind mount or another
// mount namespace could otherwise dress any program as a listed one).
func exeTrusted(p *Process) bool {
	return !p.ExeDeleted && !p.ExeMismatch
}

// Match returns the entry that hides p, leaving expiry aside: of all
// entries matching p, the one first in file order (for duplicates of a
// literal value, the first one written). exe: and pexe: entries never
// match a process whose executable was deleted or is not the file at its
// path in ptrule's view (exe_mismatch); unit: entries never match a
// process without a unit. Evaluation uses MatchAt, which passes over
// expired entries.
func (l *IgnoreList) Match(p *Process) (IgnoreEntry, bool) {
	return l.MatchAt(p, time.Time{})
}

// MatchAt is Match at time t: an entry expired at t matches nothing, and
// the first unexpired matching entry decides. A zero t expires nothing.
func (l *IgnoreList) MatchAt(p *Process, t time.Time) (IgnoreEntry, bool) {
	i := l.matchAt(p, t)
	if i < 0 {
		return IgnoreEntry{}, false
	}
	return l.entries[i], true
}

// matchAt is MatchAt returning the index of the entry, or -1.
func (l *IgnoreList) matchAt(p *Process, t time.Time) int {
	if l == nil || p == nil {
		return -1
	}
	best := l.first(p)
	if best >= 0 && l.expiring && l.entries[best].ExpiredAt(t) {
		// Rare: walk the later entries one by one.
		best = l.next(best+1, t, func(j int) bool { return l.entryMatches(j, p) })
	}
	return best
}

// next returns the index of the first entry from index from on that is
// not expired at t and for which match holds, or -1.
func (l *IgnoreList) next(from int, t time.Time, match func(int) bool) int {
	for j := from; j < len(l.entries); j++ {
		if !l.entries[j].ExpiredAt(t) && match(j) {
			return j
		}
	}
	return -1
}

// entryMatches reports whether entry j, expiry aside, matches p.
func (l *IgnoreList) entryMatches(j int, p *Process) bool {
	if k := l.pattern[j]; k >= 0 {
		return l.patterns[k].match(p)
	}
	e := &l.entries[j]
	p.Need(itemFacts[e.Item])
	switch e.Item {
	case ignoreExe:
		return exeTrusted(p) && p.Exe == e.Value
	case ignoreCmd:
		return p.Cmd == e.Value
	case ignoreUser:
		return p.User == e.Value
	case ignoreUnit:
		return p.Unit != "" && p.Unit == e.Value
	}
	return false
}

// first returns the index of the first entry matching p, expiry aside,
// or -1.
func (l *IgnoreList) first(p *Process) int {
	best := -1
	take := func(m map[string]int, key string) {
		if i, ok := m[key]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	// Each kind reads its facts only when the list has such entries,
	// the free ones first.
	take(l.user, p.User)
	if len(l.exe) > 0 {
		p.Need(FactExe)
		if exeTrusted(p) {
			take(l.exe, p.Exe)
		}
	}
	if len(l.cmd) > 0 {
		p.Need(FactCmdline)
		take(l.cmd, p.Cmd)
	}
	if len(l.unit) > 0 {
		p.Need(FactCgroup)
		if p.Unit != "" {
			take(l.unit, p.Unit)
		}
	}
	for i := range l.patterns {
		pt := &l.patterns[i]
		if best >= 0 && pt.idx > best {
			break
		}
		if pt.match(p) {
			best = pt.idx
			break
		}
	}
	return best
}

// Ignored reports whether some entry hides p, expiry aside: Match's
// decision, without the entry, so that what is counted and what is
// explained cannot differ.
func (l *IgnoreList) Ignored(p *Process) bool {
	_, ok := l.Match(p)
	return ok
}

// MatchUser returns the first user: or puser: entry, in file order, that
// matches the user name, expiry aside.
func (l *IgnoreList) MatchUser(name string) (IgnoreEntry, bool) {
	return l.MatchUserAt(name, time.Time{})
}

// MatchUserAt is MatchUser at time t: entries expired at t match nothing.
// It is what user-scope rules see as ignored.
func (l *IgnoreList) MatchUserAt(name string, t time.Time) (IgnoreEntry, bool) {
	if l == nil {
		return IgnoreEntry{}, false
	}
	best := -1
	if i, ok := l.user[name]; ok {
		best = i
	}
	for i := range l.patterns {
		pt := &l.patterns[i]
		if best >= 0 && pt.idx > best {
			break
		}
		if pt.item == ignorePUser && pt.re.MatchString(name) {
			best = pt.idx
			break
		}
	}
	if best >= 0 && l.expiring && l.entries[best].ExpiredAt(t) {
		best = l.next(best+1, t, func(j int) bool {
			if k := l.pattern[j]; k >= 0 {
				pt := &l.patterns[k]
				return pt.item == ignorePUser && pt.re.MatchString(name)
			}
			return l.entries[j].Item == ignoreUser && l.entries[j].Value == name
		})
	}
	if best < 0 {
		return IgnoreEntry{}, false
	}
	return l.entries[best], true
}

// Expired returns the entries expired at t, in file order.
func (l *IgnoreList) Expired(t time.Time) []IgnoreEntry {
	if l == nil || !l.expiring {
		return nil
	}
	var out []IgnoreEntry
	for _, e := range l.entries {
		if e.ExpiredAt(t) {
			out = append(out, e)
		}
	}
	return out
}
