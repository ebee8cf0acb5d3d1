package engine

import (
	"io/fs"
	"strings"
	"testing"
)

type secretChannel struct {
	Type       string `yaml:"type"`
	Password   string `yaml:"password"`
	WebhookURL string `yaml:"webhook_url"`
	Token      string `yaml:"token"`
	Port       int    `yaml:"port"`
}

type secretConfig struct {
	Channels map[string]secretChannel `yaml:"channels"`
}

// TestProblemsMaskSecrets: a problem on a line that holds a password,
// token or webhook URL shows the key and the position, never the value.
func TestProblemsMaskSecrets(t *testing.T) {
	tests := []struct {
		name, yaml string
		// The excerpt: the error line, the quoted line, and the column of
		// the caret under it.
		err, line string
		caret     int
	}{
		{"duplicate password", "channels:\n  m:\n    password: hunter2\n    password: hunter3\n",
			`c.yaml:4:5: duplicate key "password" in channels.m`, "    password: ****", 5},
		{"bad port beside a token in a flow mapping", "channels:\n  m: {type: slack, token: \"xoxb-123\", port: abc}\n",
			`c.yaml:2:45: port: "abc" is not a whole number`, "  m: {type: slack, token: ****, port: abc}", 39},
		{"webhook URL of the wrong type", "channels:\n  m:\n    webhook_url: [https://hooks.example/T0/s3cr3t]\n",
			`c.yaml:3:18: webhook_url must be a single value`, "    webhook_url: ****", 18},
		{"misspelt password key", "channels:\n  m:\n    passwrd: hunter2 # the old one\n",
			`c.yaml:3:5: unknown key "passwrd" in channels.m (known keys: type, password, webhook_url, token, port)`, "    passwrd: **** # the old one", 5},
		{"no secret on the line", "channels:\n  m:\n    port: abc\n",
			`c.yaml:3:11: port: "abc" is not a whole number`, "    port: abc", 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := DecodeYAML("c.yaml", []byte(tt.yaml), &secretConfig{})
			if len(ps) != 1 {
				t.Fatalf("problems: %v", ps)
			}
			got := ps[0].Excerpt()
			want := tt.err + "\n    " + tt.line + "\n    " + strings.Repeat(" ", tt.caret-1) + "^"
			if got != want {
				t.Fatalf("excerpt:\n%s\nwant:\n%s", got, want)
			}
			for _, secret := range []string{"hunter", "xoxb", "s3cr3t"} {
				if strings.Contains(got, secret) {
					t.Fatalf("the excerpt shows the secret %q:\n%s", secret, got)
				}
			}
		})
	}
}

const shadowText = "root:$6$salt$HASHHASHHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"

// TestNotOurFilesAreNotQuoted: a file that is not a rule, ignore or
// fixture file at all — /etc/shadow named by mistake or malice — is
// reported by position only.
func TestNotOurFilesAreNotQuoted(t *testing.T) {
	readShadow := func(p string) ([]byte, error) {
		if strings.HasSuffix(p, "shadow") {
			return []byte(shadowText), nil
		}
		return nil, fs.ErrNotExist
	}
	fixture := File{Path: "t/site_test.yaml", Data: []byte("rule_files: [../../etc/shadow]\ntests: []\n")}
	_, fixturePs := RunFixtures(fixture, nil, readShadow)
	_, rulePs := LoadRules([]File{{Path: "/etc/shadow", Data: []byte(shadowText)}})
	_, brokenPs := LoadRules([]File{{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/bash\n- [\n")}})
	_, includePs := LoadRules([]File{{Path: "site.pignore", Data: []byte("Include /etc/shadow\n"), ReadFile: readShadow}})
	for name, ps := range map[string]Problems{"fixture rule_files": fixturePs, "rule file": rulePs, "broken YAML": brokenPs, "Include": includePs} {
		if len(ps) == 0 {
			t.Errorf("%s: no problem reported", name)
		}
		for _, p := range ps {
			if p.Source != "" || strings.Contains(p.Excerpt(), "HASH") || strings.Contains(p.Excerpt(), "/bin/bash") {
				t.Errorf("%s: the problem quotes the file: %s", name, p.Excerpt())
			}
		}
	}
	// A YAML file of ours with a mistake is still quoted.
	_, ps := LoadRules([]File{{Path: "r.yaml", Data: []byte("rule:\n  - name: a\n")}})
	if len(ps) != 1 || ps[0].Source != "rule:" {
		t.Fatalf("a rule file's problem lost its quote: %v", ps)
	}
}

// TestSecretFilePathsAreShown: a *_file key names where a secret is, not
// the secret; a problem with it shows the path, which the user must fix.
func TestSecretFilePathsAreShown(t *testing.T) {
	var v struct {
		PasswordFile string `yaml:"password_file"`
		Token        string `yaml:"token"`
	}
	src := "password_file: [/etc/ptrule/smtp-password]\ntoken: x\n"
	ps := DecodeYAML("c.yaml", []byte(src), &v)
	if len(ps) != 1 {
		t.Fatalf("problems: %v", ps)
	}
	want := "c.yaml:1:16: password_file must be a single value\n    password_file: [/etc/ptrule/smtp-password]\n                   ^"
	if got := ps[0].Excerpt(); got != want {
		t.Errorf("excerpt:\n%s\nwant:\n%s", got, want)
	}
}
