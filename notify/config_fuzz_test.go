package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"ptrule/engine"
)

// FuzzParseChannel parses every channel of arbitrary config text. It must
// not panic; it returns a config exactly when there is no problem; every
// problem is in the file, at a line of it; and a secret read from a file
// never shows in a problem.
func FuzzParseChannel(f *testing.F) {
	for _, seed := range []string{
		"channels:\n  ops: {type: fake, host: mx, password_file: pw}\n",
		"channels:\n  ops:\n    type: fake\n    host: mx\n    to: [a@b, c]\n    port: 70000\n    password: x\n    password_file: /pw\n",
		"channels:\n  a: {type: log, min_severity: warning, digest_after: 0, max_per_hour: -1, send_resolved: yes}\n  b: {}\n  c: [x]\n  d:\n",
		"channels:\n  ops: {type: fake, host: mx, password_file: missing}\n",
		"channels:\n  x: &a {type: log}\n  y: *a\n  z: {type: email}\n  w: {type: [1]}\n",
	} {
		f.Add([]byte(seed))
	}
	const secret = "fuzz-secret-from-file"
	readFile := func(path string) ([]byte, error) {
		if strings.HasSuffix(path, "missing") {
			return nil, errors.New("open " + path + ": no such file or directory")
		}
		return []byte(" " + secret + "\n"), nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var file struct {
			Channels map[string]engine.Node `yaml:"channels"`
		}
		if ps := engine.DecodeYAML("c.yaml", data, &file); len(ps) > 0 {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for name, node := range file.Channels {
			cfg, ps := ParseChannel(name, node, readFile)
			if (cfg == nil) == (len(ps) == 0) {
				t.Fatalf("channel %q: config %v with %d problems", name, cfg, len(ps))
			}
			for _, p := range ps {
				if p.Pos.File != "c.yaml" || p.Pos.Line < 1 || p.Pos.Line > lines {
					t.Fatalf("channel %q: problem at %v, outside the file: %s", name, p.Pos, p.Msg)
				}
				if !bytes.Contains(data, []byte(secret)) && strings.Contains(p.Excerpt(), secret) {
					t.Fatalf("channel %q: a problem shows the secret: %s", name, p.Excerpt())
				}
			}
			if cfg != nil && cfg.Channel(Env{}) == nil {
				t.Fatalf("channel %q: no channel built", name)
			}
		}
	})
}
