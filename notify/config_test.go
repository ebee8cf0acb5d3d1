package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"ptrule/engine"
)

// fakeConfig is a channel type that exists only in these tests: a few keys
// of the kinds real types have, a default, a required key and a secret
// pair, so that the plumbing is proved on more than the keyless log type.
type fakeConfig struct {
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"`
	To           []string `yaml:"to"`
	Password     Secret   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`

	// password is the secret as Check resolved it.
	password Secret
}

func (f *fakeConfig) Check(c *Checker) {
	if f.Host == "" {
		c.Problem([]any{"host"}, "host is required: add host: with the server's name")
	}
	if f.Port < 1 || f.Port > 65535 {
		c.Problem([]any{"port"}, "port %d is not a TCP port: use 1 to 65535", f.Port)
	}
	for i, to := range f.To {
		if !strings.Contains(to, "@") {
			c.Problem([]any{"to", i}, "%q is not an address: write user@host", to)
		}
	}
	f.password = c.Secret("password", f.Password, "password_file", f.PasswordFile)
}

func (f *fakeConfig) Channel(env Env) Channel { return &fakeChannel{cfg: f, recorder: &recorder{}} }

type fakeChannel struct {
	cfg *fakeConfig
	*recorder
}

func init() {
	RegisterType(ChannelType{Name: "fake", NewConfig: func() TypeConfig { return &fakeConfig{Port: 587} }})
}

const configPath = "/etc/ptrule/ptrule.yaml"

// parse decodes a config file's channels as cmd/ptrule does and parses the
// channel name.
func parse(t *testing.T, config, name string, readFile ReadFileFunc) (*ChannelConfig, engine.Problems) {
	t.Helper()
	var file struct {
		Channels map[string]engine.Node `yaml:"channels"`
	}
	if ps := engine.DecodeYAML(configPath, []byte(config), &file); len(ps) > 0 {
		t.Fatalf("the file does not decode: %v", ps)
	}
	node, ok := file.Channels[name]
	if !ok {
		t.Fatalf("no channel %s in %q", name, config)
	}
	return ParseChannel(name, node, readFile)
}

func noFiles(path string) ([]byte, error) {
	return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
}

func TestParseChannel(t *testing.T) {
	tests := []struct {
		name, config string
		// want is each problem's excerpt (a prefix of it), in order.
		want []string
		// check, when there is no problem, inspects the config.
		check func(t *testing.T, c *ChannelConfig)
	}{
		{name: "defaults", config: "channels:\n  ops: {type: fake, host: mx}\n", check: func(t *testing.T, c *ChannelConfig) {
			own := c.Own.(*fakeConfig)
			if c.Name != "ops" || c.Settings != (Settings{Type: "fake", MinSeverity: "info", DigestAfter: 5}) || own.Port != 587 || own.Host != "mx" {
				t.Errorf("got %+v %+v", c.Settings, own)
			}
		}},
		{name: "every key", config: "channels:\n  ops:\n    type: fake\n    min_severity: warning\n    host: mx\n    port: 25\n    to: [a@b, c@d]\n", check: func(t *testing.T, c *ChannelConfig) {
			own := c.Own.(*fakeConfig)
			if c.MinSeverity != "warning" || own.Port != 25 || !slices.Equal(own.To, []string{"a@b", "c@d"}) {
				t.Errorf("got %+v %+v", c.Settings, own)
			}
		}},
		{name: "log", config: "channels:\n  quiet: {type: log, min_severity: critical}\n", check: func(t *testing.T, c *ChannelConfig) {
			if c.MinSeverity != "critical" {
				t.Errorf("got %+v", c.Settings)
			}
		}},
		{name: "unknown key, at the key", config: "channels:\n  ops:\n    type: fake\n    hots: mx\n", want: []string{
			"C:4:5: unknown key \"hots\" in channel ops (known keys: type, min_severity, send_resolved, digest_after, max_per_hour, host, port, to, password, password_file)\n        hots: mx\n        ^",
		}},
		{name: "log has no keys of its own", config: "channels:\n  log: {type: log, host: mx}\n", want: []string{
			"C:2:20: unknown key \"host\" in channel log (known keys: type, min_severity, send_resolved, digest_after, max_per_hour)",
		}},
		{name: "wrong kinds, every one", config: "channels:\n  ops: {type: fake, host: mx, port: abc, to: a@b, send_resolved: yes}\n", want: []string{
			"C:2:37: port: \"abc\" is not a whole number",
			"C:2:46: to must be a list",
			"C:2:66: send_resolved: \"yes\" is not true or false",
		}},
		{name: "duplicate key", config: "channels:\n  ops:\n    type: fake\n    host: a\n    host: b\n", want: []string{
			"C:5:5: duplicate key \"host\" in channel ops",
		}},
		{name: "the type's checks, at their values", config: "channels:\n  ops:\n    type: fake\n    port: 70000\n    to: [a@b, nobody]\n", want: []string{
			"C:2:3: channel ops: host is required: add host: with the server's name\n      ops:\n      ^",
			"C:4:11: channel ops: port 70000 is not a TCP port: use 1 to 65535",
			"C:5:15: channel ops: \"nobody\" is not an address: write user@host",
		}},
		{name: "bad min_severity", config: "channels:\n  ops: {type: fake, host: mx, min_severity: urgent}\n", want: []string{
			"C:2:45: channel ops: min_severity \"urgent\": use info, warning or critical\n      ops: {type: fake, host: mx, min_severity: urgent}\n                                                ^",
		}},
		{name: "common keys out of range", config: "channels:\n  ops:\n    type: fake\n    host: mx\n    send_resolved: true\n    digest_after: 0\n    max_per_hour: -1\n", want: []string{
			"C:6:19: channel ops: digest_after must be 1 or more (default 5)",
			"C:7:19: channel ops: max_per_hour must be 0 (no limit) or more",
		}},
		{name: "a log channel is never digested", config: "channels:\n  ops: {type: log, digest_after: 9, max_per_hour: 5}\n", want: []string{
			"C:2:34: channel ops: a log channel writes one line per alert and is never digested or capped: remove digest_after",
			"C:2:51: channel ops: a log channel writes one line per alert and is never digested or capped: remove max_per_hour",
		}},
		{name: "no type", config: "channels:\n  ops:\n    host: mx\n", want: []string{
			"C:2:3: channel ops has no type: add type: one of alertmanager, discord, email, fake, log, matrix, mattermost, msteams, pagerduty, slack, telegram or webhook\n      ops:\n      ^",
		}},
		{name: "empty", config: "channels:\n  ops:\n", want: []string{"C:2:3: channel ops has no type"}},
		{name: "not a mapping", config: "channels:\n  ops: [log]\n", want: []string{"C:2:8: channel ops must be a mapping"}},
		{name: "type not a string", config: "channels:\n  ops: {type: [log]}\n", want: []string{"C:2:15: type must be a single value"}},
		{name: "unknown type", config: "channels:\n  ops:\n    type: pager\n", want: []string{
			"C:3:11: channel ops: unknown type \"pager\": use alertmanager, discord, email, fake, log, matrix, mattermost, msteams, pagerduty, slack, telegram or webhook\n        type: pager\n              ^",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "ops"
			if strings.Contains(tt.config, "  quiet:") {
				name = "quiet"
			} else if strings.Contains(tt.config, "  log:") {
				name = "log"
			}
			cfg, ps := parse(t, tt.config, name, noFiles)
			if len(ps) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(ps), len(tt.want), engine.FormatError(ps))
			}
			for i, p := range ps {
				if got := strings.ReplaceAll(p.Excerpt(), configPath, "C"); !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("problem %d:\n%s\nwant\n%s", i, got, tt.want[i])
				}
			}
			if len(ps) > 0 {
				if cfg != nil {
					t.Errorf("a config with problems was returned: %+v", cfg)
				}
				return
			}
			tt.check(t, cfg)
		})
	}
}

// files is a ReadFileFunc over a map of path to contents; any other path
// does not exist. It records what was read.
type files struct {
	m    map[string]string
	read []string
}

func (f *files) readFile(path string) ([]byte, error) {
	f.read = append(f.read, path)
	if path == "/etc/ptrule/untrusted" {
		return nil, fmt.Errorf("%s: writable by group, so a user other than root could change what ptrule (running as root) does: run chmod go-w %s", path, path)
	}
	s, ok := f.m[path]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
	}
	return []byte(s), nil
}

func TestChannelSecrets(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	tests := []struct {
		name, entry string
		want        Secret // when there is no problem
		problem     string // the excerpt's start, when there is
		read        []string
	}{
		{name: "inline", entry: "password: " + secret, want: secret},
		{name: "none", entry: "port: 25", want: ""},
		{name: "file, trimmed", entry: "password_file: /etc/ptrule/pw", want: secret, read: []string{"/etc/ptrule/pw"}},
		{name: "relative file, from the config's directory", entry: "password_file: secrets/pw", want: secret, read: []string{"/etc/ptrule/secrets/pw"}},
		{name: "both", entry: "password: x\n    password_file: /etc/ptrule/pw",
			problem: "C:5:20: channel ops: set password or password_file, not both\n        password_file: /etc/ptrule/pw\n                       ^"},
		{name: "missing file", entry: "password_file: /etc/ptrule/nope", read: []string{"/etc/ptrule/nope"},
			problem: "C:4:20: channel ops: password_file: open /etc/ptrule/nope: file does not exist: create it, holding only the secret and readable by root alone, or fix the path"},
		{name: "untrusted file", entry: "password_file: /etc/ptrule/untrusted", read: []string{"/etc/ptrule/untrusted"},
			problem: "C:4:20: channel ops: password_file: /etc/ptrule/untrusted: writable by group, so a user other than root could change what ptrule (running as root) does: run chmod go-w /etc/ptrule/untrusted\n"},
		{name: "empty file", entry: "password_file: /etc/ptrule/blank", read: []string{"/etc/ptrule/blank"},
			problem: "C:4:20: channel ops: password_file /etc/ptrule/blank is empty: write the secret into it"},
		{name: "empty path", entry: "password_file: ''", problem: "C:4:20: channel ops: password_file is empty: name the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &files{m: map[string]string{
				"/etc/ptrule/pw":         secret + "\n",
				"/etc/ptrule/secrets/pw": "  " + secret + "\r\n",
				"/etc/ptrule/blank":      " \n\n",
			}}
			cfg, ps := parse(t, "channels:\n  ops:\n    type: fake\n    "+tt.entry+"\n    host: mx\n", "ops", fs.readFile)
			if !slices.Equal(fs.read, tt.read) {
				t.Errorf("read %q, want %q", fs.read, tt.read)
			}
			if tt.problem == "" {
				if len(ps) > 0 {
					t.Fatalf("problems: %s", engine.FormatError(ps))
				}
				if got := cfg.Own.(*fakeConfig).password; got != tt.want {
					t.Errorf("secret %q, want %q", got.Reveal(), tt.want.Reveal())
				}
				return
			}
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1:\n%s", len(ps), engine.FormatError(ps))
			}
			got := strings.ReplaceAll(ps[0].Excerpt(), configPath, "C")
			if !strings.HasPrefix(got, tt.problem) {
				t.Errorf("problem:\n%s\nwant\n%s", got, tt.problem)
			}
			if strings.Contains(got, secret) {
				t.Errorf("the problem shows the secret:\n%s", got)
			}
		})
	}
}

// TestSecretNeverPrints: however a Secret is formatted or encoded, its
// value stays out.
func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-s3cr3t")
	type holder struct {
		Password Secret
		Token    *Secret
	}
	h := holder{Password: s, Token: &s}
	var outs []string
	for _, format := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(format, s), fmt.Sprintf(format, h))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s), fmt.Errorf("login: %v", s).Error(), s.String(), s.GoString())
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "password", s, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "password", s)
	outs = append(outs, buf.String())
	for _, out := range outs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("the secret printed: %s", out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%v", s) != secretText || back["Password"] != secretText {
		t.Errorf("a Secret prints as %q and %s, want %q", fmt.Sprintf("%v", s), js, secretText)
	}
	if s.Reveal() != "hunter2-s3cr3t" {
		t.Error("Reveal does not return the secret")
	}
}

// TestMinSeverity: a channel with min_severity gets only the alerts at or
// above it; the others are skipped, which is not an error, and Route
// tells the actor so before it sends.
func TestMinSeverity(t *testing.T) {
	var channels = map[string]Channel{}
	for name, min := range map[string]string{"all": "info", "warn": "warning", "crit": "critical"} {
		cfg, ps := parse(t, "channels:\n  "+name+": {type: fake, host: mx, min_severity: "+min+"}\n", name, noFiles)
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		channels[name] = cfg.Channel(Env{})
	}
	count := func(name string) int {
		switch ch := channels[name].(type) {
		case *fakeChannel:
			return ch.count()
		case *configured:
			return ch.Channel.(*fakeChannel).count()
		}
		t.Fatalf("%s is a %T", name, channels[name])
		return 0
	}
	d := NewDispatcher(channels, []string{"all", "warn", "crit"})
	tests := []struct {
		severity   string
		send, skip []string
	}{
		{"info", []string{"all"}, []string{"warn", "crit"}},
		{"warning", []string{"all", "warn"}, []string{"crit"}},
		{"critical", []string{"all", "warn", "crit"}, nil},
		// A severity ptrule does not know is never held back.
		{"bogus", []string{"all", "warn", "crit"}, nil},
	}
	sent := map[string]int{}
	for _, tt := range tests {
		send, skip := d.Route(tt.severity, nil)
		if !slices.Equal(send, tt.send) || !slices.Equal(skip, tt.skip) {
			t.Errorf("%s: route to %q skipping %q, want %q skipping %q", tt.severity, send, skip, tt.send, tt.skip)
		}
		a := testAlert
		a.Severity = tt.severity
		for _, r := range d.Dispatch(context.Background(), a, nil) {
			if r.Err != nil {
				t.Errorf("%s to %s: %v", tt.severity, r.Channel, r.Err)
			}
			if r.Skipped != slices.Contains(tt.skip, r.Channel) {
				t.Errorf("%s to %s: skipped %v", tt.severity, r.Channel, r.Skipped)
			}
		}
		for _, name := range tt.send {
			sent[name]++
		}
	}
	for _, name := range []string{"all", "warn", "crit"} {
		if got := count(name); got != sent[name] {
			t.Errorf("%s received %d alerts, want %d", name, got, sent[name])
		}
	}
	if _, filtered := channels["all"].(*configured); filtered {
		t.Error("min_severity info wraps the channel for nothing")
	}
}

// TestLogTypeBuilds: a configured log channel writes to the log it is
// given, at the min_severity it sets.
func TestLogTypeBuilds(t *testing.T) {
	cfg, ps := parse(t, "channels:\n  audit: {type: log, min_severity: warning}\n", "audit", noFiles)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	var buf bytes.Buffer
	d := NewDispatcher(map[string]Channel{"audit": cfg.Channel(Env{Log: slog.New(slog.NewJSONHandler(&buf, nil))})}, nil)
	info := testAlert
	info.Severity, info.Rule = "info", "quiet-rule"
	for _, a := range []Alert{info, testAlert} {
		for _, r := range d.Dispatch(context.Background(), a, []string{"audit"}) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	out := buf.String()
	if !strings.Contains(out, `"rule":"pt-user-resources"`) || strings.Contains(out, "quiet-rule") {
		t.Errorf("the audit log holds:\n%s\nwant the warning alone", out)
	}
}

func TestRegisterTypeRefusesMistakes(t *testing.T) {
	for name, typ := range map[string]ChannelType{
		"twice":      {Name: "log", NewConfig: func() TypeConfig { return &logConfig{} }},
		"no name":    {NewConfig: func() TypeConfig { return &logConfig{} }},
		"no decoder": {Name: "other"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("RegisterType did not panic")
				}
			}()
			RegisterType(typ)
		})
	}
	if _, ok := channelTypes["other"]; ok {
		t.Error("a refused type was registered")
	}
}
