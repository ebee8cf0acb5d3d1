package engine

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// factsOmit are the fields `ptrule facts` leaves out: absolute times would
// put a live process in the future of the fixture epoch, so a snapshot
// carries ages and uptimes instead.
var factsOmit = map[string]bool{"start": true, "boot": true}

// EncodeSnapshot writes the snapshot in the fixture `snapshot` schema
// (contract §4), as YAML or as JSON with the same keys in the same order,
// so that a live situation can be pasted into a fixture.
func EncodeSnapshot(s *Snapshot, format string) ([]byte, error) {
	n := encodeNode(reflect.ValueOf(*s))
	if format == "json" {
		var b bytes.Buffer
		writeJSONNode(&b, n)
		b.WriteByte('\n')
		return b.Bytes(), nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encoding snapshot: %w", err)
	}
	return b.Bytes(), nil
}

func scalarNode(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// encodeNode builds a YAML node from a fact value, keys in struct order.
func encodeNode(v reflect.Value) *yaml.Node {
	switch x := v.Interface().(type) {
	case time.Duration:
		return scalarNode("!!str", x.Round(time.Second).String())
	case time.Time:
		return scalarNode("!!str", x.UTC().Format(time.RFC3339))
	}
	switch v.Kind() {
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag[0] == "" || tag[0] == "-" || factsOmit[tag[0]] {
				continue
			}
			fv := v.Field(i)
			if len(tag) > 1 && strings.Contains(f.Tag.Get("yaml"), "omitempty") && fv.IsZero() {
				continue
			}
			val := encodeNode(fv)
			if len(tag) > 1 && tag[1] == "flow" {
				val.Style = yaml.FlowStyle
			}
			m.Content = append(m.Content, scalarNode("!!str", tag[0]), val)
		}
		return m
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem() != reflect.TypeFor[Process]() {
			s.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			s.Content = append(s.Content, encodeNode(v.Index(i)))
		}
		return s
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return bytesNode(v.String())
		}
		n := scalarNode("!!str", v.String())
		if strings.ContainsFunc(n.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			// Quoted, so that a newline in a process name stays on one
			// line, as an escape.
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	case reflect.Bool:
		return scalarNode("!!bool", fmt.Sprint(v.Bool()))
	case reflect.Int, reflect.Int64:
		return scalarNode("!!int", fmt.Sprint(v.Int()))
	case reflect.Uint64:
		return scalarNode("!!int", fmt.Sprint(v.Uint()))
	case reflect.Float64:
		return scalarNode("!!float", fmt.Sprint(v.Float()))
	}
	return scalarNode("!!null", "null")
}

// bytesKey is the key of the form a snapshot string takes when it is not
// valid UTF-8: {bytes: '...'}, the bytes written as in a Go string literal
// without its quotes (\xff is the byte 0xff, \\ a backslash, \n a newline;
// printable characters stand for themselves). YAML and JSON carry only
// Unicode text, so this is how an argv byte that is not one reaches a
// fixture unchanged; decodeBytes reads it back.
const bytesKey = "bytes"

// bytesNode writes s, which is not valid UTF-8, in the bytes form.
func bytesNode(s string) *yaml.Node {
	q := strconv.Quote(s)
	v := scalarNode("!!str", q[1:len(q)-1])
	// Single quotes keep YAML from reading the backslashes as its own
	// escapes, so what is shown is what strconv.Unquote reads back.
	v.Style = yaml.SingleQuotedStyle
	return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{scalarNode("!!str", bytesKey), v}}
}

// writeJSONNode writes a node built by encodeNode as JSON.
func writeJSONNode(b *bytes.Buffer, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, n.Content[i].Value)
			b.WriteByte(':')
			writeJSONNode(b, n.Content[i+1])
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONNode(b, c)
		}
		b.WriteByte(']')
	default:
		if n.Tag == "!!str" {
			writeJSONString(b, n.Value)
		} else {
			b.WriteString(n.Value)
		}
	}
}

// writeJSONString writes s, valid UTF-8, as a JSON string that a YAML
// reader (fixtures are read as YAML) also takes back unchanged: besides the
// control characters JSON requires escaped, it escapes those YAML reads as
// line breaks or byte order marks (U+0085, U+2028, U+2029, U+FEFF) or does
// not accept at all (DEL, the C1 controls, U+FFFE, U+FFFF).
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0x2028, r == 0x2029, r == 0xfeff, r == 0xfffe, r == 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
