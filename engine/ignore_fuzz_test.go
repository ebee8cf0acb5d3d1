package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseIgnore(f *testing.F) {
	for _, s := range []string{
		"",
		"exe:/usr/sbin/sshd\n",
		"  EXE : /usr/sbin/sshd  \r\n# comment\n\ncmd:spamd child\n",
		"pexe:^/usr/lib/jvm/java-.*/jre/bin/java$\npcmd:a|b\npuser:bob\\d+\n",
		"unit:php*-fpm.service\nunit:ssh.service\nunit:[\n",
		"exx:1\nexe:\nnothing\n:x\npexe:(\n",
		"Include other.pignore\ninclude\tself.pignore\nInclude:/x\nInclude\n",
		"exe:/opt/Include/bin/x\n",
		"exe:/a\rexe:/b\n",
		"user:\u00e9t\u00e9\n\u2028exe:/x\u0085\n",
		"pcmd:a)(b\npcmd:(?i)FOO\npcmd:\\\n",
		"# ptrule: reason=\"x y\" owner=ops expires=2020-01-01\nexe:/x\n# ptrule: bad\n\n",
	} {
		f.Add(s)
	}
	if src, err := os.ReadFile(filepath.Join("testdata", "ignore", "csf.pignore")); err == nil {
		f.Add(string(src))
	}

	// Every include target reads the fuzzed text again, so Include lines
	// exercise loops and depth limits.
	f.Fuzz(func(t *testing.T, src string) {
		readFile := func(string) ([]byte, error) { return []byte(src), nil }
		l, probs := ParseIgnore("f.pignore", []byte(src), 1, readFile)
		if l == nil {
			t.Fatal("nil list")
		}
		for _, p := range probs {
			if p.Pos.File == "" || p.Pos.Line <= 0 || p.Pos.Col < 0 {
				t.Fatalf("bad problem position %#v: %v", p.Pos, p)
			}
			if p.Msg == "" {
				t.Fatalf("empty message at %v", p.Pos)
			}
			_ = p.Excerpt()
		}
		items := map[string]bool{"exe": true, "cmd": true, "user": true, "pexe": true, "pcmd": true, "puser": true, "unit": true}
		for _, e := range l.Entries() {
			if e.Value == "" || !items[e.Item] {
				t.Fatalf("bad entry %#v", e)
			}
			if e.Value != strings.TrimSpace(e.Value) {
				t.Fatalf("untrimmed value %q", e.Value)
			}
			if e.Pos.File == "" || e.Pos.Line <= 0 {
				t.Fatalf("bad entry position %#v", e)
			}
			// An entry matches a process built from its own value
			// (regexes and globs may or may not), and Ignored agrees
			// with Match.
			p := Process{User: e.Value, Exe: e.Value, Cmd: e.Value, Unit: e.Value}
			m, ok := l.Match(&p)
			if ok != l.Ignored(&p) {
				t.Fatalf("Match and Ignored disagree on %+v", p)
			}
			switch e.Item {
			case "exe", "cmd", "user":
				if !ok {
					t.Fatalf("%v does not match its own value", e)
				}
			}
			if ok && m.Value == "" {
				t.Fatalf("matched empty entry %#v", m)
			}
			p.ExeDeleted = true
			if m, ok := l.Match(&p); ok && (m.Item == "exe" || m.Item == "pexe") {
				t.Fatalf("%v hides a deleted executable", m)
			}
			if m, ok := l.MatchUser(e.Value); ok && m.Item != "user" && m.Item != "puser" {
				t.Fatalf("MatchUser returned %v", m)
			} else if !ok && e.Item == "user" {
				t.Fatalf("MatchUser misses %v", e)
			}
		}
		if l.Ignored(&Process{}) {
			// Only a regex matching the empty string can hide an empty
			// process; a literal or unit entry never does.
			m, _ := l.Match(&Process{})
			if m.Item != "pexe" && m.Item != "pcmd" && m.Item != "puser" {
				t.Fatalf("%v hides an empty process", m)
			}
		}
	})
}
