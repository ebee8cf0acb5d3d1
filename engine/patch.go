package engine

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// param is one param's current value and where it was set.
type param struct {
	value any
	src   *source
	node  *yaml.Node
}

// draft is a rule being assembled from its definition and patches.
type draft struct {
	name   string
	origin Pos
	// originSrc is the file of the definition, quoted by problems of the
	// whole rule.
	originSrc *source
	defined   bool
	patches   []Pos
	fields    map[string]field
	srcs      map[string]*source
	params    map[string]param
	porder    []string
}

// patch applies a definition or patch: each field given replaces the
// earlier one; params merge key by key and keep their type.
func (dr *draft) patch(d *ruleDoc) Problems {
	var ps Problems
	isPatch := dr.defined
	if isPatch {
		dr.patches = append(dr.patches, d.src.pos(d.nameNode))
	}
	dr.defined = true
	for _, f := range d.fields {
		if f.key != "params" {
			dr.fields[f.key] = f
			dr.srcs[f.key] = d.src
			continue
		}
		for _, pf := range d.src.mapping(f.value, "params", nil, &ps) {
			v, ok := paramValue(d.src, pf.value, &ps)
			if !ok {
				continue
			}
			old, exists := dr.params[pf.key]
			if !exists {
				if isPatch {
					ps = append(ps, d.src.problem(pf.kNode, "rule %q has no param %q (it has: %s)", dr.name, pf.key, strings.Join(dr.porder, ", ")))
					continue
				}
				dr.porder = append(dr.porder, pf.key)
				dr.params[pf.key] = param{value: v, src: d.src, node: pf.value}
				continue
			}
			conv, ok := convertParam(old.value, v)
			if !ok {
				ps = append(ps, d.src.problem(pf.value, "param %q of rule %q is %s (default %s at %s), not %s", pf.key, dr.name, typeName(old.value), yamlText(old.value), old.src.pos(old.node), typeName(v)))
				continue
			}
			dr.params[pf.key] = param{value: conv, src: d.src, node: pf.value}
		}
	}
	return ps
}

// paramValue converts a YAML value into bool, int64, float64, string or a
// list of those.
func paramValue(src *source, n *yaml.Node, ps *Problems) (any, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			var b bool
			return b, n.Decode(&b) == nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				*ps = append(*ps, src.problem(n, "bad integer %q", n.Value))
				return nil, false
			}
			return i, true
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				*ps = append(*ps, src.problem(n, "bad number %q", n.Value))
				return nil, false
			}
			return f, true
		case "!!str":
			return n.Value, true
		case "!!null":
			*ps = append(*ps, src.problem(n, "a param needs a value; write \"\" for an empty string"))
			return nil, false
		}
	case yaml.SequenceNode:
		out := []any{}
		for _, e := range n.Content {
			v, ok := paramValue(src, e, ps)
			if !ok {
				return nil, false
			}
			if _, isList := v.([]any); isList {
				*ps = append(*ps, src.problem(e, "a param list holds plain values, not lists"))
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	*ps = append(*ps, src.problem(n, "a param must be a string, number, boolean or list of those"))
	return nil, false
}

// convertParam checks that v may replace a param whose default is old.
func convertParam(old, v any) (any, bool) {
	switch old.(type) {
	case float64:
		switch v := v.(type) {
		case float64:
			return v, true
		case int64:
			return float64(v), true
		}
		return nil, false
	case []any:
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		// A list keeps the type of the default's elements.
		if def := old.([]any); len(def) > 0 {
			out := make([]any, len(list))
			for i, e := range list {
				if out[i], ok = convertParam(def[0], e); !ok {
					return nil, false
				}
			}
			return out, true
		}
		return list, true
	}
	if fmt.Sprintf("%T", old) != fmt.Sprintf("%T", v) {
		return nil, false
	}
	return v, true
}

func typeName(v any) string {
	switch list := v.(type) {
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		if len(list) == 0 {
			return "a list"
		}
		return "a list of " + map[string]string{
			"a boolean": "booleans", "an integer": "integers", "a number": "numbers", "a string": "strings",
		}[typeName(list[0])]
	}
	return fmt.Sprintf("%T", v)
}

func yamlText(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
