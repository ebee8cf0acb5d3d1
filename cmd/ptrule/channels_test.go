package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ptrule/builtin"
	"ptrule/builtin/act"
	"ptrule/engine"
)

// TestConfigChannelProblems: the config loader hands each channel to its
// type in notify, whose problems come back at their line and column with
// the config's others (issue 9).
func TestConfigChannelProblems(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string // each problem's excerpt, a prefix of it
	}{
		{"a key of another type", "channels:\n  ops: {type: log, host: mx}\n", []string{
			"C:2:20: unknown key \"host\" in channel ops (known keys: type, min_severity, send_resolved, digest_after, max_per_hour)\n      ops: {type: log, host: mx}\n                       ^",
		}},
		{"min_severity", "channels:\n  ops:\n    type: log\n    min_severity: high\n", []string{
			"C:4:19: channel ops: min_severity \"high\": use info, warning or critical\n        min_severity: high\n                      ^",
		}},
		{"not a boolean", "channels:\n  ops: {type: log, send_resolved: yes}\n", []string{
			"C:2:35: send_resolved: \"yes\" is not true or false",
		}},
		{"not a mapping", "channels:\n  ops: log\n", []string{"C:2:8: channel ops must be a mapping"}},
		{"an email channel's own checks", "channels:\n  ops: {type: email, host: mx, from: a@example.com, password_file: /nonexistent}\n", []string{
			"C:2:3: channel ops: no recipient",
			"C:2:3: channel ops: a password is set but no username",
		}},
		{"an email channel whose password file is missing", "channels:\n  ops: {type: email, host: mx, from: a@example.com, to: [b@example.com], username: u, password_file: /nonexistent}\n", []string{
			"C:2:8: channel ops: email channel: password_file: lstat /nonexistent: no such file or directory",
		}},
		{"every channel, in name order, among the other problems", "mode: x\nchannels:\n  b: {type: log, port: 1}\n  a: {type: log, min_severity: 3}\ndefault_channels: [nope]\n", []string{
			"C:1:7: mode \"x\"",
			"C:4:32: channel a: min_severity \"3\"",
			"C:3:18: unknown key \"port\" in channel b",
			"C:5:20: default_channels names \"nope\"",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "ptrule.yaml", tc.config)
			_, err := loadConfig(path, builtin.FileTrust{})
			ps, ok := err.(engine.Problems)
			if !ok {
				t.Fatalf("loadConfig: %v, want problems", err)
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(ps), len(tc.want), strings.ReplaceAll(engine.FormatError(err), path, "C"))
			}
			for i, p := range ps {
				if ex := strings.ReplaceAll(p.Excerpt(), path, "C"); !strings.HasPrefix(ex, tc.want[i]) {
					t.Errorf("problem %d:\n%s\nwant\n%s", i, ex, tc.want[i])
				}
			}
		})
	}
}

// TestConfiguredChannelsDeliver: a channel the config defines is built by
// its type and used by the actor, with its min_severity; before issue 9 a
// configured log channel passed the check but every alert to it failed as
// an unknown channel.
func TestConfiguredChannelsDeliver(t *testing.T) {
	path := writeFile(t, t.TempDir(), "ptrule.yaml",
		"default_channels: [audit, pager]\nchannels:\n  audit: {type: log}\n  pager: {type: log, min_severity: critical}\n")
	cfg, err := loadConfig(path, builtin.FileTrust{})
	if err != nil {
		t.Fatal(engine.FormatError(err))
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := &engine.Snapshot{Time: now, Host: engine.Host{Name: "web1"}, Procs: []engine.Process{
		{PID: 200, PPID: 1, PGID: 200, SID: 200, UID: 1002, User: "eve", Exe: "/usr/bin/x", Start: now.Add(-time.Hour), StartTicks: 2000},
	}}
	alert := func(perform bool, rule string) act.ActionResult {
		t.Helper()
		rs, ps := engine.LoadRules([]engine.File{{Path: "rules.yaml", Data: []byte(rule)}})
		if len(ps) > 0 {
			t.Fatal(engine.FormatError(ps))
		}
		matches, _ := rs.Evaluate(snap, nil)
		ds := engine.Decide(matches, engine.NewMemStore(), now)
		if len(ds) != 1 {
			t.Fatalf("%d decisions", len(ds))
		}
		a := newActor(cfg, "/proc", log, perform, newDispatcher(cfg, log))
		return a.Apply(context.Background(), ds[0], false).Actions[0]
	}

	// A warning goes to audit; pager's min_severity holds it back, which
	// the result says, and which is not an error.
	r := alert(true, `rules: [{name: a, scope: process, severity: warning, condition: proc.pid == 200, actions: [alert: {}]}]`)
	if r.Result != act.ResultOK || r.Detail != "to audit; not to pager: below min_severity" {
		t.Errorf("warning: %+v", r)
	}
	if n := strings.Count(buf.String(), "msg=alert "); n != 1 {
		t.Errorf("%d alerts logged, want 1 (audit's):\n%s", n, buf.String())
	}

	// A critical alert goes to both.
	buf.Reset()
	r = alert(true, `rules: [{name: a, scope: process, severity: critical, condition: proc.pid == 200, actions: [alert: {}]}]`)
	if r.Result != act.ResultOK || r.Detail != "to audit, pager" {
		t.Errorf("critical: %+v", r)
	}
	if n := strings.Count(buf.String(), "msg=alert "); n != 2 {
		t.Errorf("%d alerts logged, want 2:\n%s", n, buf.String())
	}

	// An alert below every channel it asks for is sent nowhere, and is
	// no error: the config chose it.
	buf.Reset()
	r = alert(true, `rules: [{name: a, scope: process, severity: info, condition: proc.pid == 200, actions: [alert: {channels: [pager]}]}]`)
	if r.Result != act.ResultOK || r.Detail != "not to pager: below min_severity" || buf.Len() != 0 {
		t.Errorf("below min_severity: %+v, log %q", r, buf.String())
	}

	// A dry run says the same, and sends nothing.
	r = alert(false, `rules: [{name: a, scope: process, severity: critical, condition: proc.pid == 200, actions: [alert: {}]}]`)
	if r.Result != act.ResultDryRun || r.Detail != "to audit, pager" || buf.Len() != 0 {
		t.Errorf("dry run: %+v, log %q", r, buf.String())
	}
}
