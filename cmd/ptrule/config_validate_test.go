package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptrule/builtin"
	"ptrule/engine"
)

// Every config problem is file:line:col with the line and a caret under
// the value (or under the entry that lacks a key), as in rule files.
func TestConfigProblemsAtTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string // each problem's excerpt
	}{
		{"mode", "interval: 30s\nmode: aggressive\n", []string{
			"C:2:7: mode \"aggressive\": use enforce or monitor\n    mode: aggressive\n          ^",
		}},
		{"interval", "interval: 0s\n", []string{
			"C:1:11: interval must be longer than 0s\n    interval: 0s\n              ^",
		}},
		{"unknown channel type", "channels:\n  ops:\n    type: pager\n", []string{
			"C:3:11: channel ops: unknown type \"pager\": use alertmanager, discord, email, log, matrix, mattermost, msteams, pagerduty, slack, telegram or webhook\n        type: pager\n              ^",
		}},
		{"channel without type", "channels:\n  ops:\n    host: mail.example.com\n", []string{
			"C:2:3: channel ops has no type: add type: one of alertmanager, discord, email, log, matrix, mattermost, msteams, pagerduty, slack, telegram or webhook\n      ops:\n      ^",
		}},
		{"default channel not in channels", "default_channels: [log, ops]\nchannels:\n  log2: {type: log}\n", []string{
			"C:1:25: default_channels names \"ops\", which is not in channels: add it under channels or remove it here\n    default_channels: [log, ops]\n                            ^",
		}},
		{"every problem, in file order of the checks", "mode: x\nchannels:\n  b: {type: pager}\n  a: {}\ndefault_channels:\n  - nope\n", []string{
			"C:1:7: mode \"x\"",
			"C:4:3: channel a has no type",
			"C:3:13: channel b: unknown type \"pager\"",
			"C:6:5: default_channels names \"nope\"",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "ptrule.yaml", tc.config)
			_, err := loadConfig(path, builtin.FileTrust{})
			if err == nil {
				t.Fatal("the config loaded")
			}
			var ps engine.Problems
			got := strings.ReplaceAll(engine.FormatError(err), path, "C")
			if e, ok := err.(engine.Problems); ok {
				ps = e
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(ps), len(tc.want), got)
			}
			for i, p := range ps {
				ex := strings.ReplaceAll(p.Excerpt(), path, "C")
				if !strings.HasPrefix(ex, tc.want[i]) {
					t.Errorf("problem %d:\n%s\nwant\n%s", i, ex, tc.want[i])
				}
				if p.Pos.File != path || filepath.Base(p.Pos.File) != "ptrule.yaml" {
					t.Errorf("problem %d is in %q", i, p.Pos.File)
				}
			}
		})
	}
}

// monitor_repeat defaults to an hour and takes a duration.
func TestConfigMonitorRepeat(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   time.Duration
	}{
		{"mode: monitor\n", time.Hour},
		{"mode: monitor\nmonitor_repeat: 10m\n", 10 * time.Minute},
		{"monitor_repeat: 0s\n", 0},
	} {
		cfg, err := loadConfig(writeFile(t, t.TempDir(), "ptrule.yaml", tc.config), builtin.FileTrust{})
		if err != nil || cfg.MonitorRepeat != tc.want {
			t.Errorf("%q: monitor_repeat %v (%v), want %v", tc.config, cfg.MonitorRepeat, err, tc.want)
		}
	}
}
