package notify

import (
	"context"
	"log/slog"
	"maps"
	"slices"
)

// LogChannel writes each alert as one structured log line, message
// "alert", which the journal keeps with ptrule's other logs. Its level
// follows the severity: critical is ERROR, warning WARN, anything else
// INFO.
type LogChannel struct {
	l *slog.Logger
}

// NewLogChannel returns a LogChannel writing to l, or to slog.Default() at
// each alert when l is nil.
func NewLogChannel(l *slog.Logger) *LogChannel { return &LogChannel{l: l} }

// Send implements Channel. The attributes are rule, severity, key, then
// pid, user and sid when set, subject, message, and the labels as a group
// when there are any. slog quotes values, so a multi-line message stays on
// one line.
func (c *LogChannel) Send(ctx context.Context, a Alert) error {
	l := c.l
	if l == nil {
		l = slog.Default()
	}
	attrs := []slog.Attr{
		slog.String("rule", a.Rule),
		slog.String("severity", a.Severity),
		slog.String("key", a.Key),
	}
	if a.PID != 0 {
		attrs = append(attrs, slog.Int("pid", a.PID))
	}
	if a.User != "" {
		attrs = append(attrs, slog.String("user", a.User))
	}
	if a.SID != 0 {
		attrs = append(attrs, slog.Int("sid", a.SID))
	}
	attrs = append(attrs, slog.String("subject", a.Subject), slog.String("message", a.Message))
	if len(a.Labels) > 0 {
		var labels []any
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			labels = append(labels, slog.String(k, a.Labels[k]))
		}
		attrs = append(attrs, slog.Group("labels", labels...))
	}
	l.LogAttrs(ctx, severityLevel(a.Severity), "alert", attrs...)
	return nil
}

// severityLevel maps an alert severity to a log level.
func severityLevel(severity string) slog.Level {
	switch severity {
	case "critical":
		return slog.LevelError
	case "warning":
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

func init() {
	RegisterType(ChannelType{Name: "log", NewConfig: func() TypeConfig { return &logConfig{} }})
}

// logConfig configures a channel of type log. It has no keys of its own:
// the log is ptrule's, wherever ptrule logs to.
type logConfig struct{}

// Check implements TypeConfig; there is nothing to check.
func (*logConfig) Check(*Checker) {}

// Channel implements TypeConfig.
func (*logConfig) Channel(env Env) Channel { return NewLogChannel(env.Log) }
