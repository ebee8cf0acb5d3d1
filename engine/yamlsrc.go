package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// source is one YAML file being read, kept whole so that every error can
// quote the line it points at.
type source struct {
	path  string
	data  []byte
	lines []string
	// snapshot is set while a fixture snapshot is decoded: its strings
	// may take the bytes form (see decodeSnapshot).
	snapshot bool
	// quiet is set for a file that is not one of ours at all (a passwd or
	// shadow file named by mistake or malice): its problems do not quote
	// its lines.
	quiet bool
}

func newSource(path string, data []byte) *source {
	return &source{path: path, data: data, lines: strings.Split(string(data), "\n")}
}

func (s *source) line(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	return strings.TrimRight(s.lines[n-1], "\r")
}

func (s *source) pos(n *yaml.Node) Pos { return Pos{File: s.path, Line: n.Line, Col: n.Column} }

func (s *source) problemAt(p Pos, format string, args ...any) *Problem {
	pr := &Problem{Pos: p, Msg: fmt.Sprintf(format, args...)}
	if !s.quiet {
		pr.Source = s.line(p.Line)
		pr.maskSecret()
	}
	return pr
}

func (s *source) problem(n *yaml.Node, format string, args ...any) *Problem {
	return s.problemAt(s.pos(n), format, args...)
}

// parseYAML parses the file into its document node. A syntax error becomes
// a Problem at the line yaml.v3 names. A file that is not YAML at all — one
// whose top level is plain text or has no key that is a name, or that does
// not parse and has no line like a YAML key, such as a passwd or shadow
// file — is not one of ours: it is reported by one problem that quotes
// none of its lines.
func (s *source) parseYAML() (*yaml.Node, *Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal(s.data, &doc); err != nil {
		s.quiet = !slices.ContainsFunc(s.lines, yamlKeyLine.MatchString)
		line := 0
		// yaml.v3 says "yaml: line N: message".
		fmt.Sscanf(err.Error(), "yaml: line %d:", &line)
		msg := syntaxMessage(err)
		pos := Pos{File: s.path, Line: line}
		if l, c := s.syntaxErrorAt(msg, line); l > 0 {
			pos.Line, pos.Col = l, c
		}
		return nil, s.problemAt(pos, "invalid YAML: %s", msg)
	}
	// An empty file and an explicitly empty document ("---") hold nothing.
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode || (root.Kind == yaml.MappingNode && !slices.ContainsFunc(root.Content, isNameKey)) {
		s.quiet = true
		return nil, s.problemAt(Pos{File: s.path, Line: 1}, "not a ptrule file: its top level is not a mapping of keys such as rules, tests or interval; check the path")
	}
	return root, nil
}

// maxSyntaxSearch bounds how many lines past yaml.v3's line syntaxErrorAt
// reads, so that a long file with an error costs a bounded number of parses.
const maxSyntaxSearch = 500

// syntaxErrorAt finds the line and column of a YAML syntax error. yaml.v3
// names the line where the construct holding the error began (a mis-indented
// key on line 4 of a list that starts on line 1 is reported at line 1), not
// the line of the offending token. The first prefix of the file, in whole
// lines from that line on, that fails to parse with the same message ends
// at the offending line. The column is that of the first tab on the line
// for a tab error, of its first character that is not a space for an
// indentation or token error (where the offending token starts), and 0 (the whole
// line) for other errors, whose token yaml.v3 does not tell. It returns
// 0, 0 when no prefix fails the same way.
func (s *source) syntaxErrorAt(msg string, from int) (line, col int) {
	from = max(from, 1)
	end := 0 // byte offset of the end of line l
	for l := 1; l <= len(s.lines) && l < from+maxSyntaxSearch; l++ {
		end += len(s.lines[l-1])
		if l < len(s.lines) {
			end++ // the newline
		}
		if l < from {
			continue
		}
		var doc yaml.Node
		err := yaml.Unmarshal(s.data[:end], &doc)
		if err == nil || syntaxMessage(err) != msg {
			continue
		}
		text := s.line(l)
		if i := strings.IndexByte(text, '\t'); i >= 0 && strings.Contains(msg, "tab") {
			return l, len([]rune(text[:i])) + 1
		}
		indentation := strings.Contains(msg, "expected '-' indicator") || strings.Contains(msg, "expected key") ||
			strings.Contains(msg, "mapping values are not allowed") || strings.Contains(msg, "cannot start any token") ||
			strings.Contains(msg, "could not find expected ':'")
		if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' }); i >= 0 && indentation {
			return l, len([]rune(text[:i])) + 1
		}
		return l, 0
	}
	return 0, 0
}

// syntaxMessage is a yaml.v3 error without its "yaml: line N:" prefix.
func syntaxMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		msg = msg[strings.Index(msg, ":")+1:]
	}
	return strings.TrimSpace(msg)
}

// isNameKey reports whether a node is a key that is a plain name, as every
// key of ptrule's files is; the lines of passwd or shadow parse as keys
// full of colons.
func isNameKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && yamlName.MatchString(n.Value)
}

var yamlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// yamlKeyLine matches a line that holds a YAML key: "key:" followed by a
// space or the end of the line, perhaps as a list item. The lines of
// passwd or shadow ("root:x:0:0:...") do not.
var yamlKeyLine = regexp.MustCompile(`^\s*(-\s+)?["']?[A-Za-z_][A-Za-z0-9_.-]*["']?\s*:(\s|$)`)

// field is one key of a mapping with its value node.
type field struct {
	key   string
	kNode *yaml.Node
	value *yaml.Node
}

// mapping returns the fields of a mapping node in order, reporting
// duplicate keys and keys not in allowed (nil allows any).
func (s *source) mapping(n *yaml.Node, what string, allowed []string, ps *Problems) []field {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		*ps = append(*ps, s.problem(n, "%s must be a mapping", what))
		return nil
	}
	var out []field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			*ps = append(*ps, s.problem(k, "unknown key %q in %s (known keys: %s)", k.Value, what, strings.Join(allowed, ", ")))
			continue
		}
		if seen[k.Value] {
			*ps = append(*ps, s.problem(k, "duplicate key %q in %s", k.Value, what))
			continue
		}
		seen[k.Value] = true
		out = append(out, field{key: k.Value, kNode: k, value: v})
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (s *source) str(n *yaml.Node, what string, ps *Problems) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		*ps = append(*ps, s.problem(n, "%s must be a string", what))
		return "", false
	}
	return n.Value, true
}

func (s *source) boolean(n *yaml.Node, what string, ps *Problems) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		*ps = append(*ps, s.problem(n, "%s must be true or false", what))
		return false, false
	}
	return b, true
}

func (s *source) duration(n *yaml.Node, what string, ps *Problems) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		*ps = append(*ps, s.problem(n, "%s must be a duration such as 90s or 2h", what))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d < 0 {
		*ps = append(*ps, s.problem(n, "%s: bad duration %q: write a duration such as 90s, 10m or 2h", what, n.Value))
		return 0, false
	}
	return d, true
}

func (s *source) strList(n *yaml.Node, what string, ps *Problems) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		*ps = append(*ps, s.problem(n, "%s must be a list of strings", what))
		return nil, false
	}
	out := []string{}
	ok := true
	for _, e := range n.Content {
		v, good := s.str(e, what+" entry", ps)
		ok = ok && good
		out = append(out, v)
	}
	return out, ok
}

// text is a string from a YAML file that is compiled (CEL or a template),
// with what is needed to map a position inside it back to the file.
type text struct {
	src  *source
	node *yaml.Node
	// body is what is compiled. For a folded block scalar it is the raw
	// lines of the block, so that CEL's line and column point into the
	// file; CEL treats the newlines as the spaces folding would give.
	body string
	// firstLine and indent locate body's first character in the file.
	firstLine, indent int
	// verbatim is set when body can be found character for character in
	// the file from firstLine and indent: every block scalar, and a plain or
	// quoted scalar on one line without escapes. A column inside any other
	// body has no place in the file.
	verbatim bool
}

func (s *source) text(n *yaml.Node) text {
	t := text{src: s, node: n, body: n.Value, firstLine: n.Line, indent: n.Column - 1}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The content starts on the line after the indicator, at the
		// indentation of its first non-empty line.
		t.firstLine = n.Line + 1
		for l := n.Line + 1; l <= len(s.lines); l++ {
			line := s.line(l)
			if strings.TrimSpace(line) == "" {
				continue
			}
			t.indent = len(line) - len(strings.TrimLeft(line, " "))
			break
		}
		if n.Style&yaml.FoldedStyle != 0 {
			var raw []string
			for l := t.firstLine; l <= len(s.lines); l++ {
				line := s.line(l)
				if strings.TrimSpace(line) != "" && len(line)-len(strings.TrimLeft(line, " ")) < t.indent {
					break
				}
				if len(line) >= t.indent {
					line = line[t.indent:]
				} else {
					line = ""
				}
				raw = append(raw, line)
			}
			t.body = strings.TrimRight(strings.Join(raw, "\n"), "\n ")
		}
		t.verbatim = true
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		t.indent++ // past the opening quote
		quote := "'"
		if n.Style&yaml.DoubleQuotedStyle != 0 {
			quote = `"`
		}
		t.verbatim = strings.HasPrefix(s.lineFrom(n.Line, n.Column), quote+n.Value+quote)
	default:
		t.verbatim = strings.HasPrefix(s.lineFrom(n.Line, n.Column), n.Value)
	}
	return t
}

// lineFrom returns line n from the 1-based column col (counted in
// characters, as YAML and CEL count them) to its end.
func (s *source) lineFrom(n, col int) string {
	r := []rune(s.line(n))
	if col < 1 || col > len(r)+1 {
		return ""
	}
	return string(r[col-1:])
}

// posAt maps a 1-based line and 0-based column inside body to the file.
func (t text) posAt(line, col int) Pos {
	if line < 1 {
		line = 1
	}
	if !t.verbatim {
		// A plain or quoted scalar that YAML folded from several lines, or
		// whose escapes it replaced, has no exact mapping; point at its
		// start rather than guess.
		return Pos{File: t.src.path, Line: t.node.Line, Col: t.node.Column}
	}
	return Pos{File: t.src.path, Line: t.firstLine + line - 1, Col: t.indent + col + 1}
}

func (t text) problemAt(line, col int, format string, args ...any) *Problem {
	return t.src.problemAt(t.posAt(line, col), format, args...)
}

func (t text) pos() Pos { return t.src.pos(t.node) }

// Locator places problems found after a YAML file was decoded (a value
// that is well-formed but not allowed) at their key or value in the file,
// with the source line and a caret, as the decoder does.
type Locator struct {
	src  *source
	root *yaml.Node
}

// NewLocator reads the file at path, whose contents are data, for At. A
// file that does not parse gives a Locator that points at the file only.
func NewLocator(path string, data []byte) *Locator {
	src := newSource(path, data)
	root, _ := src.parseYAML()
	return &Locator{src: src, root: root}
}

// At returns a problem at the value found by following keys (mapping keys
// as strings, list indexes as ints) from the top of the file. When the
// last step is missing (a key that was left out) it points at the key of
// the deepest mapping entry that exists, and at the file when nothing of
// the path exists.
func (l *Locator) At(path []any, format string, args ...any) *Problem {
	n, entry := walk(l.root, path)
	switch {
	case n != nil:
		return l.src.problem(n, format, args...)
	case entry != nil:
		return l.src.problem(entry, format, args...)
	}
	return l.src.problemAt(Pos{File: l.src.path}, format, args...)
}
