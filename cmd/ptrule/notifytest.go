package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"ptrule/engine"
	"ptrule/notify"
)

// notifyTestSubject marks the synthetic alert of notify-test, so that no
// one mistakes it for a match.
const notifyTestSubject = "[ptrule test] notification test from "

// cmdNotifyTest sends a synthetic alert through the named channels (all
// of them when none is named), one attempt each, and prints per channel
// "NAME ok" or "NAME error: ..." with the channel's own error. It exits 0
// when every channel took the alert, 1 otherwise.
func cmdNotifyTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("notify-test", "[--channel NAME]... [flags]",
		"ptrule notify-test --channel ops-mail --channel ops-slack", stderr)
	var common commonFlags
	fs.StringVar(&common.config, "config", "", "config file (default "+defaultConfigPath+" when it exists)")
	fs.BoolVar(&common.insecureFiles, "insecure-files", false, "accept a config and secret files that a user other than root could change, warning about each (for test trees only)")
	var names listFlag
	fs.Var(&names, "channel", "a channel to test (repeatable; default: every channel, log included)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ptrule notify-test: unexpected argument %q: name channels with --channel\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(common.config, common.sources(stderr).trust)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	d := newDispatcher(cfg, log)
	if len(names) == 0 {
		names = d.Names()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := exitOK
	for _, r := range d.Probe(ctx, testAlert(time.Now()), names) {
		if r.Err == nil {
			fmt.Fprintf(stdout, "%s ok\n", r.Channel)
			continue
		}
		code = exitFailure
		msg := strings.TrimPrefix(r.Err.Error(), fmt.Sprintf("channel %q: ", r.Channel))
		fmt.Fprintf(stdout, "%s error: %s\n", r.Channel, msg)
	}
	return code
}

// testAlert is notify-test's synthetic alert, sent at now.
func testAlert(now time.Time) notify.Alert {
	host, err := os.Hostname()
	if err != nil {
		host = "this host"
	}
	return notify.Alert{
		Rule:     "ptrule-notify-test",
		Severity: "info",
		Subject:  notifyTestSubject + host,
		Message: fmt.Sprintf("This is a test alert sent by `ptrule notify-test` on %s at %s.\nNo rule matched anything and nothing needs doing: it shows that this channel delivers.",
			host, now.UTC().Format(time.RFC3339)),
		Host: host,
		Key:  "notify-test",
		Time: now,
	}
}
