package builtin

import (
	"errors"
	"os"
	"path/filepath"
	"ptrule/builtin/proctest"
	"strings"
	"testing"
)

// writeScript is proctest's.
var writeScript = proctest.WriteScript

func TestCheckProgram(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes files owned by root and by nobody")
	}
	dir := t.TempDir()
	good := writeScript(t, dir, "good.sh", "true\n", 0o755)
	nobodys := writeScript(t, dir, "nobody.sh", "true\n", 0o755)
	if err := os.Chown(nobodys, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	open := writeScript(t, dir, "open.sh", "true\n", 0o757)
	groupw := writeScript(t, dir, "groupw.sh", "true\n", 0o775)
	plain := writeScript(t, dir, "plain.sh", "true\n", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	badLink := filepath.Join(dir, "badlink")
	if err := os.Symlink(open, badLink); err != nil {
		t.Fatal(err)
	}
	nobodyLink := filepath.Join(dir, "nobodylink")
	if err := os.Symlink(good, nobodyLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(nobodyLink, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	inSub := writeScript(t, sub, "x.sh", "true\n", 0o755)
	sticky := filepath.Join(dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	inSticky := writeScript(t, sticky, "x.sh", "true\n", 0o755)
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	wdir := filepath.Join(dir, "wdir")
	if err := os.Mkdir(wdir, 0o755); err != nil {
		t.Fatal(err)
	}
	inWdir := writeScript(t, wdir, "x.sh", "true\n", 0o755)
	if err := os.Chmod(wdir, 0o777); err != nil {
		t.Fatal(err)
	}
	udir := filepath.Join(dir, "udir")
	if err := os.Mkdir(udir, 0o755); err != nil {
		t.Fatal(err)
	}
	inUdir := writeScript(t, udir, "x.sh", "true\n", 0o755)
	if err := os.Chown(udir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		path   string
		reason string // "" = accepted
	}{
		{"good", good, ""},
		{"symlink to good", link, ""},
		{"in a subdirectory", inSub, ""},
		{"in a sticky world-writable directory", inSticky, ""},
		{"system binary", "/bin/sh", ""},
		{"empty", "", "empty"},
		{"relative", "bin/action.sh", "not an absolute path"},
		{"bare name", "sh", "not an absolute path"},
		{"missing", filepath.Join(dir, "missing"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"not executable", plain, "not executable"},
		{"owned by nobody", nobodys, "not root"},
		{"world-writable", open, "writable by group or others"},
		{"group-writable", groupw, "writable by group or others"},
		{"symlink to world-writable", badLink, "writable by group or others"},
		{"symlink owned by nobody", nobodyLink, "symlink owned by uid 65534"},
		{"in a world-writable directory", inWdir, "directory " + wdir + " is writable"},
		{"in a directory of nobody", inUdir, "directory " + udir + " is owned by uid 65534"},
		{"device", "/dev/null", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckProgram(tt.path)
			if tt.reason == "" {
				if err != nil {
					t.Errorf("CheckProgram(%q) = %v, want nil", tt.path, err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("CheckProgram(%q) = %v, want ErrRefused saying %q", tt.path, err, tt.reason)
			}
		})
	}
}
