package notify

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"ptrule/engine"
)

// A channel's configuration is one entry of the config's `channels`
// mapping (contract §6). The config loader hands each entry's YAML value
// over as an engine.Node; ParseChannel reads the keys every channel takes
// (Settings) and passes the rest to the channel's type, which declares its
// own keys, defaults and checks. This is how Alertmanager's receivers are
// configured, and it keeps cmd/ptrule free of any channel's keys.

// Severity names, least severe first: min_severity takes one of them.
var severities = []string{"info", "warning", "critical"}

// DefaultDigestAfter is digest_after when a channel does not set it: how
// many alerts one channel takes in one tick before the rest go as a digest.
const DefaultDigestAfter = 5

// Settings are the keys every channel takes, whatever its type.
type Settings struct {
	// Type selects the ChannelType.
	Type string `yaml:"type"`
	// MinSeverity is the least severe alert the channel takes: info (all
	// of them, the default), warning or critical.
	MinSeverity string `yaml:"min_severity"`
	// SendResolved makes the channel get a "Resolved:" message when a match
	// it was alerted about stops holding (the entity stops matching or is
	// gone). An alertmanager channel always resolves its alerts: that is
	// how Alertmanager works.
	SendResolved bool `yaml:"send_resolved"`
	// DigestAfter is how many alerts the channel takes one by one; when
	// more are waiting (from one tick, or piled up while the channel was
	// down), they go as one digest message.
	DigestAfter int `yaml:"digest_after"`
	// MaxPerHour caps the messages the channel sends in an hour (0: no
	// cap); what comes beyond it is held and sent as one digest when the
	// hour ends.
	MaxPerHour int `yaml:"max_per_hour"`
}

func defaultSettings() Settings {
	return Settings{MinSeverity: "info", DigestAfter: DefaultDigestAfter}
}

// ChannelType is one value of a channel's `type`.
type ChannelType struct {
	// Name is what `type:` says.
	Name string
	// NewConfig returns a fresh config of the type with its defaults set:
	// a pointer to a struct whose `yaml`-tagged fields are the type's own
	// keys (the keys of Settings are read for it). The channel's value is
	// decoded into it strictly, then checked by its Check.
	NewConfig func() TypeConfig
}

// TypeConfig is the configuration of one channel of one type.
type TypeConfig interface {
	// Check reports through c every value that decodes but is not
	// allowed, at its key, and reads the type's secrets (c.Secret).
	Check(c *Checker)
	// Channel builds the channel. It is called only for a config whose
	// Check reported nothing, and cannot fail: whatever can be wrong in a
	// config is Check's to find, and what can go wrong at delivery is
	// Send's to report.
	Channel(env Env) Channel
}

// decodeTargeter is a TypeConfig whose keys are those of another struct,
// which DecodeTarget returns (a pointer): the adapter of the sender types.
type decodeTargeter interface {
	DecodeTarget() any
}

// Env is what the daemon lends the channels it builds.
type Env struct {
	// Log is ptrule's log; nil means slog.Default().
	Log *slog.Logger
}

// ReadFileFunc reads a file that a channel's config names, such as a
// password_file, refusing one that a user other than root could change.
// cmd/ptrule passes builtin.FileTrust.ReadFile.
type ReadFileFunc func(path string) ([]byte, error)

// channelTypes holds the types that deliver, by name.
var channelTypes = map[string]ChannelType{}

// RegisterType adds a channel type. It is meant for package
// initialisation and panics on a type without a name or constructor, or
// on a name registered twice, which are programming errors.
func RegisterType(t ChannelType) {
	if t.Name == "" || t.NewConfig == nil {
		panic("notify: RegisterType needs a name and a NewConfig")
	}
	if _, dup := channelTypes[t.Name]; dup {
		panic("notify: channel type " + t.Name + " registered twice")
	}
	channelTypes[t.Name] = t
}

// builtTypes returns the names of the registered types, sorted.
func builtTypes() []string { return slices.Sorted(maps.Keys(channelTypes)) }

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ChannelConfig is one checked entry of the config's `channels`.
type ChannelConfig struct {
	// Name is the entry's key: what alert actions and default_channels
	// name.
	Name string
	Settings
	// Own is the type's own configuration, checked and with its secrets
	// read.
	Own TypeConfig
}

// ParseChannel decodes and checks the channel name, whose YAML value is
// node. Unknown keys, values of the wrong kind or out of range, unreadable
// secret files and types that do not exist or are not built are problems
// at their place in the file; ParseChannel returns every problem it finds
// and a nil config when there is one. readFile reads *_file secrets.
func ParseChannel(name string, node engine.Node, readFile ReadFileFunc) (*ChannelConfig, engine.Problems) {
	what := "channel " + name
	typeNode := node.Get("type")
	if typeNode.IsZero() {
		// A value that is not a mapping is reported as such.
		if ps := node.Decode(what); len(ps) > 0 {
			return nil, ps
		}
		return nil, engine.Problems{node.At([]any{"type"}, "%s has no type: add type: %s", what, typeHint())}
	}
	var typ string
	if ps := typeNode.DecodeValue("type", &typ); len(ps) > 0 {
		return nil, ps
	}
	t, ok := channelTypes[typ]
	if !ok {
		return nil, engine.Problems{typeNode.At(nil, "%s: unknown type %q: use %s", what, typ, orList(builtTypes()))}
	}
	cfg := &ChannelConfig{Name: name, Settings: defaultSettings(), Own: t.NewConfig()}
	var target any = cfg.Own
	if dt, ok := cfg.Own.(decodeTargeter); ok {
		target = dt.DecodeTarget()
	}
	if ps := node.Decode(what, &cfg.Settings, target); len(ps) > 0 {
		return nil, ps
	}
	c := &Checker{channel: what, node: node, readFile: readFile}
	c.checkSettings(cfg.Settings)
	if typ == LogChannelName {
		for _, key := range []string{"digest_after", "max_per_hour"} {
			if node.Has(key) {
				c.Problem([]any{key}, "a log channel writes one line per alert and is never digested or capped: remove %s", key)
			}
		}
	}
	cfg.Own.Check(c)
	if len(c.ps) > 0 {
		return nil, c.ps
	}
	return cfg, nil
}

// typeHint suggests a type for a channel that has none.
func typeHint() string {
	return "one of " + orList(builtTypes())
}

// checkSettings reports the common keys' values that are not allowed.
func (c *Checker) checkSettings(s Settings) {
	if !slices.Contains(severities, s.MinSeverity) {
		c.Problem([]any{"min_severity"}, "min_severity %q: use %s", s.MinSeverity, orList(severities))
	}
	if s.DigestAfter < 1 {
		c.Problem([]any{"digest_after"}, "digest_after must be 1 or more (default %d)", DefaultDigestAfter)
	}
	if s.MaxPerHour < 0 {
		c.Problem([]any{"max_per_hour"}, "max_per_hour must be 0 (no limit) or more")
	}
}

// Channel builds the channel the config describes. A min_severity above
// info makes the Dispatcher skip alerts below it for this channel;
// digest_after and max_per_hour set how its queue is delivered.
func (cfg *ChannelConfig) Channel(env Env) Channel {
	ch := cfg.Own.Channel(env)
	if severityRank(cfg.MinSeverity) > 0 || cfg.DigestAfter != DefaultDigestAfter || cfg.MaxPerHour > 0 || cfg.SendResolved {
		return &configured{Channel: ch, min: cfg.MinSeverity, digestAfter: cfg.DigestAfter, maxPerHour: cfg.MaxPerHour,
			sendResolved: cfg.SendResolved}
	}
	return ch
}

// configured is a channel with common settings that are not the
// defaults: a min_severity, a digest_after, a max_per_hour or
// send_resolved.
type configured struct {
	Channel
	min                     string
	digestAfter, maxPerHour int
	sendResolved            bool
}

// takes reports whether the channel takes an alert of severity.
func (m *configured) takes(severity string) bool {
	return severityRank(severity) >= severityRank(m.min)
}

// limits returns the channel's digest_after and max_per_hour.
func (m *configured) limits() (digestAfter, maxPerHour int) { return m.digestAfter, m.maxPerHour }

// severityRank orders severities. A severity ptrule does not know ranks
// highest, so that no min_severity can hold back an alert whose severity
// was mistyped.
func severityRank(severity string) int {
	if i := slices.Index(severities, severity); i >= 0 {
		return i
	}
	return len(severities)
}

// Checker is what a TypeConfig's Check reports through: problems at keys
// of the channel's entry, and secrets read from files.
type Checker struct {
	// channel is "channel NAME", the start of every message.
	channel  string
	node     engine.Node
	readFile ReadFileFunc
	ps       engine.Problems
}

// Problem reports a value that is not allowed at path (keys and list
// indexes from the channel's entry: []any{"to", 2}), or at the entry's key
// when path leads nowhere. The message is prefixed with the channel's
// name; end it with what to do.
func (c *Checker) Problem(path []any, format string, args ...any) {
	c.ps = append(c.ps, c.node.At(path, "%s: %s", c.channel, fmt.Sprintf(format, args...)))
}
