package engine

import (
	"reflect"
	"testing"
	"time"
)

type testChannel struct {
	Type string   `yaml:"type"`
	Port int      `yaml:"port"`
	To   []string `yaml:"to"`
}

type testConfig struct {
	Interval time.Duration          `yaml:"interval"`
	Mode     string                 `yaml:"mode"`
	Max      int64                  `yaml:"max"`
	Count    int                    `yaml:"count"`
	Ratio    float64                `yaml:"ratio"`
	On       bool                   `yaml:"on"`
	At       time.Time              `yaml:"at"`
	Dirs     []string               `yaml:"dirs"`
	Channels map[string]testChannel `yaml:"channels"`
	Opt      *testChannel           `yaml:"opt,omitempty"`
	Any      any                    `yaml:"any"`
	Ticks    uint64                 `yaml:"ticks"`
	Skip     string                 `yaml:"-"`
	Untagged string
	hidden   string
}

func TestDecodeYAML(t *testing.T) {
	src := `interval: 90s
mode: monitor
max: 512MiB
count: 0x10
ratio: 2
on: true
at: 2026-01-01T12:30:00.5+01:00
dirs: [/etc/ptrule/rules.d, /srv/rules]
channels:
  mail: &mail {type: email, port: 587, to: [ops@example.com]}
  copy: *mail
opt: {type: slack}
any: {a: [1, x]}
ticks: 18446744073709551615
`
	var c testConfig
	c.Skip, c.hidden = "kept", "kept"
	if ps := DecodeYAML("c.yaml", []byte(src), &c); len(ps) > 0 {
		t.Fatal(FormatError(ps))
	}
	mail := testChannel{Type: "email", Port: 587, To: []string{"ops@example.com"}}
	want := testConfig{
		Interval: 90 * time.Second, Mode: "monitor", Max: 512 << 20, Count: 16, Ratio: 2, On: true,
		At:       time.Date(2026, 1, 1, 11, 30, 0, 500_000_000, time.UTC),
		Dirs:     []string{"/etc/ptrule/rules.d", "/srv/rules"},
		Channels: map[string]testChannel{"mail": mail, "copy": mail},
		Opt:      &testChannel{Type: "slack"},
		Any:      map[string]any{"a": []any{1, "x"}},
		Ticks:    1<<64 - 1,
		Skip:     "kept", hidden: "kept",
	}
	if !c.At.Equal(want.At) {
		t.Errorf("at = %v, want %v", c.At, want.At)
	}
	c.At = want.At
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", c, want)
	}

	// Sizes take plain integers too; null leaves a pointer, list or map unset.
	var d testConfig
	if ps := DecodeYAML("c.yaml", []byte("max: 4096\nopt: null\ndirs: ~\nchannels:\n"), &d); len(ps) > 0 || d.Max != 4096 || d.Opt != nil || d.Dirs != nil || d.Channels != nil {
		t.Errorf("got %+v, %v", d, ps)
	}
	for _, size := range []struct {
		in   string
		want int64
	}{{"200MB", 200_000_000}, {"1.5GiB", 3 << 29}, {"1kb", 1000}, {"2 KiB", 2048}, {"7b", 7}, {"1TB", 1e12}, {"1TiB", 1 << 40}} {
		var d testConfig
		if ps := DecodeYAML("c.yaml", []byte("max: "+size.in+"\n"), &d); len(ps) > 0 || d.Max != size.want {
			t.Errorf("max: %s = %d (%v), want %d", size.in, d.Max, ps, size.want)
		}
	}

	// Empty files decode to nothing.
	for _, empty := range []string{"", "# just a comment\n", "---\n", "--- # nothing\n...\n"} {
		var e testConfig
		if ps := DecodeYAML("c.yaml", []byte(empty), &e); len(ps) > 0 || !reflect.DeepEqual(e, testConfig{}) {
			t.Errorf("%q: %+v %v", empty, e, ps)
		}
	}
}

func TestDecodeYAMLProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantProblem
	}{
		{"unknown key", "interval: 1m\nintervall: 2m\n", []wantProblem{{`c.yaml:2:1: unknown key "intervall" in the file (known keys: interval, mode, max, count, ratio, on, at, dirs, channels, opt, any, ticks)`, "intervall"}}},
		{"unknown nested key", "channels:\n  mail: {type: email, prot: 25}\n", []wantProblem{{`c.yaml:2:23: unknown key "prot" in channels.mail (known keys: type, port, to)`, "prot"}}},
		{"duplicate key", "mode: a\nmode: b\n", []wantProblem{{`c.yaml:2:1: duplicate key "mode" in the file`, "mode: b"}}},
		{"duplicate map key", "channels:\n  a: {}\n  a: {}\n", []wantProblem{{`c.yaml:3:3: duplicate key "a" in channels`, "a: {}"}}},
		{"bad duration", "interval: 1 minute\n", []wantProblem{{`c.yaml:1:11: interval: bad duration "1 minute": write a duration such as 90s, 10m or 2h`, "1 minute"}}},
		{"negative duration", "interval: -5s\n", []wantProblem{{`c.yaml:1:11: interval: bad duration "-5s": write a duration such as 90s, 10m or 2h`, "-5s"}}},
		{"duration as a number", "interval: 60\n", []wantProblem{{`c.yaml:1:11: interval: bad duration "60": write a duration such as 90s, 10m or 2h`, "60"}}},
		{"duration as a list", "interval: [1m]\n", []wantProblem{{`c.yaml:1:11: interval must be a duration such as 90s or 2h`, "[1m]"}}},
		{"bad size", "max: lots\n", []wantProblem{{`c.yaml:1:6: max: bad size "lots": write a number with an optional unit, like 4096, 200MB or 512MiB`, "lots"}}},
		{"size with a bad unit", "max: 5 parsecs\n", []wantProblem{{`c.yaml:1:6: max: bad size "5 parsecs": write a number with an optional unit, like 4096, 200MB or 512MiB`, "5 parsecs"}}},
		{"size too large", "max: 9000000TiB\n", []wantProblem{{`c.yaml:1:6: max: bad size "9000000TiB": too large`, "9000000TiB"}}},
		{"size as a fraction", "max: 1.5\n", []wantProblem{{`c.yaml:1:6: max: "1.5" is not a whole number`, "1.5"}}},
		{"int as a fraction", "count: 7.9\n", []wantProblem{{`c.yaml:1:8: count: "7.9" is not a whole number`, "7.9"}}},
		{"int as a word", "count: many\n", []wantProblem{{`c.yaml:1:8: count: "many" is not a whole number`, "many"}}},
		{"negative uint", "ticks: -1\n", []wantProblem{{`c.yaml:1:8: ticks: "-1" is not a whole number`, "-1"}}},
		{"float as a word", "ratio: half\n", []wantProblem{{`c.yaml:1:8: ratio: "half" is not a number`, "half"}}},
		{"bool as a word", "on: maybe\n", []wantProblem{{`c.yaml:1:5: on: "maybe" is not true or false`, "maybe"}}},
		{"string as a list", "mode: [a]\n", []wantProblem{{`c.yaml:1:7: mode must be a single value`, "[a]"}}},
		{"bad timestamp", "at: 2026-01-01 12:00\n", []wantProblem{{`c.yaml:1:5: at: bad timestamp "2026-01-01 12:00": write RFC 3339, like 2026-01-01T00:00:00Z`, "2026-01-01 12:00"}}},
		{"list as a scalar", "dirs: /etc\n", []wantProblem{{`c.yaml:1:7: dirs must be a list`, "/etc"}}},
		{"bad list entry", "dirs: [a, [b]]\n", []wantProblem{{`c.yaml:1:11: dirs entry must be a single value`, "[b]"}}},
		{"map as a list", "channels: [a]\n", []wantProblem{{`c.yaml:1:11: channels must be a mapping`, "[a]"}}},
		{"struct as a scalar", "opt: slack\n", []wantProblem{{`c.yaml:1:6: opt must be a mapping`, "slack"}}},
		{"file as a list", "- a\n", []wantProblem{{`c.yaml:1:1: the file must be a mapping`, "- a"}}},
		{"ignored field by name", "Skip: x\n", []wantProblem{{`c.yaml:1:1: unknown key "Skip" in the file (known keys: interval, mode, max, count, ratio, on, at, dirs, channels, opt, any, ticks)`, "Skip"}}},
		{"several problems", "mode: [x]\ncount: x\nnope: 1\n", []wantProblem{
			// Unknown keys of a mapping come first, then its values in order.
			{`c.yaml:3:1: unknown key "nope" in the file (known keys: interval, mode, max, count, ratio, on, at, dirs, channels, opt, any, ticks)`, "nope"},
			{`c.yaml:1:7: mode must be a single value`, "[x]"},
			{`c.yaml:2:8: count: "x" is not a whole number`, "x"},
		}},
		{"syntax error", "mode: [a\n", []wantProblem{{`c.yaml:1: invalid YAML: did not find expected ',' or ']'`, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			ps := DecodeYAML("c.yaml", []byte(tt.src), &c)
			checkProblems(t, []File{{Path: "c.yaml", Data: []byte(tt.src)}}, ps, tt.want)
		})
	}
}

func TestDecodeYAMLUnsupportedType(t *testing.T) {
	var v struct {
		C complex128 `yaml:"c"`
	}
	ps := DecodeYAML("c.yaml", []byte("c: 1\n"), &v)
	if len(ps) != 1 || ps[0].Error() != "c.yaml:1:4: c: cannot decode into complex128" {
		t.Errorf("got %v", ps)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "4096": 4096, "512MiB": 512 << 20, "200MB": 200_000_000, "1.5GiB": 3 << 29,
		" 2kib ": 2048, "3 MB": 3_000_000, "1K": 1000, "1M": 1_000_000, "1G": 1e9, "1T": 1e12,
		"1b": 1, "1B": 1, "0.5KiB": 512, "1.": 1, ".5k": 500, "8TiB": 8 << 40,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1..2", "1 2", "1XB", "1 KiBs", "1e9", "0x10", "NaN", "9223372036854775808", "8388608TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestDecodeBoolStrict checks that a boolean takes only true or false, as
// in rule files.
func TestDecodeBoolStrict(t *testing.T) {
	var v struct {
		On bool `yaml:"on"`
	}
	if ps := DecodeYAML("c.yaml", []byte("on: yes\n"), &v); len(ps) != 1 || ps[0].Error() != `c.yaml:1:5: on: "yes" is not true or false` {
		t.Errorf("got %v", ps)
	}
	if ps := DecodeYAML("c.yaml", []byte("on: true\n"), &v); len(ps) != 0 || !v.On {
		t.Errorf("got %v, %v", ps, v.On)
	}
}
