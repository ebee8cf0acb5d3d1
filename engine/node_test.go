package engine

import (
	"strings"
	"testing"
	"time"
)

type nodeFile struct {
	Mode  string          `yaml:"mode"`
	Parts map[string]Node `yaml:"parts"`
	One   Node            `yaml:"one"`
}

type nodeCommon struct {
	Type  string        `yaml:"type"`
	Every time.Duration `yaml:"every"`
}

type nodeOwn struct {
	Host string   `yaml:"host"`
	Port int      `yaml:"port"`
	To   []string `yaml:"to"`
}

// A Node is kept raw by DecodeYAML and decoded later, strictly, into
// several structs at once, with its problems at their place in the file.
func TestNodeDecode(t *testing.T) {
	src := "mode: x\nparts:\n  a:\n    type: mail\n    every: 2m\n    host: h\n    port: 25\n  b: {type: mail, hots: h, port: 1.5}\n  c:\none: {host: z}\n"
	var f nodeFile
	if ps := DecodeYAML("f.yaml", []byte(src), &f); len(ps) > 0 {
		t.Fatalf("raw nodes must not be decoded yet: %v", ps)
	}
	if len(f.Parts) != 3 {
		t.Fatalf("parts %v", f.Parts)
	}

	common, own := nodeCommon{Every: time.Minute}, nodeOwn{Port: 587}
	if ps := f.Parts["a"].Decode("part a", &common, &own); len(ps) > 0 {
		t.Fatalf("part a: %v", ps)
	}
	if common != (nodeCommon{Type: "mail", Every: 2 * time.Minute}) || own.Host != "h" || own.Port != 25 {
		t.Errorf("part a decoded to %+v %+v", common, own)
	}

	common, own = nodeCommon{Every: time.Minute}, nodeOwn{Port: 587}
	ps := f.Parts["b"].Decode("part b", &common, &own)
	want := []string{
		`f.yaml:8:19: unknown key "hots" in part b (known keys: type, every, host, port, to)`,
		`f.yaml:8:34: port: "1.5" is not a whole number`,
	}
	if got := strings.Split(ps.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("part b problems:\n%s\nwant\n%s", ps.Error(), strings.Join(want, "\n"))
	}
	if common.Every != time.Minute || common.Type != "mail" {
		t.Errorf("an absent key lost its default: %+v", common)
	}

	// An empty value decodes as an empty mapping and is placed at its key.
	if ps := f.Parts["c"].Decode("part c", &common); len(ps) > 0 {
		t.Errorf("empty part: %v", ps)
	}
	if p := f.Parts["c"].Pos(); p.Line != 9 || p.Col != 3 {
		t.Errorf("empty part at %v, want its key at 9:3", p)
	}

	var zero Node
	if ps := zero.Decode("nothing", &common); ps != nil || zero.Has("type") {
		t.Error("the zero Node is a value that was not given")
	}
	if !f.One.Has("host") || f.One.Has("type") {
		t.Error("Has does not follow the mapping's keys")
	}
}

func TestNodeAt(t *testing.T) {
	src := "parts:\n  a:\n    host: h\n    to: [x, y]\n  b: {}\n"
	var f nodeFile
	if ps := DecodeYAML("f.yaml", []byte(src), &f); len(ps) > 0 {
		t.Fatal(ps)
	}
	for _, tc := range []struct {
		part string
		path []any
		want string
	}{
		{"a", []any{"host"}, "f.yaml:3:11: m\n        host: h\n              ^"},
		{"a", []any{"to", 1}, "f.yaml:4:13: m\n        to: [x, y]\n                ^"},
		// A missing key: the part's own key.
		{"a", []any{"type"}, "f.yaml:2:3: m\n      a:\n      ^"},
		{"b", []any{"type"}, "f.yaml:5:3: m\n      b: {}\n      ^"},
		// A missing step below an existing key: that key.
		{"a", []any{"to", 7}, "f.yaml:4:5: m"},
		{"a", nil, "f.yaml:3:5: m"},
	} {
		got := f.Parts[tc.part].At(tc.path, "m").Excerpt()
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s %v:\n%s\nwant\n%s", tc.part, tc.path, got, tc.want)
		}
	}
}

func TestNodeGet(t *testing.T) {
	var f nodeFile
	if ps := DecodeYAML("f.yaml", []byte("one:\n  host: [a]\n  port: 25\n"), &f); len(ps) > 0 {
		t.Fatal(ps)
	}
	var port int
	if ps := f.One.Get("port").DecodeValue("port", &port); len(ps) > 0 || port != 25 {
		t.Errorf("port %d, %v", port, ps)
	}
	var host string
	ps := f.One.Get("host").DecodeValue("host", &host)
	if len(ps) != 1 || ps[0].Error() != "f.yaml:2:9: host must be a single value" {
		t.Errorf("host: %v", ps)
	}
	missing := f.One.Get("type")
	if !missing.IsZero() || missing.DecodeValue("type", &host) != nil || f.One.IsZero() {
		t.Error("a missing key is the zero Node")
	}
	if p := f.One.Get("port").At(nil, "m"); p.Pos.Line != 3 || p.Pos.Col != 9 {
		t.Errorf("port at %v", p.Pos)
	}
}
