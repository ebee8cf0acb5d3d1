package csf

import (
	"os"
	"strings"
	"testing"

	"ptrule/engine"
	rules "ptrule/rules.d"
)

// FuzzConvert holds that whatever csf.conf holds, the import never panics
// and the patch it writes loads with the default rules without a problem:
// a value the importer cannot carry is a problem in the report, never a
// broken file.
func FuzzConvert(f *testing.F) {
	shipped, err := os.ReadFile("testdata/shipped.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	for _, s := range []string{
		`PT_LIMIT = "0"` + "\n" + `PT_FORKBOMB = "300"`,
		`PT_USER_ACTION = "/usr/local/bin/x"`,
		`PT_APACHESTATUS = "http://a/b?c #d: 'e' \"f\""`,
		`PT_LOAD_LEVEL = "1e3"`,
		`PT_INTERVAL = "9"`,
		"PT_DELETED_ACTION = \"/a\x00b\"",
		"PT_APACHESTATUS = \"\xff\"",
	} {
		f.Add([]byte(s))
	}
	base, err := rules.Files()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		conv := Convert(ParseConf("/etc/csf/csf.conf", data), "/etc/csf/csf.conf")
		if _, ps := engine.LoadRules(append(base[:len(base):len(base)], engine.File{Path: "50-csf.yaml", Data: conv.Patch})); len(ps) > 0 {
			t.Fatalf("the patch does not load: %v\n%s", ps, conv.Patch)
		}
		if strings.Contains(conv.Interval, "\n") {
			t.Fatalf("interval line spans lines: %q", conv.Interval)
		}
		_ = Report(conv, nil)
	})
}

// FuzzConvertIgnore holds that the ignore list written from any csf.pignore
// parses without a problem and holds exactly the entries it counts.
func FuzzConvertIgnore(f *testing.F) {
	shipped, err := os.ReadFile("testdata/shipped.pignore")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	for _, s := range []string{
		"exe: /usr/bin/x\nEXE :/y\npcmd:a|b\nexe:/opt/Include/x\nfoo\nInclude /x\n",
		"pexe:/x(\nunit:a.service\ncmd:\x00\n# ptrule: reason=x\n",
		"user:\xff\ncmd:a\rb\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ic := ConvertIgnore("/etc/csf/csf.pignore", data, nil)
		l, ps := engine.ParseIgnore("50-csf.pignore", ic.List, 1, nil)
		if len(ps) > 0 {
			t.Fatalf("the list does not parse: %v\n%q", ps, ic.List)
		}
		if got := len(l.Entries()); got != ic.Entries {
			t.Fatalf("the list holds %d entries, the importer counted %d\n%q", got, ic.Entries, ic.List)
		}
	})
}
