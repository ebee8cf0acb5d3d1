package csf

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ptrule/engine"
	rules "ptrule/rules.d"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", p, got)
	}
}

// TestShippedGolden imports csf's shipped csf.conf and generic csf.pignore:
// the report, the patch and the ignore list are the golden files, and the
// files load with the default rules without a problem.
func TestShippedGolden(t *testing.T) {
	conf, err := os.ReadFile("testdata/shipped.conf")
	if err != nil {
		t.Fatal(err)
	}
	pignore, err := os.ReadFile("testdata/shipped.pignore")
	if err != nil {
		t.Fatal(err)
	}
	conv := Convert(ParseConf("/etc/csf/csf.conf", conf), "/etc/csf/csf.conf")
	ign := ConvertIgnore("/etc/csf/csf.pignore", pignore, nil)
	golden(t, "shipped.report", Report(conv, ign))
	golden(t, "shipped.50-csf.yaml", string(conv.Patch))
	golden(t, "shipped.50-csf.pignore", string(ign.List))
	if ign.Entries != 31 {
		t.Errorf("%d entries, want the 31 of csf's generic list", ign.Entries)
	}
	loads(t, conv.Patch, ign.List)
}

// loads fails t unless the patch and ignore list load with the default
// rules without a problem, as `ptrule check` would load them.
func loads(t testing.TB, patch, ignore []byte) {
	t.Helper()
	base, err := rules.Files()
	if err != nil {
		t.Fatal(err)
	}
	files := append(base, engine.File{Path: "50-csf.yaml", Data: patch})
	if ignore != nil {
		files = append(files, engine.File{Path: "50-csf.pignore", Data: ignore})
	}
	if _, ps := engine.LoadRules(files); len(ps) > 0 {
		t.Fatalf("does not load: %v\npatch:\n%s\nignore list:\n%s", ps, patch, ignore)
	}
}

func TestParseConf(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		problems []string
	}{
		{"csf's own layout", "# comment\n\nPT_LIMIT = \"60\"\n", map[string]string{"PT_LIMIT": "60"}, nil},
		{"no spaces, tabs and CRLF", "PT_LIMIT=\"60\"\r\n\tPT_USERMEM\t=\t\"1024\"\r\n", map[string]string{"PT_LIMIT": "60", "PT_USERMEM": "1024"}, nil},
		{"the last setting wins", "PT_LIMIT = \"60\"\nPT_LIMIT = \"120\"\n", map[string]string{"PT_LIMIT": "120"}, nil},
		{"a # inside the value is part of it", `PT_APACHESTATUS = "http://x/#a" # note`, map[string]string{"PT_APACHESTATUS": "http://x/#a"}, nil},
		{"the value runs to the last quote", `PT_USER_ACTION = "/bin/a "b""`, map[string]string{"PT_USER_ACTION": `/bin/a "b"`}, nil},
		{"an empty value", `PT_DELETED_ACTION = ""`, map[string]string{"PT_DELETED_ACTION": ""}, nil},
		{"a line without =", "PT_LIMIT 60\nPT_LOAD = \"30\"\n", map[string]string{"PT_LOAD": "30"}, []string{"c:1: not a NAME"}},
		{"a value without quotes", "PT_LIMIT = 60\n", map[string]string{}, []string{"c:1: not a NAME = \"value\" line (the value needs double quotes)"}},
		{"one quote", "PT_LIMIT = \"60\n", map[string]string{}, []string{"c:1: not a NAME"}},
		{"no name", "= \"60\"\n", map[string]string{}, []string{"c:1: not a NAME"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ParseConf("c", []byte(tc.in))
			got := map[string]string{}
			for k, s := range c.Settings {
				got[k] = s.Value
			}
			if len(got) != len(tc.want) {
				t.Errorf("settings %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(c.Problems) != len(tc.problems) {
				t.Fatalf("problems %v, want %v", c.Problems, tc.problems)
			}
			for i, p := range c.Problems {
				if !strings.HasPrefix(p.String(), tc.problems[i]) {
					t.Errorf("problem %q, want it to start with %q", p, tc.problems[i])
				}
			}
		})
	}
}

// TestConvertReport checks single directives: what the patch says, what
// the report says, and what could not be converted, with its line.
func TestConvertReport(t *testing.T) {
	tests := []struct {
		name, conf string
		patch      []string // lines the patch holds
		notPatch   []string // text the patch must not hold
		report     []string // lines the report holds
	}{
		{name: "PT_SSHDKILL has no equivalent", conf: `PT_SSHDKILL = "1"`,
			report: []string{`c:1: PT_SSHDKILL = "1" -> not carried: ptrule does not block login failures`}},
		{name: "GENERIC and PT_ALL_USERS are not needed", conf: "GENERIC = \"1\"\nPT_ALL_USERS = \"0\"",
			report: []string{`c:1: GENERIC = "1" -> not needed`, `c:2: PT_ALL_USERS = "0" -> not needed`}},
		{name: "an unknown PT_ directive", conf: `PT_SOMETHING = "1"`,
			report: []string{`c:1: PT_SOMETHING = "1" -> not carried: not a Process Tracking directive ptrule knows`}},
		{name: "other directives are ignored", conf: `TCP_IN = "22,80"`, notPatch: []string{"TCP_IN"}, report: []string{"no Process Tracking directive set"}},
		{name: "a number that is not one", conf: "PT_USERMEM = \"lots\"",
			notPatch: []string{"vmsize"},
			report:   []string{`could not import:`, `c:1: PT_USERMEM = "lots": not a number of MB; ptrule's default is kept`}},
		{name: "an empty number is 0, as Perl reads it", conf: `PT_USERPROC = ""`,
			patch: []string{`      max: 0                         # PT_USERPROC = ""`}},
		{name: "sizes are MiB, 0 is off", conf: "PT_USERMEM = \"0\"\nPT_USERRSS = \"300\"",
			patch: []string{`      vmsize: "0"                    # PT_USERMEM = "0"`, `      rss: 300MiB                    # PT_USERRSS = "300"`}},
		{name: "an action with arguments needs a script", conf: `PT_LOAD_ACTION = "/bin/echo hi"`,
			notPatch: []string{"action"},
			report:   []string{`c:1: PT_LOAD_ACTION = "/bin/echo hi": ptrule runs an action as the absolute path of a program, without a shell`}},
		{name: "a relative action", conf: `PT_DELETED_ACTION = "alert.sh"`, notPatch: []string{"action"},
			report: []string{`PT_DELETED_ACTION = "alert.sh": ptrule runs an action as the absolute path`}},
		{name: "an action path is quoted for YAML", conf: `PT_USER_ACTION = "/usr/local/bin/a: b"`,
			report: []string{"ptrule runs an action"}},
		{name: "a URL with YAML syntax in it", conf: `PT_APACHESTATUS = "http://127.0.0.1/status?auto #x"`,
			patch: []string{`      apache_status: 'http://127.0.0.1/status?auto #x'`}},
		{name: "PT_INTERVAL below 10 ran as 60", conf: `PT_INTERVAL = "5"`,
			report: []string{`  interval: 60s   # PT_INTERVAL = "5" (lfd raised values below 10 to 60)`}},
		{name: "PT_LOAD_AVG other than 1, 5, 15", conf: `PT_LOAD_AVG = "7"`,
			patch:  []string{"      avg: 7 "},
			report: []string{`avg: 7 on pt-load (neither 1, 5 nor 15: read as 5, as in lfd)`}},
		{name: "a fractional load level", conf: `PT_LOAD_LEVEL = "2.5"`, patch: []string{"      level: 2.5 "}},
		{name: "LF_FLUSH 0 is refused", conf: `LF_FLUSH = "0"`, notPatch: []string{"repeat"},
			report: []string{`c:1: LF_FLUSH = "0": not a number of seconds above 0`}},
		{name: "PT_LIMIT 0 keeps pt-forkbomb off and says so", conf: "PT_LIMIT = \"0\"\nPT_FORKBOMB = \"300\"",
			patch:    []string{`    enabled: false                   # PT_LIMIT = "0"`, `      max: 300                       # PT_FORKBOMB = "300"`},
			notPatch: []string{"enabled: true"},
			report:   []string{`PT_FORKBOMB = "300" -> max: 300 on pt-forkbomb, which stays off: PT_LIMIT = "0" turns it off`}},
		{name: "directives not set are listed", conf: `PT_LIMIT = "60"`,
			report: []string{"not set, ptrule's defaults apply: PT_INTERVAL, PT_SKIP_HTTP, PT_DELETED,"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conv := Convert(ParseConf("c", []byte(tc.conf+"\n")), "c")
			report := Report(conv, nil)
			patch := string(conv.Patch)
			for _, l := range tc.patch {
				if !strings.Contains(patch, l) {
					t.Errorf("patch lacks %q:\n%s", l, patch)
				}
			}
			for _, l := range tc.notPatch {
				if strings.Contains(patch, l) {
					t.Errorf("patch holds %q:\n%s", l, patch)
				}
			}
			for _, l := range tc.report {
				if !strings.Contains(report, l) {
					t.Errorf("report lacks %q:\n%s", l, report)
				}
			}
			loads(t, conv.Patch, nil)
		})
	}
}

func TestConvertIgnore(t *testing.T) {
	files := map[string]string{
		"/etc/csf/extra.pignore": "user:bob\nInclude /etc/csf/csf.pignore\n",
		"/etc/csf/deep.pignore":  "Include sub/x.pignore\n",
		"/etc/csf/sub/x.pignore": "exe:/usr/bin/x\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("no such file")
	}
	tests := []struct {
		name, in string
		list     []string // lines the list holds
		notList  []string
		notes    []string
		problems []string
		entries  int
	}{
		{name: "normalised item and value", in: "EXE :/usr/sbin/nginx  \n  user : www\n", list: []string{"\nexe:/usr/sbin/nginx\n", "\nuser:www\n"}, entries: 2,
			notes: []string{`c.pignore:2: "user : www": lfd kept the white space after the colon`}},
		{name: "space after the colon", in: "exe: /usr/bin/x\n", list: []string{"\nexe:/usr/bin/x\n"}, entries: 1,
			notes: []string{`c.pignore:1: "exe: /usr/bin/x": lfd kept the white space after the colon, so the entry never matched there; ptrule reads it as exe:/usr/bin/x and it now applies`}},
		{name: "a line containing Include", in: "exe:/opt/Include/bin/x\n", list: []string{"\nexe:/opt/Include/bin/x\n"}, entries: 1,
			notes: []string{`csf.pignore:1: exe:/opt/Include/bin/x: lfd dropped every line containing "Include"`}},
		{name: "a top-level bar", in: "pcmd:perl a\\.pl|python b\\.py\npexe:/usr/bin/(perl|python)\npcmd:[|]x\npcmd:\\|y\n", entries: 4,
			notes: []string{`c.pignore:1: pcmd:perl a\.pl|python b\.py: lfd anchored this regex as ^perl a\.pl|python b\.py$ without grouping`}},
		{name: "not an entry", in: "foo\nbar:baz\nunit:x.service\n", entries: 0,
			list:  []string{"# import-csf: not an entry lfd reads: foo\n", "# import-csf: not an entry lfd reads: bar:baz\n", "# import-csf: unit: is ptrule's, lfd skipped it: unit:x.service\n"},
			notes: []string{"c.pignore:1: not an entry lfd reads: written as a comment", "c.pignore:2: not an entry", "c.pignore:3: unit: is ptrule's"}},
		{name: "a regex RE2 refuses", in: "pexe:/x(?=y)\n", entries: 0, list: []string{"# import-csf: not valid in ptrule: pexe:/x(?=y)\n"},
			notes: []string{`c.pignore:1: "pexe:/x(?=y)" is not a valid ptrule entry`}},
		{name: "Include is followed, relative to the file", in: "Include extra.pignore\n", entries: 1,
			list:     []string{"# import-csf: from /etc/csf/extra.pignore (Include at /etc/csf/csf.pignore:1)\nuser:bob\n"},
			problems: []string{`/etc/csf/extra.pignore:2: Include "/etc/csf/csf.pignore" is a loop: skipped`}},
		{name: "nested Include", in: "Include /etc/csf/deep.pignore\n", entries: 1, list: []string{"\nexe:/usr/bin/x\n"}},
		{name: "a missing Include", in: "Include /nowhere\nexe:/a\n", entries: 1,
			problems: []string{`/etc/csf/csf.pignore:1: Include "/nowhere": no such file: its entries are not imported`}},
		{name: "an indented Include is what lfd dropped", in: "  Include extra.pignore\n", entries: 0,
			notes: []string{"not an entry lfd reads: written as a comment"}},
		{name: "comments are kept", in: "# our daemons\nexe:/a\n", entries: 1, list: []string{"\n# our daemons\nexe:/a\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "c.pignore"
			if strings.Contains(tc.in, "Include") {
				name = "/etc/csf/csf.pignore"
				files["/etc/csf/csf.pignore"] = tc.in
			}
			ic := ConvertIgnore(name, []byte(tc.in), read)
			list := string(ic.List)
			for _, l := range tc.list {
				if !strings.Contains(list, l) {
					t.Errorf("list lacks %q:\n%s", l, list)
				}
			}
			if ic.Entries != tc.entries {
				t.Errorf("%d entries, want %d", ic.Entries, tc.entries)
			}
			if len(ic.Notes) != len(tc.notes) {
				t.Errorf("notes %q, want %q", ic.Notes, tc.notes)
			}
			for i := range min(len(ic.Notes), len(tc.notes)) {
				if !strings.Contains(ic.Notes[i].String(), tc.notes[i]) {
					t.Errorf("note %q, want %q", ic.Notes[i], tc.notes[i])
				}
			}
			if len(ic.Problems) != len(tc.problems) {
				t.Errorf("problems %q, want %q", ic.Problems, tc.problems)
			}
			for i := range min(len(ic.Problems), len(tc.problems)) {
				if !strings.Contains(ic.Problems[i].String(), tc.problems[i]) {
					t.Errorf("problem %q, want %q", ic.Problems[i], tc.problems[i])
				}
			}
			l, ps := engine.ParseIgnore("50-csf.pignore", ic.List, 1, nil)
			if len(ps) > 0 {
				t.Errorf("the list does not parse: %v\n%s", ps, list)
			}
			if got := len(l.Entries()); got != tc.entries {
				t.Errorf("the list parses to %d entries, want %d", got, tc.entries)
			}
		})
	}
}

func TestTopLevelBar(t *testing.T) {
	for re, want := range map[string]bool{
		"a|b": true, "(a|b)": false, "a(b|c)|d": true, `a\|b`: false, "[|]": false, "[]|]": false,
		"[^]|]x": false, "(a)|(b)": true, "((a|b))c": false, "a": false, "": false, `\\|x`: true,
	} {
		if got := topLevelBar(re); got != want {
			t.Errorf("topLevelBar(%q) = %v, want %v", re, got, want)
		}
	}
}
