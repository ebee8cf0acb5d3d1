package engine

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DecodeYAML decodes a YAML file strictly into v, a pointer to a struct
// whose fields carry `yaml` tags: unknown and duplicate keys are errors,
// time.Duration fields take duration strings, int64 fields take integers or
// sizes ("512MiB"), time.Time fields take RFC 3339 timestamps. Every problem
// is reported with its file, line and column.
func DecodeYAML(path string, data []byte, v any) Problems {
	src := newSource(path, data)
	root, p := src.parseYAML()
	if p != nil {
		return Problems{p}
	}
	if root == nil {
		return nil
	}
	var ps Problems
	src.decode(root, reflect.ValueOf(v).Elem(), "the file", &ps)
	return ps
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// yamlFields lists the settable fields of a struct type by YAML name.
func yamlFields(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

// decode fills dst from n; what names the value in messages. Each kind of
// destination has a step of its own.
func (s *source) decode(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch dst.Type() {
	case nodeType:
		dst.Set(reflect.ValueOf(Node{src: s, value: n}))
		return
	case durationType:
		if d, ok := s.duration(n, what, ps); ok {
			dst.SetInt(int64(d))
		}
		return
	case timeType:
		s.decodeTime(n, dst, what, ps)
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		s.decodeStruct(n, dst, what, ps)
	case reflect.Pointer:
		if !isNull(n) {
			nv := reflect.New(dst.Type().Elem())
			s.decode(n, nv.Elem(), what, ps)
			dst.Set(nv)
		}
	case reflect.Slice:
		s.decodeList(n, dst, what, ps)
	case reflect.Map:
		s.decodeMap(n, dst, what, ps)
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64, reflect.Bool, reflect.String:
		s.decodeScalar(n, dst, what, ps)
	case reflect.Interface:
		var v any
		if err := n.Decode(&v); err != nil {
			*ps = append(*ps, s.problem(n, "%s: %v", what, err))
			return
		}
		dst.Set(reflect.ValueOf(&v).Elem())
	default:
		*ps = append(*ps, s.problem(n, "%s: cannot decode into %s", what, dst.Type()))
	}
}

// decodeTime reads an RFC 3339 timestamp.
func (s *source) decodeTime(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	str, ok := s.str(n, what, ps)
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		*ps = append(*ps, s.problem(n, "%s: bad timestamp %q: write RFC 3339, like 2026-01-01T00:00:00Z", what, str))
		return
	}
	dst.Set(reflect.ValueOf(t))
}

// decodeStruct reads a mapping whose keys are the struct's YAML names.
func (s *source) decodeStruct(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	names, index := yamlFields(dst.Type())
	for _, f := range s.mapping(n, what, names, ps) {
		s.decode(f.value, dst.Field(index[f.key]), f.key, ps)
	}
}

// decodeList reads a sequence; null leaves the list nil.
func (s *source) decodeList(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		*ps = append(*ps, s.problem(n, "%s must be a list", what))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		s.decode(e, out.Index(i), what+" entry", ps)
	}
	dst.Set(out)
}

// decodeMap reads a mapping of any keys; null leaves the map nil.
func (s *source) decodeMap(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	if isNull(n) {
		return
	}
	m := reflect.MakeMap(dst.Type())
	for _, f := range s.mapping(n, what, nil, ps) {
		ev := reflect.New(dst.Type().Elem()).Elem()
		if ev.Type() == nodeType {
			// A raw value keeps its key: a problem about a key missing
			// from it points there.
			ev.Set(reflect.ValueOf(Node{src: s, key: f.kNode, value: f.value}))
		} else {
			s.decode(f.value, ev, what+"."+f.key, ps)
		}
		m.SetMapIndex(reflect.ValueOf(f.key).Convert(dst.Type().Key()), ev)
	}
	dst.Set(m)
}

// decodeScalar reads a number, boolean or string. An int64 also takes a
// size ("512MiB"); in a snapshot a string also takes the bytes form.
// yaml.v3's own leniencies (yes/no as booleans, 1.5 truncated to an
// integer) are refused.
func (s *source) decodeScalar(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	if dst.Kind() == reflect.Int64 && n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		size, err := ParseSize(n.Value)
		if err != nil {
			*ps = append(*ps, s.problem(n, "%s: %v", what, err))
			return
		}
		dst.SetInt(size)
		return
	}
	if dst.Kind() == reflect.String && s.snapshot && n.Kind == yaml.MappingNode {
		if b, ok := s.decodeBytes(n, what, ps); ok {
			dst.SetString(b)
		}
		return
	}
	if n.Kind != yaml.ScalarNode {
		*ps = append(*ps, s.problem(n, "%s must be a single value", what))
		return
	}
	isInt := dst.Kind() == reflect.Int || dst.Kind() == reflect.Int64 || dst.Kind() == reflect.Uint64
	if dst.Kind() == reflect.Bool && n.Tag != "!!bool" {
		// yaml.v3 would take yes, no, on and off; rule files do not.
		*ps = append(*ps, s.problem(n, "%s: %q is not %s", what, n.Value, kindName(dst.Kind())))
		return
	}
	if isInt && n.Tag == "!!float" {
		// yaml.v3 would truncate 1.5 to 1 without a word.
		*ps = append(*ps, s.problem(n, "%s: %q is not %s", what, n.Value, kindName(dst.Kind())))
		return
	}
	if err := n.Decode(dst.Addr().Interface()); err != nil {
		*ps = append(*ps, s.problem(n, "%s: %q is not %s", what, n.Value, kindName(dst.Kind())))
	}
}

// decodeSnapshot decodes a fixture snapshot into dst: as decode, and every
// string may also be given in the bytes form `ptrule facts` writes for text
// that is not valid UTF-8.
func (s *source) decodeSnapshot(n *yaml.Node, dst reflect.Value, what string, ps *Problems) {
	s.snapshot = true
	defer func() { s.snapshot = false }()
	s.decode(n, dst, what, ps)
}

// decodeBytes reads the bytes form {bytes: '...'} (see bytesKey) back into
// the string it stands for.
func (s *source) decodeBytes(n *yaml.Node, what string, ps *Problems) (string, bool) {
	fields := s.mapping(n, what, []string{bytesKey}, ps)
	if len(fields) != 1 {
		if len(n.Content) == 0 {
			*ps = append(*ps, s.problem(n, "%s must be a string, or {bytes: '...'} for text that is not UTF-8", what))
		}
		return "", false
	}
	v, ok := s.str(fields[0].value, what+" bytes", ps)
	if !ok {
		return "", false
	}
	b, err := strconv.Unquote(`"` + v + `"`)
	if err != nil {
		*ps = append(*ps, s.problem(fields[0].value, `%s: bytes %q is not the inside of a Go string literal: write \xff for the byte 0xff, \\ for a backslash and \" for a double quote`, what, v))
		return "", false
	}
	return b, true
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return "a string"
}
