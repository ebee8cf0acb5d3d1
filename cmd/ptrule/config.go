package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"ptrule/builtin"
	"ptrule/engine"
	rules "ptrule/rules.d"
)

// defaultConfigPath is read when --config is not given and the file exists.
const defaultConfigPath = "/etc/ptrule/ptrule.yaml"

// Config is /etc/ptrule/ptrule.yaml (contract §6).
type Config struct {
	Interval        time.Duration            `yaml:"interval"`
	Mode            string                   `yaml:"mode"`
	RulesDirs       []string                 `yaml:"rules_dirs"`
	StateDir        string                   `yaml:"state_dir"`
	DefaultChannels []string                 `yaml:"default_channels"`
	Channels        map[string]ChannelConfig `yaml:"channels"`

	// path is where the config was read from, "" for the defaults.
	path string
	// rulesDirsSet tells a configured rules_dirs from the default one: the
	// default directory may be missing, a configured one may not.
	rulesDirsSet bool
}

// ChannelConfig is one entry of `channels`. Every field of every channel
// type is accepted here so that configs written for the notification
// channels load; only `log` delivers in this version.
type ChannelConfig struct {
	Type           string   `yaml:"type"`
	Host           string   `yaml:"host"`
	Port           int      `yaml:"port"`
	TLS            string   `yaml:"tls"`
	From           string   `yaml:"from"`
	To             []string `yaml:"to"`
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	PasswordFile   string   `yaml:"password_file"`
	WebhookURL     string   `yaml:"webhook_url"`
	WebhookURLFile string   `yaml:"webhook_url_file"`
	Token          string   `yaml:"token"`
	TokenFile      string   `yaml:"token_file"`
	Channel        string   `yaml:"channel"`
	APIURL         string   `yaml:"api_url"`
	URL            string   `yaml:"url"`
	URLs           []string `yaml:"urls"`
}

// Modes of the config's `mode`.
const (
	modeEnforce = "enforce"
	modeMonitor = "monitor"
)

func defaultConfig() *Config {
	return &Config{
		Interval:        60 * time.Second,
		Mode:            modeEnforce,
		RulesDirs:       []string{"/etc/ptrule/rules.d"},
		StateDir:        "/var/lib/ptrule",
		DefaultChannels: []string{"log"},
	}
}

// loadConfig reads the config at path, or the default path when path is
// "" (a missing default file means the defaults).
func loadConfig(path string) (*Config, error) {
	cfg := defaultConfig()
	explicit := path != ""
	if !explicit {
		path = defaultConfigPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return cfg, nil
		}
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg.path = path
	if ps := engine.DecodeYAML(path, data, cfg); len(ps) > 0 {
		return nil, ps
	}
	cfg.rulesDirsSet = !slices.Equal(cfg.RulesDirs, defaultConfig().RulesDirs)
	return cfg, cfg.validate(engine.NewLocator(path, data))
}

// validate reports the settings that decode but are not allowed, each at
// its place in the file that loc reads.
func (c *Config) validate(loc *engine.Locator) error {
	var ps engine.Problems
	bad := func(path []any, format string, args ...any) {
		ps = append(ps, loc.At(path, format, args...))
	}
	if c.Interval <= 0 {
		bad([]any{"interval"}, "interval must be longer than 0s")
	}
	if c.Mode != modeEnforce && c.Mode != modeMonitor {
		bad([]any{"mode"}, "mode %q: use enforce or monitor", c.Mode)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		switch t := c.Channels[name].Type; t {
		case "log":
		case "":
			bad([]any{"channels", name, "type"}, "channel %s has no type: add type: log (the only type that delivers in this version)", name)
		case "email", "slack", "webhook", "alertmanager":
			bad([]any{"channels", name, "type"}, "channel %s: type %s is not available in this version of ptrule yet; only log delivers", name, t)
		default:
			bad([]any{"channels", name, "type"}, "channel %s: unknown type %q: use log, email, slack, webhook or alertmanager", name, t)
		}
	}
	for i, name := range c.DefaultChannels {
		if _, ok := c.Channels[name]; !ok && name != "log" {
			bad([]any{"default_channels", i}, "default_channels names %q, which is not in channels: add it under channels or remove it here", name)
		}
	}
	return ps.Err()
}

// ruleSources says where rules come from: contract §1.
type ruleSources struct {
	noBuiltin bool
	rules     []string // --rules flags
}

// ruleFiles lists every rule file and ignore list in load order.
func ruleFiles(cfg *Config, src ruleSources) ([]engine.File, error) {
	var files []engine.File
	if !src.noBuiltin {
		b, err := rules.Files()
		if err != nil {
			return nil, fmt.Errorf("reading the built-in rules: %w", err)
		}
		files = append(files, b...)
	}
	for _, dir := range cfg.RulesDirs {
		fs, err := pathFiles(dir)
		if err != nil {
			if !cfg.rulesDirsSet && errors.Is(err, os.ErrNotExist) {
				continue // the default directory may be missing
			}
			return nil, err
		}
		files = append(files, fs...)
	}
	for _, p := range src.rules {
		fs, err := pathFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	return files, nil
}

// pathFiles reads a rule file, an ignore list, or a directory of them.
func pathFiles(p string) ([]engine.File, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	if st.IsDir() {
		files, err := engine.DirFiles(os.DirFS(p), ".", p)
		if err != nil {
			return nil, fmt.Errorf("reading rules from %s: %w", p, err)
		}
		for i := range files {
			// Include may name any file on the host, not only this directory.
			files[i].ReadFile = os.ReadFile
		}
		return files, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return []engine.File{{Path: p, Data: data, ReadFile: os.ReadFile}}, nil
}

// load reads the config and the rules the flags name. On failure it
// prints every problem to stderr and returns false; the command then exits
// with exitUsage.
func (c *commonFlags) load(stderr io.Writer) (*Config, *engine.RuleSet, bool) {
	cfg, err := loadConfig(c.config)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return nil, nil, false
	}
	files, err := ruleFiles(cfg, c.sources())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	rs, ps := engine.LoadRules(files)
	if len(ps) > 0 {
		fmt.Fprintln(stderr, engine.FormatError(ps))
		return nil, nil, false
	}
	return cfg, rs, true
}

// newCollector opens the /proc tree.
func newCollector(procRoot string) (*builtin.Collector, error) {
	c, err := builtin.NewCollector(procRoot)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", procRoot, err)
	}
	return c, nil
}
