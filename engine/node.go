package engine

import (
	"fmt"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Node is one value of a YAML file left undecoded by DecodeYAML, for a
// decoder that learns its shape only later: the keys of a notification
// channel depend on its type, which only the notify package knows. A Node
// remembers its file, so every problem found in it carries its line,
// column and source line, exactly as DecodeYAML's own problems do.
//
// A struct field, map value or list entry of type Node is filled with the
// raw value; the zero Node is a value that was not given.
type Node struct {
	src *source
	// key is the mapping key the value belongs to, when it is a map value;
	// a problem about a key missing from the value points at it.
	key   *yaml.Node
	value *yaml.Node
}

var nodeType = reflect.TypeFor[Node]()

// Pos returns where the value starts (or where its key does, for a value
// that is empty).
func (n Node) Pos() Pos {
	switch {
	case n.src == nil:
		return Pos{}
	case n.key != nil && isNull(n.value):
		return n.src.pos(n.key)
	}
	return n.src.pos(n.value)
}

// Has reports whether the value is a mapping with the key.
func (n Node) Has(key string) bool {
	m := n.mappingNode()
	if m == nil {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (n Node) mappingNode() *yaml.Node {
	v := n.value
	if v != nil && v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v == nil || v.Kind != yaml.MappingNode {
		return nil
	}
	return v
}

// Get returns the value of key in the value, a mapping, as a Node whose
// key is key; the zero Node when there is none.
func (n Node) Get(key string) Node {
	m := n.mappingNode()
	if m == nil {
		return Node{}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return Node{src: n.src, key: m.Content[i], value: m.Content[i+1]}
		}
	}
	return Node{}
}

// IsZero reports whether the Node is a value that was not given.
func (n Node) IsZero() bool { return n.src == nil }

// DecodeValue decodes the value into v, a pointer to anything DecodeYAML
// decodes (a string, a number, a list, a struct...), with DecodeYAML's
// rules; what names the value in messages. The zero Node leaves v as it is.
func (n Node) DecodeValue(what string, v any) Problems {
	if n.src == nil || n.value == nil {
		return nil
	}
	var ps Problems
	n.src.decode(n.value, reflect.ValueOf(v).Elem(), what, &ps)
	return ps
}

// Decode decodes the value, a mapping, strictly into targets, each a
// pointer to a struct whose fields carry `yaml` tags, with DecodeYAML's
// rules: each key is decoded into the first target that has a field of
// that name, and a key none has is an unknown key. Fields whose keys are
// absent keep their values, so targets carry their defaults in. what names
// the value in messages ("channel ops"). An empty value (`ops:` with
// nothing after it) decodes as an empty mapping.
func (n Node) Decode(what string, targets ...any) Problems {
	if n.src == nil || n.value == nil || isNull(n.value) {
		return nil
	}
	type target struct {
		v     reflect.Value
		index map[string]int
	}
	var ts []target
	var allowed []string
	for _, t := range targets {
		v := reflect.ValueOf(t).Elem()
		names, index := yamlFields(v.Type())
		for _, name := range names {
			if !slices.Contains(allowed, name) {
				allowed = append(allowed, name)
			}
		}
		ts = append(ts, target{v: v, index: index})
	}
	var ps Problems
	for _, f := range n.src.mapping(n.value, what, allowed, &ps) {
		for _, t := range ts {
			if i, ok := t.index[f.key]; ok {
				n.src.decode(f.value, t.v.Field(i), f.key, &ps)
				break
			}
		}
	}
	return ps
}

// At returns a problem at the value found by following path (mapping keys
// as strings, list indexes as ints) from the Node, as Locator.At does from
// the top of a file. When the last step is missing (a key that was left
// out) it points at the key of the deepest entry that exists, and at the
// Node's own key when none does: "channel ops has no type" points at ops.
func (n Node) At(path []any, format string, args ...any) *Problem {
	if n.src == nil {
		return &Problem{Msg: fmt.Sprintf(format, args...)}
	}
	found, entry := walk(n.value, path)
	switch {
	case found != nil:
		return n.src.problem(found, format, args...)
	case entry != nil:
		return n.src.problem(entry, format, args...)
	case n.key != nil:
		return n.src.problem(n.key, format, args...)
	}
	return n.src.problem(n.value, format, args...)
}

// walk follows path from n. It returns the node at its end, or nil when a
// step is missing, and the key (or list entry) of the deepest step found.
func walk(n *yaml.Node, path []any) (found, entry *yaml.Node) {
	for _, step := range path {
		if n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			break
		}
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						entry, next = n.Content[i], n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
				entry = next
			}
		}
		n = next
	}
	return n, entry
}
