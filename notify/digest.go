package notify

import (
	"fmt"
	"strings"
)

const (
	// digestInFull is how many alerts of a digest it carries in full,
	// after the list of all their subjects.
	digestInFull = 3
	// maxDigest is the most alerts one digest message lists; more
	// waiting make several digests.
	maxDigest = 500
)

// digest returns the one message that stands for entries (two or more):
// a subject counting them, then one line per alert (its subject), then
// the first digestInFull in full. why says why they come together. The
// digest's severity is the highest of its alerts'.
func digest(entries []*SpoolEntry, why string) Alert {
	first := entries[0].Alert
	d := Alert{Rule: first.Rule, Severity: first.Severity, Host: first.Host, Time: first.Time}
	rules := map[string]bool{}
	for _, e := range entries {
		a := e.Alert
		rules[a.Rule] = true
		if severityRank(a.Severity) > severityRank(d.Severity) {
			d.Severity = a.Severity
		}
		if a.Time.After(d.Time) {
			d.Time = a.Time
		}
		if a.Host != d.Host {
			d.Host = ""
		}
	}
	if len(rules) > 1 {
		d.Rule = "digest"
	}
	d.Labels = map[string]string{"digest": fmt.Sprint(len(entries))}
	d.Subject = fmt.Sprintf("%d alerts", len(entries))
	if d.Host != "" {
		d.Subject += " on " + d.Host
	}
	if len(rules) == 1 {
		d.Subject += " from rule " + d.Rule
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d alerts, sent as one message because %s.\n\n", len(entries), why)
	for _, e := range entries {
		fmt.Fprintf(&b, "- [%s] %s\n", e.Alert.Severity, oneLine(e.Alert.Subject))
	}
	for i, e := range entries[:min(digestInFull, len(entries))] {
		fmt.Fprintf(&b, "\n--- %d of %d: %s\n%s\n", i+1, len(entries), oneLine(e.Alert.Subject), e.Alert.Message)
	}
	d.Message = strings.TrimRight(b.String(), "\n")
	return d
}

// oneLine puts s on one line, so that a subject cannot forge lines of a
// digest's list.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// withSuppressed returns a with its message saying how many matches were
// suppressed since the alert before it, when there were any.
func withSuppressed(a Alert) Alert {
	if a.Suppressed > 0 {
		word := "matches were"
		if a.Suppressed == 1 {
			word = "match was"
		}
		a.Message = fmt.Sprintf("%s\n\n(%d more %s suppressed since the previous alert of this rule for the same key.)", a.Message, a.Suppressed, word)
	}
	return a
}
