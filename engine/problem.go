package engine

import (
	"errors"
	"fmt"
	"strings"
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
	// Source is the text of the line Pos points at, when known.
	Source string
}

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
	if p.Pos.Col > 0 {
		b.WriteString("\n    ")
		b.WriteString(strings.Repeat(" ", p.Pos.Col-1))
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
