package engine

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Pos is a place in a source file: 1-based line and column. Col 0 means the
// whole line.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Problem is one error in a rule file, ignore list, fixture or config,
// located in its source. Its Error text is "file:line:col: message"; Excerpt
// adds the source line and a caret under the column.
type Problem struct {
	Pos Pos
	Msg string
	// Source is the text of the line Pos points at, when known, with the
	// values of secret-bearing keys masked.
	Source string
	// caret is the column of the caret under Source when masking moved
	// it; 0 means Pos.Col.
	caret int
	// annotation marks a problem of an ignore entry's annotation comment,
	// which leaves the entry itself in the list.
	annotation bool
}

// Annotation reports whether p is a problem of an ignore-list annotation
// (`# ptrule: ...`): the entry below it is kept, without the bad field.
func (p *Problem) Annotation() bool { return p.annotation }

func (p *Problem) Error() string { return p.Pos.String() + ": " + p.Msg }

// Excerpt returns the error line followed, when the source line is known, by
// that line and a caret under the column.
func (p *Problem) Excerpt() string {
	if p.Source == "" {
		return p.Error()
	}
	var b strings.Builder
	b.WriteString(p.Error())
	b.WriteString("\n    ")
	b.WriteString(strings.ReplaceAll(p.Source, "\t", " "))
	col := p.Pos.Col
	if p.caret > 0 {
		col = p.caret
	}
	if col > 0 {
		b.WriteString("\n    ")
		b.WriteString(strings.Repeat(" ", col-1))
		b.WriteString("^")
	}
	return b.String()
}

// Problems is a list of problems reported together, so a user sees every
// mistake in every file at once.
type Problems []*Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// FormatError renders err for a terminal: each Problem with its excerpt,
// anything else as its plain text.
func FormatError(err error) string {
	var ps Problems
	if errors.As(err, &ps) {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Excerpt()
		}
		return strings.Join(out, "\n")
	}
	var p *Problem
	if errors.As(err, &p) {
		return p.Excerpt()
	}
	return err.Error()
}

// secretMask replaces the value of a secret-bearing key in what ptrule
// prints.
const secretMask = "****"

// secretKeyPattern matches keys whose values are secrets: passwords,
// tokens, webhook and other URLs (which carry credentials), API keys.
var secretKeyPattern = regexp.MustCompile(`(?i)(pass|token|secret|webhook|credential|auth|api_?key|private|url|dsn|cookie|bearer)`)

// keyPattern finds a YAML key and its colon in a line.
var keyPattern = regexp.MustCompile(`([A-Za-z0-9_.-]+)["']?\s*:(\s|$)`)

// maskSecret masks, in Source and Msg, the value of every secret-bearing
// key on the quoted line, keeping the key and the caret's place, so that
// `check` and `test` show where a problem is without echoing a password.
func (p *Problem) maskSecret() {
	line := []rune(p.Source)
	caret := p.Pos.Col
	masked := false
	for from := 0; from < len(line); {
		loc := keyPattern.FindStringSubmatchIndex(string(line[from:]))
		if loc == nil {
			break
		}
		// loc counts bytes of the rest of the line; count runes.
		rest := string(line[from:])
		keyStart := from + utf8.RuneCountInString(rest[:loc[2]])
		keyEnd := from + utf8.RuneCountInString(rest[:loc[3]])
		valStart := from + utf8.RuneCountInString(rest[:loc[1]])
		for valStart < len(line) && (line[valStart] == ' ' || line[valStart] == '\t') {
			valStart++
		}
		valEnd := valueEnd(line, valStart, slices.Contains(line[:keyStart], '{'))
		from = valEnd
		if valStart < len(line) && (line[valStart] == '{' || line[valStart] == '[') {
			from = valStart + 1 // a flow collection: look at its keys
		}
		key := string(line[keyStart:keyEnd])
		if !secretKeyPattern.MatchString(key) || strings.HasSuffix(key, "_file") {
			// A *_file key holds the path of a secret, which the user
			// needs to see to fix it, not the secret.
			continue
		}
		value := strings.Trim(string(line[valStart:valEnd]), `"' `)
		if value == "" || value == "|" || value == ">" || strings.HasPrefix(value, "&") || strings.HasPrefix(value, "*") {
			continue
		}
		if len(value) >= 3 {
			p.Msg = strings.ReplaceAll(p.Msg, value, secretMask)
		}
		shift := utf8.RuneCountInString(secretMask) - (valEnd - valStart)
		switch {
		case caret > valEnd:
			caret += shift
		case caret > valStart:
			caret = valStart + 1
		}
		line = slices.Concat(line[:valStart], []rune(secretMask), line[valEnd:])
		from = valStart + utf8.RuneCountInString(secretMask)
		masked = true
	}
	if masked {
		p.Source = string(line)
		if caret != p.Pos.Col {
			p.caret = caret
		}
	}
}

// valueEnd returns where a scalar value starting at i ends: its closing
// quote, or in a flow mapping the next comma or brace, or the end of the
// line before a comment.
func valueEnd(line []rune, i int, flow bool) int {
	if i < len(line) && (line[i] == '"' || line[i] == '\'') {
		q := line[i]
		for j := i + 1; j < len(line); j++ {
			if line[j] == '\\' && q == '"' {
				j++
				continue
			}
			if line[j] == q {
				return j + 1
			}
		}
		return len(line)
	}
	for j := i; j < len(line); j++ {
		if flow && (line[j] == ',' || line[j] == '}' || line[j] == ']') {
			return j
		}
		if line[j] == '#' && j > i && (line[j-1] == ' ' || line[j-1] == '\t') {
			for j > i && (line[j-1] == ' ' || line[j-1] == '\t') {
				j--
			}
			return j
		}
	}
	return len(line)
}
