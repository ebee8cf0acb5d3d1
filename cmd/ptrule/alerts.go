package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

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
	writeAlerts(stdout, entries, status, cfg)
	return code
}

// writeAlerts prints the spooled entries, oldest first, then each
// channel's status. Alert text is process-controlled: it is shown through
// engine.Display, one line each.
func writeAlerts(w io.Writer, entries []*notify.SpoolEntry, status map[string]*notify.ChannelStatus, cfg *Config) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No alerts waiting for delivery.")
	} else {
		fmt.Fprintf(w, "%d alerts waiting for delivery (kept at most %s, then dropped):\n", len(entries), notify.MaxAlertAge)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  QUEUED\tCHANNEL\tSEVERITY\tRULE\tSUBJECT")
		for _, e := range entries {
			note := ""
			if _, ok := cfg.channels[e.Channel]; !ok && e.Channel != notify.LogChannelName {
				note = " (channel not configured)"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\t%s\t%s\t%s\n", e.Queued.UTC().Format(time.RFC3339), engine.Display(e.Channel), note,
				engine.Display(e.Alert.Severity), engine.Display(e.Alert.Rule), engine.Display(e.Alert.Subject))
		}
		tw.Flush()
	}
	if len(status) == 0 {
		return
	}
	fmt.Fprintln(w, "\nChannels:")
	for _, name := range slices.Sorted(maps.Keys(status)) {
		st := status[name]
		fmt.Fprintf(w, "  %s: delivered %d, dropped %d", engine.Display(name), st.Delivered, st.Dropped)
		if !st.LastDelivered.IsZero() {
			fmt.Fprintf(w, ", last delivered %s", st.LastDelivered.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
		if st.LastError != "" {
			fmt.Fprintf(w, "    last failure %s: %s\n", st.LastErrorAt.UTC().Format(time.RFC3339), engine.Display(st.LastError))
		}
		if st.LastDrop != "" {
			fmt.Fprintf(w, "    last dropped: %s\n", engine.Display(st.LastDrop))
		}
	}
}
