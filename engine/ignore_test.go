package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var _ IgnoreMatcher = (*IgnoreList)(nil)

// parseIgnoreOK parses src as t.pignore and fails the test on any problem.
func parseIgnoreOK(t *testing.T, src string) *IgnoreList {
	t.Helper()
	l, probs := ParseIgnore("t.pignore", []byte(src), 1, nil)
	if len(probs) > 0 {
		t.Fatalf("ParseIgnore(%q): unexpected problems:\n%s", src, FormatError(probs))
	}
	return l
}

// mapFiles is a readFile over an in-memory set of files.
func mapFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

func problemTexts(ps Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

func TestIgnoreMatchItems(t *testing.T) {
	sshd := Process{PID: 10, User: "root", Exe: "/usr/sbin/sshd", Cmd: "sshd: /usr/sbin/sshd -D", Unit: "ssh.service"}
	fpm := Process{PID: 11, User: "alice", Exe: "/opt/remi/php83/root/usr/sbin/php-fpm", Cmd: "php-fpm: pool www", Unit: "php83-php-fpm.service"}
	noUnit := Process{PID: 12, User: "bob", Exe: "/usr/bin/bash", Cmd: "-bash"}
	deleted := Process{PID: 13, User: "mallory", Exe: "/tmp/x", ExeDeleted: true, Cmd: "x --run", Unit: "evil.service"}
	// A program bind-mounted over a listed path in a namespace of its own.
	spoofed := Process{PID: 14, User: "mallory", Exe: "/usr/bin/dbus-daemon", ExeMismatch: true, Cmd: "dbus-daemon --system", Unit: "evil.service"}

	tests := []struct {
		name string
		src  string
		proc Process
		want bool
	}{
		{"exe equal", "exe:/usr/sbin/sshd", sshd, true},
		{"exe other", "exe:/usr/sbin/sshd", fpm, false},
		{"exe prefix is not equal", "exe:/usr/sbin/ssh", sshd, false},
		{"exe case-sensitive value", "exe:/USR/sbin/sshd", sshd, false},
		{"cmd equal", "cmd:sshd: /usr/sbin/sshd -D", sshd, true},
		{"cmd partial", "cmd:sshd:", sshd, false},
		{"user equal", "user:alice", fpm, true},
		{"user other", "user:alice", sshd, false},
		{"pexe", `pexe:/opt/remi/php\d+/root/usr/sbin/php-fpm`, fpm, true},
		{"pexe miss", `pexe:/opt/remi/php\d+/root/usr/sbin/php`, fpm, false},
		{"pcmd", `pcmd:php-fpm: pool \w+`, fpm, true},
		{"pcmd miss", `pcmd:php-fpm`, fpm, false},
		{"puser", `puser:al.*`, fpm, true},
		{"puser miss", `puser:al`, fpm, false},
		{"unit exact", "unit:ssh.service", sshd, true},
		{"unit glob", "unit:php*-fpm.service", fpm, true},
		{"unit glob class", "unit:php[0-9][0-9]-php-fpm.service", fpm, true},
		{"unit glob miss", "unit:php*-fpm.service", sshd, false},
		{"unit star never matches empty unit", "unit:*", noUnit, false},
		{"unit star", "unit:*", sshd, true},
		{"upper-case item", "EXE:/usr/sbin/sshd", sshd, true},
		{"mixed-case item", "PCmd:php-fpm.*", fpm, true},
		{"space around item", "  exe :/usr/sbin/sshd", sshd, true},
		{"space inside item", "p e x e:/usr/sbin/.*", sshd, true},
		{"tab before value (Q8)", "exe:\t/usr/sbin/sshd", sshd, true},
		{"space around value (Q8)", "exe:  /usr/sbin/sshd   ", sshd, true},
		{"value keeps inner space", "cmd: php-fpm: pool www ", fpm, true},
		{"CRLF", "exe:/usr/sbin/sshd\r\n", sshd, true},
		{"hash inside value is text", "cmd:-bash # login", noUnit, false},
		{"comment line", "#exe:/usr/sbin/sshd", sshd, false},
		{"indented comment", "   # exe:/usr/sbin/sshd", sshd, false},
		{"value with Include (Q7)", "exe:/opt/Include/bin/x", Process{Exe: "/opt/Include/bin/x"}, true},
		{"cmd with Include (Q7)", "cmd:make Include all", Process{Cmd: "make Include all"}, true},
		{"deleted: exe blind", "exe:/tmp/x", deleted, false},
		{"deleted: pexe blind", "pexe:/tmp/.*", deleted, false},
		{"deleted: pexe dot-star blind", "pexe:.*", deleted, false},
		{"deleted: cmd hides", "cmd:x --run", deleted, true},
		{"deleted: pcmd hides", "pcmd:x .*", deleted, true},
		{"deleted: user hides", "user:mallory", deleted, true},
		{"deleted: puser hides", "puser:mall.*", deleted, true},
		{"deleted: unit hides", "unit:evil.service", deleted, true},
		{"deleted: unit glob hides", "unit:evil*", deleted, true},
		{"mismatch: exe blind", "exe:/usr/bin/dbus-daemon", spoofed, false},
		{"mismatch: pexe blind", "pexe:/usr/bin/.*", spoofed, false},
		{"mismatch: pexe dot-star blind", "pexe:.*", spoofed, false},
		{"mismatch: cmd hides", "cmd:dbus-daemon --system", spoofed, true},
		{"mismatch: user hides", "user:mallory", spoofed, true},
		{"mismatch: unit hides", "unit:evil.service", spoofed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := parseIgnoreOK(t, tt.src)
			p := tt.proc
			e, got := l.Match(&p)
			if got != tt.want {
				t.Fatalf("Match(%+v) with %q = %v (%v), want %v", p, tt.src, got, e, tt.want)
			}
			if ig := l.Ignored(&p); ig != tt.want {
				t.Fatalf("Ignored = %v, want %v", ig, tt.want)
			}
			if got && (e.Pos.File != "t.pignore" || e.Pos.Line != 1) {
				t.Errorf("entry pos = %v, want t.pignore:1", e.Pos)
			}
		})
	}
}

func TestIgnoreEntryFields(t *testing.T) {
	l := parseIgnoreOK(t, "\n  EXE : /usr/sbin/sshd  \r\n# c\n\npuser:bob\\d+\n")
	got := l.Entries()
	want := []IgnoreEntry{
		{Pos: Pos{File: "t.pignore", Line: 2, Col: 9}, Item: "exe", Value: "/usr/sbin/sshd"},
		{Pos: Pos{File: "t.pignore", Line: 5, Col: 7}, Item: "puser", Value: `bob\d+`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("entries = %#v\nwant %#v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %#v, want %#v", i, got[i], want[i])
		}
	}
	if s := got[0].String(); s != "t.pignore:2: exe:/usr/sbin/sshd" {
		t.Errorf("String() = %q", s)
	}
	if l.Len() != 2 {
		t.Errorf("Len = %d, want 2", l.Len())
	}
}

func TestIgnoreRegexAnchoring(t *testing.T) {
	l := parseIgnoreOK(t, "pcmd:a|b")
	for cmd, want := range map[string]bool{"a": true, "b": true, "xb": false, "ax": false, "ab": false, "": false} {
		if got := l.Ignored(&Process{Cmd: cmd}); got != want {
			t.Errorf("pcmd:a|b on %q = %v, want %v", cmd, got, want)
		}
	}
	// Anchors written by the user are harmless (the shipped csf.pignore has them).
	l = parseIgnoreOK(t, `pexe:^/usr/lib/jvm/java-.*/jre/bin/java$`)
	if !l.Ignored(&Process{Exe: "/usr/lib/jvm/java-11/jre/bin/java"}) {
		t.Error("anchored pexe does not match")
	}
	if l.Ignored(&Process{Exe: "/x/usr/lib/jvm/java-11/jre/bin/java"}) {
		t.Error("anchored pexe matches a longer path")
	}
	// A regex that only compiles once wrapped must be refused, not
	// turned into something else.
	if _, probs := ParseIgnore("t.pignore", []byte("pcmd:a)(b"), 1, nil); len(probs) != 1 {
		t.Errorf("pcmd:a)(b: problems = %v, want one", probs)
	}
}

func TestIgnoreParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown item", "exe:/bin/a\n  exx:/bin/b\n", []string{
			`t.pignore:2:3: unknown item "exx": use exe, cmd, user, pexe, pcmd, puser or unit`}},
		{"unknown item lower-cased", "Path:/bin/b", []string{
			`t.pignore:1:1: unknown item "path": use exe, cmd, user, pexe, pcmd, puser or unit`}},
		{"no colon", "/usr/sbin/sshd", []string{
			`t.pignore:1:1: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`}},
		{"missing item", " :/bin/x", []string{
			`t.pignore:1:2: missing item before ":": use exe, cmd, user, pexe, pcmd, puser or unit`}},
		{"empty value", "exe:", []string{
			`t.pignore:1:5: empty value after "exe:": give the executable path to ignore, or remove the line`}},
		{"blank value", "user :   \r\n", []string{
			`t.pignore:1:7: empty value after "user:": give the user name to ignore, or remove the line`}},
		{"empty regex", "pcmd:", []string{
			`t.pignore:1:6: empty value after "pcmd:": give the regex to ignore, or remove the line`}},
		{"bad regex", "pexe: /opt/(x", []string{
			"t.pignore:1:7: bad regex in pexe: error parsing regexp: missing closing ): `/opt/(x`: use RE2 syntax (no look-around or back-references)"}},
		{"perl look-ahead", "pcmd:foo(?!bar)", []string{
			"t.pignore:1:6: bad regex in pcmd: error parsing regexp: invalid or unsupported Perl syntax: `(?!`: use RE2 syntax (no look-around or back-references)"}},
		{"bad glob", "unit:php[-fpm.service", []string{
			`t.pignore:1:6: bad glob "php[-fpm.service": use *, ? and [...] as in php*-fpm.service`}},
		{"include with colon", "Include:/etc/x", []string{
			`t.pignore:1:1: Include takes its file after a space, not a colon: write Include PATH`}},
		{"include without file", "Include  ", []string{
			`t.pignore:1:1: Include needs a file: write Include PATH`}},
		{"include not allowed", "Include other.pignore", []string{
			`t.pignore:1:9: Include is not allowed here: list the entries themselves`}},
		{"stray CR", "exe:/bin/a\rexe:/bin/b", []string{
			`t.pignore:1:11: stray carriage return: save the file with LF or CRLF line endings`}},
		{"several", "exx:1\nexe:/ok\n\ncmd:\nnothing\n", []string{
			`t.pignore:1:1: unknown item "exx": use exe, cmd, user, pexe, pcmd, puser or unit`,
			`t.pignore:4:5: empty value after "cmd:": give the command line to ignore, or remove the line`,
			`t.pignore:5:1: no ":" in line: write item:value and use exe, cmd, user, pexe, pcmd, puser or unit`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := ParseIgnore("t.pignore", []byte(tt.src), 1, nil)
			got := problemTexts(probs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, p := range probs {
				if p.Source == "" {
					t.Errorf("%v: no source line", p)
				}
			}
		})
	}
}

func TestIgnoreBadRegexExcerpt(t *testing.T) {
	_, probs := ParseIgnore("/etc/ptrule/web.pignore", []byte("exe:/usr/sbin/sshd\n\tpcmd:  php-fpm: (pool\n"), 1, nil)
	if len(probs) != 1 {
		t.Fatalf("problems = %v, want one", probs)
	}
	want := "/etc/ptrule/web.pignore:2:9: bad regex in pcmd: error parsing regexp: missing closing ): `php-fpm: (pool`: use RE2 syntax (no look-around or back-references)\n" +
		"     pcmd:  php-fpm: (pool\n" +
		"            ^"
	if got := probs[0].Excerpt(); got != want {
		t.Errorf("Excerpt:\n%s\nwant:\n%s", got, want)
	}
	if got := FormatError(probs.Err()); got != want {
		t.Errorf("FormatError:\n%s\nwant:\n%s", got, want)
	}
}

func TestIgnoreKeepsRestAfterBadLine(t *testing.T) {
	src := "exe:/bin/one\nexx:/bin/bad\npexe:(\ncmd:two\nunit:[\nuser:three\n"
	l, probs := ParseIgnore("t.pignore", []byte(src), 1, nil)
	if len(probs) != 3 {
		t.Fatalf("problems = %v, want 3", probs)
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (%v)", l.Len(), l.Entries())
	}
	for _, p := range []Process{{Exe: "/bin/one"}, {Cmd: "two"}, {User: "three"}} {
		if !l.Ignored(&p) {
			t.Errorf("%+v not ignored", p)
		}
	}
	if e, _ := l.Match(&Process{User: "three"}); e.Pos.Line != 6 {
		t.Errorf("user:three at line %d, want 6", e.Pos.Line)
	}
}

func TestIgnoreFirstLine(t *testing.T) {
	l, probs := ParseIgnore("fixture.yaml", []byte("exe:/bin/a\nbogus\n"), 12, nil)
	if got := problemTexts(probs); len(got) != 1 || !strings.HasPrefix(got[0], "fixture.yaml:13:1: ") {
		t.Errorf("problems = %q, want one at fixture.yaml:13:1", got)
	}
	if e := l.Entries(); len(e) != 1 || e[0].Pos.Line != 12 {
		t.Errorf("entries = %v, want one at line 12", e)
	}
	// Below 1 counts as 1.
	_, probs = ParseIgnore("x", []byte("bogus"), 0, nil)
	if len(probs) != 1 || probs[0].Pos.Line != 1 {
		t.Errorf("firstLine 0: problems = %v", probs)
	}
}

func TestIgnoreFirstInFileOrder(t *testing.T) {
	src := strings.Join([]string{
		`pcmd:.*worker.*`,      // 1
		`exe:/usr/bin/php`,     // 2
		`user:www`,             // 3
		`pexe:/usr/bin/p.*`,    // 4
		`exe:/usr/bin/php`,     // 5 duplicate
		`unit:php-fpm.service`, // 6
		`unit:php*`,            // 7
	}, "\n")
	l := parseIgnoreOK(t, src)
	tests := []struct {
		proc Process
		line int
	}{
		{Process{Exe: "/usr/bin/php", Cmd: "php worker.php", User: "www"}, 1},
		{Process{Exe: "/usr/bin/php", Cmd: "php x.php", User: "www"}, 2},
		{Process{Exe: "/usr/bin/perl", Cmd: "perl", User: "www"}, 3},
		{Process{Exe: "/usr/bin/perl", Cmd: "perl", User: "bob"}, 4},
		{Process{Exe: "/usr/bin/php", ExeDeleted: true, Cmd: "php", User: "bob", Unit: "php-fpm.service"}, 6},
		{Process{Exe: "/usr/bin/php", ExeDeleted: true, Cmd: "php", User: "bob", Unit: "php83.service"}, 7},
		{Process{Exe: "/usr/bin/php", ExeDeleted: true, Cmd: "php", User: "bob"}, 0},
	}
	for _, tt := range tests {
		e, ok := l.Match(&tt.proc)
		got := 0
		if ok {
			got = e.Pos.Line
		}
		if got != tt.line {
			t.Errorf("Match(%+v) = line %d (%v), want line %d", tt.proc, got, e, tt.line)
		}
		if l.Ignored(&tt.proc) != (tt.line != 0) {
			t.Errorf("Ignored(%+v) disagrees with Match", tt.proc)
		}
	}
}

func TestIgnoreMatchUser(t *testing.T) {
	l := parseIgnoreOK(t, "exe:/usr/sbin/nscd\ncmd:nobody\npuser:sys.*\nuser:www\nuser:sysadmin\n")
	tests := []struct {
		name string
		line int
	}{
		{"www", 4},
		{"sysadmin", 3}, // the puser: entry comes first
		{"sys", 3},
		{"nobody", 0}, // cmd: entries are not user entries
		{"/usr/sbin/nscd", 0},
		{"", 0},
		{"xsys", 0},
	}
	for _, tt := range tests {
		e, ok := l.MatchUser(tt.name)
		got := 0
		if ok {
			got = e.Pos.Line
		}
		if got != tt.line {
			t.Errorf("MatchUser(%q) = line %d (%v), want %d", tt.name, got, e, tt.line)
		}
	}
	var nilList *IgnoreList
	if _, ok := nilList.MatchUser("www"); ok {
		t.Error("nil list matches a user")
	}
}

func TestIgnoreInclude(t *testing.T) {
	name := filepath.Join("testdata", "ignore", "main.pignore")
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	readFile := func(p string) ([]byte, error) {
		read = append(read, p)
		return os.ReadFile(p)
	}
	l, probs := ParseIgnore(name, src, 1, readFile)
	if len(probs) > 0 {
		t.Fatalf("problems:\n%s", FormatError(probs))
	}
	wantRead := []string{
		filepath.Join("testdata", "ignore", "sub", "extra.pignore"),
		filepath.Join("testdata", "ignore", "leaf.pignore"),
	}
	if strings.Join(read, ",") != strings.Join(wantRead, ",") {
		t.Errorf("read %q, want %q", read, wantRead)
	}
	var got []string
	for _, e := range l.Entries() {
		got = append(got, e.String())
	}
	want := []string{
		"testdata/ignore/main.pignore:2: exe:/usr/sbin/sshd",
		"testdata/ignore/sub/extra.pignore:1: pexe:/opt/app/bin/.*",
		"testdata/ignore/leaf.pignore:1: user:leafuser",
		"testdata/ignore/main.pignore:4: cmd:spamd child",
	}
	if strings.Join(got, "\n") != filepath.FromSlash(strings.Join(want, "\n")) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !l.Ignored(&Process{Exe: "/opt/app/bin/server"}) || !l.Ignored(&Process{User: "leafuser"}) {
		t.Error("included entries do not match")
	}
}

func TestIgnoreIncludeErrors(t *testing.T) {
	dir := filepath.Join("testdata", "ignore")
	tests := []struct {
		file    string
		want    []string
		entries int
	}{
		{"loop-a.pignore", []string{
			"testdata/ignore/loop-b.pignore:2:9: Include loop testdata/ignore/loop-a.pignore -> testdata/ignore/loop-b.pignore -> testdata/ignore/loop-a.pignore: remove one of these Include lines",
		}, 2},
		{"self.pignore", []string{
			"testdata/ignore/self.pignore:2:9: Include loop testdata/ignore/self.pignore -> testdata/ignore/self.pignore: remove one of these Include lines",
		}, 1},
		{"missing.pignore", []string{
			"testdata/ignore/missing.pignore:2:9: cannot read included file: open testdata/ignore/nothing-here.pignore: no such file or directory: fix the path or remove the line",
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			name := filepath.Join(dir, tt.file)
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			l, probs := ParseIgnore(name, src, 1, os.ReadFile)
			got := problemTexts(probs)
			if strings.Join(got, "\n") != filepath.FromSlash(strings.Join(tt.want, "\n")) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if l.Len() != tt.entries {
				t.Errorf("Len = %d, want %d", l.Len(), tt.entries)
			}
		})
	}
}

func TestIgnoreIncludeInMemory(t *testing.T) {
	files := map[string]string{
		"/etc/ptrule/ignore.d/b.pignore":      "Include ../../shared/c.pignore\n",
		"/etc/shared/c.pignore":               "user:carol\n",
		"/etc/ptrule/abs.pignore":             "exe:/bin/abs\n",
		"/etc/ptrule/ignore.d/deep/x.pignore": "Include ../b.pignore\n",
	}
	src := "INCLUDE\tignore.d/b.pignore\ninclude /etc/ptrule/abs.pignore\nInclude ignore.d/deep/x.pignore\n"
	l, probs := ParseIgnore("/etc/ptrule/main.pignore", []byte(src), 1, mapFiles(files))
	if len(probs) > 0 {
		t.Fatalf("problems:\n%s", FormatError(probs))
	}
	var got []string
	for _, e := range l.Entries() {
		got = append(got, e.String())
	}
	// A file included twice without a loop (a diamond) is read twice;
	// duplicates are harmless.
	want := "/etc/shared/c.pignore:1: user:carol\n/etc/ptrule/abs.pignore:1: exe:/bin/abs\n/etc/shared/c.pignore:1: user:carol"
	if strings.Join(got, "\n") != want {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}

	// An Include chain that never repeats a name is cut at a fixed depth.
	deep := func(p string) ([]byte, error) { return []byte("exe:/x\nInclude sub/next.pignore\n"), nil }
	_, probs = ParseIgnore("top.pignore", []byte("Include a.pignore\n"), 1, deep)
	if len(probs) != 1 || !strings.Contains(probs[0].Msg, "nested more than") {
		t.Errorf("deep includes: problems = %v", probs)
	}

	// Include lines that multiply are cut at a fixed number of files.
	wide := func(p string) ([]byte, error) {
		return []byte("Include a/x.pignore\nInclude b/x.pignore\nInclude c/x.pignore\n"), nil
	}
	_, probs = ParseIgnore("top.pignore", []byte("Include x.pignore\n"), 1, wide)
	if len(probs) == 0 || !strings.Contains(probs[0].Msg, "nested more than") {
		t.Errorf("wide includes: first problem = %v", probs)
	}
	if !strings.Contains(probs.Error(), "more than 1000 included files") {
		t.Errorf("wide includes: no file limit among %d problems", len(probs))
	}

	// readFile errors are reported at the Include line.
	boom := func(string) ([]byte, error) { return nil, errors.New("permission denied") }
	_, probs = ParseIgnore("top.pignore", []byte("exe:/a\n  Include secret.pignore\n"), 1, boom)
	if got := problemTexts(probs); len(got) != 1 || got[0] != "top.pignore:2:11: cannot read included file: permission denied: fix the path or remove the line" {
		t.Errorf("problems = %q", got)
	}
}

func TestIgnoreAppend(t *testing.T) {
	a := parseIgnoreOK(t, "exe:/bin/a\npcmd:job.*\nuser:u\n")
	b, _ := ParseIgnore("b.pignore", []byte("exe:/bin/b\nexe:/bin/a\ncmd:jobx\nunit:b*.service\nuser:u\n"), 1, nil)
	a.Append(b)
	a.Append(nil)
	if a.Len() != 8 {
		t.Fatalf("Len = %d, want 8", a.Len())
	}
	tests := []struct {
		proc Process
		want string
	}{
		{Process{Exe: "/bin/a"}, "t.pignore:1: exe:/bin/a"},
		{Process{Exe: "/bin/b"}, "b.pignore:1: exe:/bin/b"},
		{Process{Cmd: "jobx"}, "t.pignore:2: pcmd:job.*"},
		{Process{Unit: "b1.service"}, "b.pignore:4: unit:b*.service"},
		{Process{User: "u"}, "t.pignore:3: user:u"},
	}
	for _, tt := range tests {
		e, ok := a.Match(&tt.proc)
		if !ok || e.String() != tt.want {
			t.Errorf("Match(%+v) = %v %v, want %s", tt.proc, e, ok, tt.want)
		}
	}

	var zero IgnoreList
	zero.Append(b)
	if e, ok := zero.Match(&Process{Unit: "b.service"}); !ok || e.Pos.Line != 4 {
		t.Errorf("zero list after Append: %v %v", e, ok)
	}

	var nilList *IgnoreList
	nilList.Append(b) // no panic
	if nilList.Len() != 0 || nilList.Ignored(&Process{Exe: "/bin/b"}) || nilList.Entries() != nil {
		t.Error("nil list is not empty")
	}
	if _, ok := nilList.Match(&Process{Exe: "/bin/b"}); ok {
		t.Error("nil list matches")
	}
	if b.Ignored(nil) {
		t.Error("nil process ignored")
	}
}

func TestIgnoreCsfDefaults(t *testing.T) {
	name := filepath.Join("testdata", "ignore", "csf.pignore")
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	l, probs := ParseIgnore(name, src, 1, os.ReadFile)
	if len(probs) > 0 {
		t.Fatalf("the shipped csf.pignore does not load:\n%s", FormatError(probs))
	}
	if l.Len() != 28 {
		t.Errorf("Len = %d, want 28", l.Len())
	}
	for _, p := range []Process{
		{Exe: "/usr/lib/apt/methods/http"}, // shipped with a trailing space
		{Exe: "/usr/lib/jvm/java-17-openjdk/jre/bin/java"},
		{Exe: "/usr/local/cpanel/3rdparty/bin/git-upload-pack"},
		{Exe: "/usr/sbin/exim"},
	} {
		if !l.Ignored(&p) {
			t.Errorf("%s not ignored", p.Exe)
		}
	}
	for _, p := range []Process{
		{Exe: "/usr/sbin/sshd", ExeDeleted: true},
		{Exe: "/usr/bin/perl", Cmd: "spamd child"}, // commented out
		{Exe: "/usr/local/cpanel/3rdparty/bin/git", ExeDeleted: true},
	} {
		if l.Ignored(&p) {
			t.Errorf("%+v ignored", p)
		}
	}
}

func TestIgnoreViewCounts(t *testing.T) {
	l := parseIgnoreOK(t, "exe:/usr/sbin/httpd\n")
	s := NewView(NewSnapshot(t0, Host{}, Load{}, []Process{
		{PID: 1, UID: 48, User: "apache", Exe: "/usr/sbin/httpd"},
		{PID: 2, UID: 48, User: "apache", Exe: "/usr/sbin/httpd", ExeDeleted: true},
		{PID: 3, UID: 48, User: "apache", Exe: "/usr/bin/perl"},
	}), l)
	u := s.UserOf(48)
	if u == nil || u.Count != 2 || u.CountAll != 3 {
		t.Fatalf("user = %+v, want Count 2 of 3", u)
	}
}

func BenchmarkIgnoreMatch(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("testdata", "ignore", "csf.pignore"))
	if err != nil {
		b.Fatal(err)
	}
	l, _ := ParseIgnore("csf.pignore", src, 1, nil)
	p := &Process{User: "alice", Exe: "/home/alice/bin/miner", Cmd: "./miner --pool x", Unit: "user@1000.service"}
	b.ReportAllocs()
	for b.Loop() {
		if l.Ignored(p) {
			b.Fatal("ignored")
		}
	}
}
