package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"ptrule/builtin"
	"ptrule/builtin/collect"
	"ptrule/engine"
	"ptrule/notify"
	rules "ptrule/rules.d"
)

// The defaults below are variables only so that the tests can point them
// into a directory of their own: no test may read the machine's /etc/ptrule
// or write its /var/lib/ptrule.
var (
	// defaultConfigPath is read when --config is not given and the file
	// exists.
	defaultConfigPath = "/etc/ptrule/ptrule.yaml"
	// defaultRulesDir is rules_dirs when the config does not set it.
	defaultRulesDir = "/etc/ptrule/rules.d"
	// defaultStateDir is state_dir when the config does not set it.
	defaultStateDir = "/var/lib/ptrule"
)

// Config is /etc/ptrule/ptrule.yaml (contract §6).
type Config struct {
	Interval        time.Duration `yaml:"interval"`
	Mode            string        `yaml:"mode"`
	RulesDirs       []string      `yaml:"rules_dirs"`
	StateDir        string        `yaml:"state_dir"`
	DefaultChannels []string      `yaml:"default_channels"`
	// Channels are the entries of `channels`, kept raw: each channel's
	// type declares its keys, so notify.ParseChannel decodes them.
	Channels map[string]engine.Node `yaml:"channels"`
	// MonitorRepeat is how long, in monitor mode, a match whose kill or
	// run was only reported stays quiet; 0 reports it at every evaluation.
	MonitorRepeat time.Duration `yaml:"monitor_repeat"`
	// Redact are RE2 patterns masked in alerts, added to
	// notify.DefaultRedactions.
	Redact []string `yaml:"redact"`

	// path is where the config was read from, "" for the defaults.
	path string
	// rulesDirsSet tells a configured rules_dirs from the default one: the
	// default directory may be missing, a configured one may not.
	rulesDirsSet bool
	// channels are the Channels as notify parsed and checked them.
	channels map[string]*notify.ChannelConfig
	// redactor masks the defaults and Redact; nil means the defaults.
	redactor *notify.Redactor
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
		RulesDirs:       []string{defaultRulesDir},
		StateDir:        defaultStateDir,
		DefaultChannels: []string{"log"},
		MonitorRepeat:   time.Hour,
	}
}

// loadConfig reads the config at path, or the default path when path is
// "" (a missing default file means the defaults), through trust; the
// state_dir must pass trust too.
func loadConfig(path string, trust builtin.FileTrust) (*Config, error) {
	cfg := defaultConfig()
	explicit := path != ""
	if !explicit {
		path = defaultConfigPath
	}
	data, err := trust.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return cfg, cfg.checkStateDir(trust)
		}
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg.path = path
	if ps := engine.DecodeYAML(path, data, cfg); len(ps) > 0 {
		return nil, ps
	}
	cfg.rulesDirsSet = !slices.Equal(cfg.RulesDirs, defaultConfig().RulesDirs)
	if err := cfg.validate(engine.NewLocator(path, data), trust.ReadFile); err != nil {
		return nil, err
	}
	return cfg, cfg.checkStateDir(trust)
}

// checkStateDir refuses a state_dir that a user other than root could
// write: they could silence their own processes forever.
func (c *Config) checkStateDir(trust builtin.FileTrust) error {
	if err := trust.CheckStateDir(c.StateDir); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	return nil
}

// validate reports the settings that decode but are not allowed, each at
// its place in the file that loc reads. The channels are parsed here, by
// their types, reading secret files through readFile.
func (c *Config) validate(loc *engine.Locator, readFile notify.ReadFileFunc) error {
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
	c.channels = map[string]*notify.ChannelConfig{}
	for _, name := range slices.Sorted(maps.Keys(c.Channels)) {
		ch, cps := notify.ParseChannel(name, c.Channels[name], readFile)
		ps = append(ps, cps...)
		if ch != nil {
			c.channels[name] = ch
		}
	}
	for i, p := range c.Redact {
		if _, err := notify.CompileRedaction(p); err != nil {
			bad([]any{"redact", i}, "%v", err)
		}
	}
	if len(ps) == 0 {
		c.redactor, _ = notify.NewRedactor(c.Redact)
	}
	for i, name := range c.DefaultChannels {
		if _, ok := c.Channels[name]; !ok && name != "log" {
			bad([]any{"default_channels", i}, "default_channels names %q, which is not in channels: add it under channels or remove it here", name)
		}
	}
	return ps.Err()
}

// notifyChannels builds the configured channels, logging to log, with the
// log channel when the config does not define one of that name.
func (c *Config) notifyChannels(log *slog.Logger) map[string]notify.Channel {
	env := notify.Env{Log: log}
	channels := map[string]notify.Channel{notify.LogChannelName: notify.NewLogChannel(log)}
	for name, ch := range c.channels {
		channels[name] = ch.Channel(env)
	}
	return channels
}

// notifyOptions are the alert Dispatcher's options for the config: its
// redact patterns, the spool under state_dir, and log for delivery
// failures.
func (c *Config) notifyOptions(log *slog.Logger) []notify.Option {
	opts := []notify.Option{notify.WithLog(log), notify.WithSpool(notify.SpoolDir(c.StateDir))}
	if c.redactor != nil {
		opts = append(opts, notify.WithRedactor(c.redactor))
	}
	return opts
}

// ruleSources says where rules come from: contract §1.
type ruleSources struct {
	noBuiltin bool
	rules     []string // --rules flags
	// trust reads every file and checks every directory.
	trust builtin.FileTrust
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
		fs, err := src.trust.RuleFiles(dir)
		if err != nil {
			if !cfg.rulesDirsSet && errors.Is(err, os.ErrNotExist) {
				continue // the default directory may be missing
			}
			return nil, err
		}
		files = append(files, fs...)
	}
	for _, p := range src.rules {
		fs, err := src.trust.RuleFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	return files, nil
}

// load reads the config and the rules the flags name. On failure it
// prints every problem to stderr and returns false; the command then exits
// with exitUsage.
func (c *commonFlags) load(stderr io.Writer) (*Config, *engine.RuleSet, bool) {
	src := c.sources(stderr)
	cfg, err := loadConfig(c.config, src.trust)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return nil, nil, false
	}
	files, err := ruleFiles(cfg, src)
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
func newCollector(procRoot string) (*collect.Collector, error) {
	c, err := collect.NewCollector(procRoot)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", procRoot, err)
	}
	return c, nil
}
