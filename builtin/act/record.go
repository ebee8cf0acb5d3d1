package act

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"ptrule/engine"
)

// Record is a Result as data: one line of `scan --format json` (contract
// §5). The text of WriteText is made from the same fields.
type Record struct {
	Rule     string         `json:"rule"`
	Scope    string         `json:"scope"`
	Key      string         `json:"key"`
	PID      *int           `json:"pid,omitempty"`
	User     *string        `json:"user,omitempty"`
	SID      *int           `json:"sid,omitempty"`
	Severity string         `json:"severity"`
	Status   string         `json:"status"`
	Subject  string         `json:"subject"`
	Message  string         `json:"message"`
	Actions  []ActionResult `json:"actions"`
	// SuppressedBy is set for a suppressed match: the key whose mark
	// silenced it, which another entity's match may have recorded.
	SuppressedBy *suppressedBy `json:"suppressed_by,omitempty"`
}

// suppressedBy is the mark that silenced a match.
type suppressedBy struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
	// MonitorRepeat reports a mark of monitor_repeat: in monitor mode, the
	// match's kill or run was reported at Until minus monitor_repeat.
	MonitorRepeat bool `json:"monitor_repeat,omitempty"`
}

// Record returns the result as data.
func (o *Result) Record() Record {
	j := Record{
		Rule: o.Rule.Name, Scope: string(o.Rule.Scope), Key: o.Key, Severity: string(o.Rule.Severity),
		Status: string(o.Status), Subject: o.Subject, Message: o.Message, Actions: o.Actions,
	}
	if j.Actions == nil {
		j.Actions = []ActionResult{}
	}
	if o.Status == engine.StatusSuppressed {
		j.SuppressedBy = &suppressedBy{Key: o.SuppressedBy, Until: o.Until, MonitorRepeat: o.ByMonitor}
	}
	switch {
	case o.Proc != nil:
		j.PID, j.User = &o.Proc.PID, &o.Proc.User
	case o.User != nil:
		j.User = &o.User.Name
	case o.Session != nil:
		j.SID = &o.Session.SID
	}
	return j
}

// WriteJSON writes the result's Record as one line of JSON.
func (o *Result) WriteJSON(w io.Writer) {
	b, _ := json.Marshal(o.Record())
	fmt.Fprintf(w, "%s\n", b)
}

// WriteText writes the result for people: a line for the match and one per
// action.
func (o *Result) WriteText(w io.Writer) {
	status := "FIRED"
	if o.Status == engine.StatusSuppressed {
		status = "suppressed until " + o.Until.Format(time.RFC3339) + " by key " + DisplayKey(o.SuppressedBy)
		if o.ByMonitor {
			status += " (monitor_repeat)"
		}
	}
	fmt.Fprintf(w, "%s %s [%s] %s: %s\n", o.Rule.Name, o.Entity(), o.Rule.Severity, status, o.Subject)
	for _, r := range o.Actions {
		fmt.Fprintf(w, "    %-8s %-8s %s", r.Kind, r.Result, r.Detail)
		if r.Error != "" {
			fmt.Fprintf(w, " (%s)", r.Error)
		}
		fmt.Fprintln(w)
	}
}

// Summary says in one line what each action did: "kill:ok, alert:ok,
// run:error (exit status 1)".
func (o *Result) Summary() string {
	parts := make([]string, len(o.Actions))
	for i, r := range o.Actions {
		parts[i] = r.Kind + ":" + r.Result
		if r.Error != "" {
			parts[i] += " (" + r.Error + ")"
		}
	}
	return strings.Join(parts, ", ")
}
