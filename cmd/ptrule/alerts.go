package main

import (
	"fmt"
	"io"

	"ptrule/engine"
	"ptrule/notify"
)

// cmdAlerts lists what the daemon's delivery left in the spool under
// state_dir: each undelivered alert with its channel, and per channel the
// last failure and its reason, the last delivery and the counts. It reads
// the files only, so it works whether the daemon runs or not.
func cmdAlerts(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("alerts", "[flags]", "ptrule alerts --config /etc/ptrule/ptrule.yaml", stderr)
	var common commonFlags
	fs.StringVar(&common.config, "config", "", "config file (default "+defaultConfigPath+" when it exists)")
	fs.BoolVar(&common.insecureFiles, "insecure-files", false, "accept a config and state that a user other than root could change, warning about each (for test trees only)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ptrule alerts: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(common.config, common.sources(stderr).trust)
	if err != nil {
		fmt.Fprintln(stderr, engine.FormatError(err))
		return exitUsage
	}
	dir := notify.SpoolDir(cfg.StateDir)
	entries, bad := notify.ReadSpool(dir)
	status, err := notify.ReadStatus(dir)
	code := exitOK
	if err != nil {
		fmt.Fprintln(stderr, "ptrule alerts:", err)
		code = exitFailure
	}
	for _, err := range bad {
		fmt.Fprintln(stderr, "ptrule alerts:", err)
		code = exitFailure
	}
	notify.WriteSpoolReport(stdout, entries, status, func(name string) bool {
		_, ok := cfg.channels[name]
		return ok || name == notify.LogChannelName
	})
	return code
}
