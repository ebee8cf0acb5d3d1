package csf

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"ptrule/engine"
)

// lfdItems are the csf.pignore items lfd reads; it silently skips others.
var lfdItems = map[string]bool{"exe": true, "cmd": true, "user": true, "pexe": true, "pcmd": true, "puser": true}

// maxIncludeDepth bounds how deep Include lines nest.
const maxIncludeDepth = 16

// Note is a line of csf.pignore that ptrule reads differently from lfd.
type Note struct {
	Pos Pos
	Msg string
}

func (n Note) String() string { return n.Pos.String() + ": " + n.Msg }

// IgnoreConversion is csf.pignore in ptrule's syntax.
type IgnoreConversion struct {
	// List is the ignore list to write, its Include lines replaced by the
	// files they name.
	List []byte
	// Entries counts the active entries of List.
	Entries int
	// Notes are the lines ptrule reads differently from lfd.
	Notes []Note
	// Problems are the files that could not be read.
	Problems []Problem
}

// ConvertIgnore reads csf.pignore (name, data) and the files its Include
// lines name, through readFile (relative paths against the directory of
// name, as lfd resolves them against /etc/csf), and writes one ignore list
// in ptrule's syntax. Each entry is normalised (item lower case, no white
// space around item or value); where ptrule's reading differs from lfd's,
// a note says so: a value that started with white space (lfd kept it, so
// the entry never matched), a line containing "Include" that lfd dropped, a
// regex with a top-level `|` (lfd anchored only its first and last
// branch), and lines lfd skipped that ptrule would read otherwise, which
// are written as comments.
func ConvertIgnore(name string, data []byte, readFile func(string) ([]byte, error)) *IgnoreConversion {
	ic := &IgnoreConversion{}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `ptrule import-csf` from %s.\n", commentSafe(name))
	b.WriteString("# Lines starting with \"# import-csf:\" are the importer's notes; the report explains each.\n")
	ic.file(&b, name, data, readFile, []string{filepath.Clean(name)})
	ic.List = []byte(b.String())
	return ic
}

func (ic *IgnoreConversion) note(pos Pos, format string, args ...any) {
	ic.Notes = append(ic.Notes, Note{pos, fmt.Sprintf(format, args...)})
}

// file converts one file; chain holds the cleaned names being read.
func (ic *IgnoreConversion) file(b *strings.Builder, name string, data []byte, readFile func(string) ([]byte, error), chain []string) {
	included := len(chain) > 1
	for i, raw := range splitLines(string(data)) {
		pos := Pos{File: name, Line: i + 1}
		if rest, ok := strings.CutPrefix(raw, "Include"); ok {
			ic.include(b, pos, strings.TrimSpace(rest), readFile, chain)
			continue
		}
		t := strings.TrimSpace(raw)
		if t == "" {
			b.WriteString("\n")
			continue
		}
		if strings.HasPrefix(t, "#") {
			switch {
			case included:
			case strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(t, "#")), "ptrule:"):
				// lfd never read such a line; copied as it stands it
				// would annotate (or, misplaced, warn about) the entry
				// below it in ptrule.
				b.WriteString("# import-csf: a csf.pignore comment: " + commentSafe(strings.TrimPrefix(t, "#")) + "\n")
			default:
				b.WriteString(commentSafe(t) + "\n")
			}
			continue
		}
		item, value, hasColon := strings.Cut(t, ":")
		item = strings.ToLower(strings.Join(strings.FieldsFunc(item, unicode.IsSpace), ""))
		if !hasColon || !lfdItems[item] {
			what := "not an entry lfd reads"
			if hasColon && item == "unit" {
				what = "unit: is ptrule's, lfd skipped it"
			}
			if included {
				ic.note(pos, "%s: left out", what)
				continue
			}
			ic.note(pos, "%s: written as a comment", what)
			fmt.Fprintf(b, "# import-csf: %s: %s\n", what, commentSafe(t))
			continue
		}
		entry := item + ":" + strings.TrimSpace(value)
		if _, ps := engine.ParseIgnore("line", []byte(entry), 1, nil); len(ps) > 0 {
			ic.note(pos, "%s is not a valid ptrule entry (%s): written as a comment", quote(entry), ps[0].Msg)
			fmt.Fprintf(b, "# import-csf: not valid in ptrule: %s\n", commentSafe(entry))
			continue
		}
		dropped := strings.Contains(t, "Include")
		switch {
		case dropped:
			ic.note(pos, "%s: lfd dropped every line containing \"Include\", so it never applied there; ptrule applies it", entry)
		case value != "" && unicode.IsSpace([]rune(value)[0]):
			ic.note(pos, "%s: lfd kept the white space after the colon, so the entry never matched there; ptrule reads it as %s and it now applies", quote(t), entry)
		}
		if item[0] == 'p' && topLevelBar(strings.TrimSpace(value)) {
			ic.note(pos, "%s: lfd anchored this regex as ^%s$ without grouping, so it matched anything starting with its first branch or ending with its last; ptrule anchors it as a whole", entry, strings.TrimSpace(value))
		}
		b.WriteString(entry + "\n")
		ic.Entries++
	}
}

// include follows an Include line of the file at pos.
func (ic *IgnoreConversion) include(b *strings.Builder, pos Pos, target string, readFile func(string) ([]byte, error), chain []string) {
	if target == "" {
		ic.Problems = append(ic.Problems, Problem{pos, "Include without a file: skipped"})
		return
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(pos.File), target)
	}
	clean := filepath.Clean(target)
	for _, c := range chain {
		if c == clean {
			ic.Problems = append(ic.Problems, Problem{pos, fmt.Sprintf("Include %s is a loop: skipped", quote(target))})
			return
		}
	}
	if len(chain) >= maxIncludeDepth {
		ic.Problems = append(ic.Problems, Problem{pos, fmt.Sprintf("Include %s nests more than %d files deep: skipped", quote(target), maxIncludeDepth)})
		return
	}
	if readFile == nil {
		ic.Problems = append(ic.Problems, Problem{pos, fmt.Sprintf("Include %s: cannot read included files here", quote(target))})
		return
	}
	data, err := readFile(target)
	if err != nil {
		ic.Problems = append(ic.Problems, Problem{pos, fmt.Sprintf("Include %s: %v: its entries are not imported; fix the path or copy them by hand", quote(target), err)})
		return
	}
	fmt.Fprintf(b, "# import-csf: from %s (Include at %s)\n", commentSafe(target), commentSafe(pos.String()))
	ic.file(b, target, data, readFile, append(chain[:len(chain):len(chain)], clean))
	fmt.Fprintf(b, "# import-csf: end of %s\n", commentSafe(target))
}

// topLevelBar reports whether the regex re has a `|` outside any group or
// character class.
func topLevelBar(re string) bool {
	depth, class := 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			if c == ']' {
				class = false
			}
		case c == '[':
			class = true
			if i+1 < len(re) && re[i+1] == '^' {
				i++
			}
			if i+1 < len(re) && re[i+1] == ']' {
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		case c == '|' && depth == 0:
			return true
		}
	}
	return false
}
