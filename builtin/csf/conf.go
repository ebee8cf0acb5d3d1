// Package csf imports a csf/lfd configuration: it reads csf.conf and
// csf.pignore as csf writes them and turns them into a patch of ptrule's
// default rules, an ignore list and a report of every difference. It does
// no I/O of its own beyond the readFile functions it is given.
package csf

import (
	"fmt"
	"strings"
)

// Pos is a line of an input file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Setting is one `NAME = "value"` line of csf.conf.
type Setting struct {
	Name, Value string
	Pos         Pos
}

// Problem is a line that could not be read, at its position.
type Problem struct {
	Pos Pos
	Msg string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Conf is a parsed csf.conf: the last setting of each name, as csf keeps
// the last one.
type Conf struct {
	Settings map[string]Setting
	Problems []Problem
}

// ParseConf reads csf.conf (name is the path shown in positions) the way
// csf does: blank lines and lines starting with `#` are skipped, a line
// is NAME = "value", the name loses its white space and the value is the
// text between the first and the last double quote. A line with no `=` or
// a value without quotes is a problem at its line; csf refuses such a line
// too. Unknown names are kept: the caller decides what it knows.
func ParseConf(name string, data []byte) *Conf {
	c := &Conf{Settings: map[string]Setting{}}
	for i, line := range splitLines(string(data)) {
		pos := Pos{File: name, Line: i + 1}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			c.Problems = append(c.Problems, Problem{pos, fmt.Sprintf("not a NAME = \"value\" line: %s", quote(t))})
			continue
		}
		k = strings.Join(strings.Fields(k), "")
		first, last := strings.IndexByte(v, '"'), strings.LastIndexByte(v, '"')
		if k == "" || first < 0 || last == first {
			c.Problems = append(c.Problems, Problem{pos, fmt.Sprintf("not a NAME = \"value\" line (the value needs double quotes): %s", quote(t))})
			continue
		}
		c.Settings[k] = Setting{Name: k, Value: v[first+1 : last], Pos: pos}
	}
	return c
}

// splitLines splits text at LF, CRLF and CR, as csf reads its files.
func splitLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// quote shows a value from an input file with Go quoting, so control
// characters in it cannot change what a terminal shows.
func quote(s string) string {
	const maxShown = 200
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return fmt.Sprintf("%q", s)
}
