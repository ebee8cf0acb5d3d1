package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ptrule/builtin"
	"ptrule/engine"
	"ptrule/notify"
)

// TestSecretFilesThroughFileTrust: with the reader cmd/ptrule passes,
// builtin.FileTrust.ReadFile, a *_file secret that a user other than root
// could change is refused at its key, with the fix; a root-only one is
// read. The test type "fake" is registered by config_test.go.
func TestSecretFilesThroughFileTrust(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: FileTrust accepts only files root owns")
	}
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("s3cr3t-value\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("good", 0o600)
	write("shared", 0o666)
	config := filepath.Join(dir, "ptrule.yaml")
	for _, tc := range []struct {
		file, want string
	}{
		{"good", ""},
		{"shared", "ptrule.yaml:2:46: channel ops: password_file: " + filepath.Join(dir, "shared") + ": "},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src := "channels:\n  ops: {type: fake, host: mx, password_file: " + tc.file + "}\n"
			var file struct {
				Channels map[string]engine.Node `yaml:"channels"`
			}
			if ps := engine.DecodeYAML(config, []byte(src), &file); len(ps) > 0 {
				t.Fatal(ps)
			}
			_, ps := notify.ParseChannel("ops", file.Channels["ops"], builtin.FileTrust{}.ReadFile)
			var got string
			if len(ps) > 0 {
				got = strings.ReplaceAll(engine.FormatError(ps), config, "ptrule.yaml")
			}
			if tc.want == "" {
				if len(ps) > 0 {
					t.Errorf("a root-only secret file was refused: %s", got)
				}
				return
			}
			if len(ps) != 1 || !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "chmod") {
				t.Errorf("problems:\n%s\nwant one starting %q with the chmod that fixes it", got, tc.want)
			}
			if strings.Contains(got, "s3cr3t") {
				t.Errorf("the problem shows the secret: %s", got)
			}
		})
	}
}
