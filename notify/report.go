package notify

import (
	"fmt"
	"io"
	"maps"
	"ptrule/engine"
	"slices"
	"text/tabwriter"
	"time"
)

// WriteSpoolReport prints, for `ptrule alerts`, the spooled entries,
// oldest first, then each channel's delivery status. configured says
// whether the config still has a channel. Alert text is
// process-controlled: it is shown through engine.Display, one line each.
func WriteSpoolReport(w io.Writer, entries []*SpoolEntry, status map[string]*ChannelStatus, configured func(name string) bool) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No alerts waiting for delivery.")
	} else {
		fmt.Fprintf(w, "%d alerts waiting for delivery (kept at most %s, then dropped):\n", len(entries), MaxAlertAge)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  QUEUED\tCHANNEL\tSEVERITY\tRULE\tSUBJECT")
		for _, e := range entries {
			note := ""
			if !configured(e.Channel) {
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
