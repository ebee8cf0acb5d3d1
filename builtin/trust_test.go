package builtin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobodyUID owns the files a test makes untrusted; no lookup in the
// machine's /etc/passwd is needed for a chown.
const nobodyUID = 65534

// trustTree builds a root-owned tree with one file of each kind FileTrust
// must judge, and returns the directory.
func trustTree(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown files to another user")
	}
	dir := t.TempDir()
	write := func(rel, text string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("good.yaml", "rules: []\n", 0o644)
	write("nobody.yaml", "rules: []\n", 0o644)
	must(t, os.Chown(filepath.Join(dir, "nobody.yaml"), nobodyUID, nobodyUID))
	write("groupw.yaml", "rules: []\n", 0o664)
	write("udir/in.yaml", "rules: []\n", 0o644)
	must(t, os.Chown(filepath.Join(dir, "udir"), nobodyUID, nobodyUID))
	write("wdir/in.yaml", "rules: []\n", 0o644)
	must(t, os.Chmod(filepath.Join(dir, "wdir"), 0o777))
	write("sticky/in.yaml", "rules: []\n", 0o644)
	must(t, os.Chmod(filepath.Join(dir, "sticky"), 0o777|os.ModeSticky))
	write("big.yaml", strings.Repeat("#", MaxTrustedFileSize+1), 0o644)
	must(t, os.Symlink("good.yaml", filepath.Join(dir, "link.yaml")))
	must(t, os.Symlink("good.yaml", filepath.Join(dir, "nobodylink.yaml")))
	must(t, os.Lchown(filepath.Join(dir, "nobodylink.yaml"), nobodyUID, nobodyUID))
	must(t, os.Symlink("nobody.yaml", filepath.Join(dir, "tonobody.yaml")))
	must(t, os.Symlink("../udir/in.yaml", filepath.Join(dir, "sticky", "intoudir.yaml")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFileTrustReadFile(t *testing.T) {
	dir := trustTree(t)
	tests := []struct {
		name, file string
		// want is a part of the error; "" means the file is read.
		want string
		// untrusted says the failure is an ownership one, which
		// Insecure lets through.
		untrusted bool
	}{
		{"root-owned file", "good.yaml", "", false},
		{"file of nobody", "nobody.yaml", "nobody.yaml: file owned by uid 65534, not root, so a user other than root could change what ptrule (running as root) does: chown root " + dir + "/nobody.yaml", true},
		{"group-writable file", "groupw.yaml", "file writable by group or others (-rw-rw-r--)", true},
		{"directory of nobody above", "udir/in.yaml", "udir: directory owned by uid 65534, not root", true},
		{"world-writable directory above", "wdir/in.yaml", "wdir: directory writable by group or others (-rwxrwxrwx), so a user other than root could change what ptrule (running as root) does: chmod go-w " + dir + "/wdir", true},
		{"sticky directory above", "sticky/in.yaml", "", false},
		{"symlink to a good file", "link.yaml", "", false},
		{"symlink owned by nobody", "nobodylink.yaml", "symlink owned by uid 65534, not root", true},
		{"symlink to a file of nobody", "tonobody.yaml", "file owned by uid 65534", true},
		{"symlink into a directory of nobody", "sticky/intoudir.yaml", "directory owned by uid 65534", true},
		{"FIFO", "fifo.yaml", "is not a regular file (a FIFO)", false},
		{"directory", "sub.yaml", "is not a regular file (a directory)", false},
		{"too large", "big.yaml", "more than the 4194304 ptrule reads", false},
		{"device", "/dev/zero", "/dev/zero is not a regular file (a character device)", false},
		{"missing", "missing.yaml", "no such file or directory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.file
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			data, err := readWithin(t, FileTrust{}, p)
			if tt.want == "" {
				if err != nil || string(data) != "rules: []\n" {
					t.Fatalf("ReadFile = %q, %v; want the file", data, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadFile error = %v; want it to contain %q", err, tt.want)
			}
			if errors.Is(err, ErrUntrusted) != tt.untrusted {
				t.Errorf("errors.Is(err, ErrUntrusted) = %t, want %t", !tt.untrusted, tt.untrusted)
			}

			// Insecure downgrades exactly the ownership failures, and
			// says so through Warn.
			var warned []error
			insecure := FileTrust{Insecure: true, Warn: func(err error) { warned = append(warned, err) }}
			data, err = readWithin(t, insecure, p)
			if tt.untrusted {
				if err != nil || string(data) != "rules: []\n" || len(warned) == 0 || !strings.Contains(warned[0].Error(), tt.want) {
					t.Fatalf("Insecure ReadFile = %q, %v, warnings %v; want the file and a warning containing %q", data, err, warned, tt.want)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Insecure ReadFile error = %v; want it to still contain %q", err, tt.want)
			}

			// SkipOwnership (ptrule test) keeps only the file checks.
			data, err = readWithin(t, FileTrust{SkipOwnership: true}, p)
			if tt.untrusted != (err == nil) {
				t.Fatalf("SkipOwnership ReadFile = %q, %v", data, err)
			}
		})
	}
}

// readWithin reads p, failing the test instead of hanging if the read
// blocks: a FIFO with no writer must be refused, not waited on.
func readWithin(t *testing.T, ft FileTrust, p string) ([]byte, error) {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := ft.ReadFile(p)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-time.After(time.Minute):
		t.Fatalf("ReadFile(%s) still blocked after a minute", p)
		return nil, nil
	}
}

func TestFileTrustDirs(t *testing.T) {
	dir := trustTree(t)
	tests := []struct {
		name, dir string
		check     func(FileTrust, string) error
		want      string
	}{
		{"root-owned rules dir", dir, FileTrust.CheckDir, ""},
		{"rules dir of nobody", dir + "/udir", FileTrust.CheckDir, "udir: directory owned by uid 65534"},
		{"sticky rules dir", dir + "/sticky", FileTrust.CheckDir, "sticky: directory writable by group or others"},
		{"a file, not a dir", dir + "/good.yaml", FileTrust.CheckDir, "is not a directory"},
		{"state dir that exists", dir, FileTrust.CheckStateDir, ""},
		{"missing state dir under a good one", dir + "/state/deeper", FileTrust.CheckStateDir, ""},
		{"missing state dir under a sticky one", dir + "/sticky/state", FileTrust.CheckStateDir, "sticky: directory writable by group or others"},
		{"state dir of nobody", dir + "/udir", FileTrust.CheckStateDir, "directory owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(FileTrust{}, tt.dir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
