package engine

import (
	"strings"
	"testing"
)

func TestInterpreter(t *testing.T) {
	for exe, want := range map[string]string{
		"/usr/bin/python3.11": "python", "/usr/bin/python3": "python", "/usr/sbin/php-fpm8.2": "php",
		"/usr/bin/php-cgi": "php", "/usr/bin/php8.1": "php", "/usr/bin/perl": "perl", "/usr/bin/perl5.36.0": "perl",
		"/bin/bash": "bash", "/usr/bin/dash": "dash", "/usr/bin/node": "node", "/usr/lib/jvm/java-17/bin/java": "java",
		"/usr/bin/ruby3.1": "ruby", "/usr/bin/busybox": "busybox",
		"/usr/sbin/nginx": "", "/usr/sbin/sshd": "", "/usr/bin/pythonista": "", "/opt/shell/x": "", "": "", "/": "",
	} {
		if got := Interpreter(exe); got != want {
			t.Errorf("Interpreter(%q) = %q, want %q", exe, got, want)
		}
	}
}

func TestIgnoreLine(t *testing.T) {
	for _, tc := range []struct{ item, value, want string }{
		{"exe", "/usr/sbin/nginx", "exe:/usr/sbin/nginx"},
		{"cmd", "php-fpm: pool www", "cmd:php-fpm: pool www"},
		{"cmd", "/usr/bin/python3 /srv/app/worker.py --queue a", "cmd:/usr/bin/python3 /srv/app/worker.py --queue a"},
		// A newline cannot be written on one line: the pattern form, with
		// the newline as an escape, not in its display form \n or \012.
		{"exe", "/tmp/ev\nil", `pexe:/tmp/ev\x{a}il`},
		{"cmd", "x \x1b[2J", `pcmd:x \x{1b}\[2J`},
		{"cmd", " lead", `pcmd:\x{20}lead`},
		{"cmd", "a.b(c)*", "cmd:a.b(c)*"},
		{"exe", "/tmp/\xff", `pexe:/tmp/\x{fffd}`},
		{"unit", "php8.2-fpm.service", "unit:php8.2-fpm.service"},
		{"unit", `dev-disk\x2dx.service`, `unit:dev-disk\\x2dx.service`},
		{"unit", "a*.service", `unit:a\*.service`},
		{"unit", "a\nb.service", ""},
		{"exe", "", ""},
	} {
		if got := IgnoreLine(tc.item, tc.value); got != tc.want {
			t.Errorf("IgnoreLine(%s, %q) = %q, want %q", tc.item, tc.value, got, tc.want)
		}
	}
}

// The line IgnoreLine suggests, written to an ignore list, parses without
// a problem and hides the process it names, and not one whose value
// differs.
func FuzzIgnoreLine(f *testing.F) {
	for _, s := range []string{"/usr/sbin/nginx", "ev\nil", " x ", "\x1b[2J", "\xff", "a\\b", "#x", "Include y", "php-fpm: pool www", "\u202ex", "a.b*", "x\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, item := range []string{"exe", "cmd", "unit"} {
			line := IgnoreLine(item, v)
			if line == "" {
				if v != "" && item != "unit" {
					t.Fatalf("no %s line for %q", item, v)
				}
				continue
			}
			if strings.ContainsAny(line, "\n\r") || !strings.HasPrefix(line, item+":") && !strings.HasPrefix(line, "p"+item+":") {
				t.Fatalf("%s line for %q is %q", item, v, line)
			}
			l, ps := ParseIgnore("x.pignore", []byte(line+"\n"), 1, nil)
			if len(ps) > 0 {
				t.Fatalf("%q: %v", line, ps)
			}
			p := &Process{Exe: v, Cmd: v, Unit: v}
			if !l.Ignored(p) {
				t.Fatalf("%q does not hide %s %q", line, item, v)
			}
			if other := (&Process{Exe: v + "x", Cmd: v + "x", Unit: v + "x"}); l.Ignored(other) {
				t.Fatalf("%q also hides %s %q", line, item, v+"x")
			}
		}
	})
}
