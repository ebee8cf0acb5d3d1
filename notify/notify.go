// Package notify is where alerts leave the host. A Dispatcher hands each
// alert to named Channels; the log channel always exists, and the email,
// Slack, webhook and Alertmanager channels plug in as more Channels.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// LogChannelName is the name of the channel that writes alerts to ptrule's
// log (stderr, hence the journal). It always exists.
const LogChannelName = "log"

// ErrUnknownChannel marks an alert sent to a channel name the Dispatcher
// does not know.
var ErrUnknownChannel = errors.New("unknown channel")

// Alert is one rendered alert, as a rule's alert action produced it.
type Alert struct {
	// Rule is the name of the rule that fired.
	Rule string
	// Severity is info, warning or critical.
	Severity string
	// Subject and Message are the rendered templates.
	Subject string
	Message string
	// Host is the name of the host the alert is about.
	Host string
	// Key is the identity of the entity that matched (the suppression key).
	Key string
	// Time is when the match was seen: the snapshot's time.
	Time time.Time
	// PID, User and SID name the entity, when the rule's scope has one;
	// zero values mean unset.
	PID  int
	User string
	SID  int
	// Labels are extra name/value pairs for channels that carry them
	// (Alertmanager labels, webhook fields).
	Labels map[string]string
	// Plain asks the channel for plain text without markup, shortened to
	// well within its limits: the second try of an alert whose first was
	// Rejected.
	Plain bool
	// Suppressed is how many matches of the same rule and key were
	// suppressed since the previous alert; Dispatch adds a line saying so
	// to the message.
	Suppressed int `json:",omitempty"`
	// Scope is the rule's scope: process, user, session or host.
	Scope string `json:",omitempty"`
	// Resolved marks the message that says an alert's match no longer
	// holds (send_resolved).
	Resolved bool `json:",omitempty"`
	// Facts are the matched entity's facts (process, user, session or
	// host) as rule templates read them, each string capped and escaped
	// for display: what a webhook carries as data.
	Facts map[string]any `json:",omitempty"`
	// Outcomes are what the rule's actions before the alert did (kill,
	// run), as templates read .outcome.
	Outcomes map[string]any `json:",omitempty"`
}

// Channel delivers alerts to one destination. It is declared here because
// the Dispatcher consumes it. Send must honour ctx and be safe for
// concurrent use.
type Channel interface {
	Send(ctx context.Context, a Alert) error
}

// Result is the outcome of sending one alert to one channel.
type Result struct {
	// Channel is the channel name, as asked for.
	Channel string
	// Err is nil when the channel accepted the alert.
	Err error
	// Skipped is set when the alert is below the channel's min_severity:
	// it was not sent, which is not an error.
	Skipped bool
	// Queued is set when the Dispatcher is started and the alert is in
	// the channel's queue (and spool): it will be delivered, so the
	// match may be silenced.
	Queued bool
}

// Dispatcher sends alerts to named channels. Before Start, Dispatch sends
// at once and waits (one attempt per channel); after Start, it queues the
// alert for each channel's sender and returns at once (queue.go). It is
// safe for concurrent use.
type Dispatcher struct {
	channels map[string]Channel
	defaults []string
	redact   *Redactor
	log      *slog.Logger
	spoolDir string
	delivery

	// holding are, by channel and rule, the alerts that held at the last
	// ObserveRule, by key: for channels with send_resolved.
	resolvedMu sync.Mutex
	holding    map[[2]string]map[string]Alert
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithRedactor masks secrets with r instead of the DefaultRedactions
// alone.
func WithRedactor(r *Redactor) Option { return func(d *Dispatcher) { d.redact = r } }

// WithLog makes the Dispatcher log delivery failures and drops to l
// instead of slog.Default().
func WithLog(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithSpool keeps queued alerts in the spool directory dir (SpoolDir of
// the state_dir) from Start on, so that a restart or a crash loses none,
// with the channels' delivery status beside them.
func WithSpool(dir string) Option { return func(d *Dispatcher) { d.spoolDir = dir } }

// NewDispatcher returns a Dispatcher over channels. The log channel is
// added, writing to slog.Default(), when channels has no "log" entry.
// defaults are the channels of an alert that names none; when defaults is
// empty they are just "log", so an alert always leaves a trace. The map and
// slice are copied. Secrets are masked with the DefaultRedactions unless an
// option says otherwise.
func NewDispatcher(channels map[string]Channel, defaults []string, opts ...Option) *Dispatcher {
	d := &Dispatcher{channels: make(map[string]Channel, len(channels)+1)}
	d.redact, _ = NewRedactor(nil)
	for _, o := range opts {
		o(d)
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	for name, ch := range channels {
		if ch != nil {
			d.channels[name] = ch
		}
	}
	if _, ok := d.channels[LogChannelName]; !ok {
		d.channels[LogChannelName] = NewLogChannel(nil)
	}
	d.defaults = dedupe(defaults)
	if len(d.defaults) == 0 {
		d.defaults = []string{LogChannelName}
	}
	return d
}

// Names returns the names of the channels, sorted.
func (d *Dispatcher) Names() []string {
	return slices.Sorted(maps.Keys(d.channels))
}

// Defaults returns the channels of an alert that names none.
func (d *Dispatcher) Defaults() []string { return slices.Clone(d.defaults) }

// Route returns the channels an alert of severity asked for channels goes
// to (the defaults when channels is empty; a name given twice once, in
// order), and those it skips because it is below their min_severity.
// Unknown names are in send: Dispatch reports them.
func (d *Dispatcher) Route(severity string, channels []string) (send, skip []string) {
	names := dedupe(channels)
	if len(names) == 0 {
		names = d.defaults
	}
	for _, name := range names {
		if f, ok := d.channels[name].(severityFilter); ok && !f.takes(severity) {
			skip = append(skip, name)
			continue
		}
		send = append(send, name)
	}
	return send, skip
}

// severityFilter is a channel that takes only some severities.
type severityFilter interface {
	takes(severity string) bool
}

// Dispatch hands a, its secrets masked and its Suppressed count written
// into its message, to each named channel (the defaults when channels is
// empty; a name given twice once) and returns one Result per channel, in
// the order asked. A channel whose min_severity a is below gets a Result
// with Skipped set; an unknown name a Result wrapping ErrUnknownChannel.
//
// After Start, each other channel gets the alert in its queue and spool
// (Result.Queued), or an error when it could not be queued; Dispatch does
// not wait for any delivery. Before Start (and after Stop), Dispatch is
// SendNow.
func (d *Dispatcher) Dispatch(ctx context.Context, a Alert, channels []string) []Result {
	a = d.redact.Alert(withSuppressed(a))
	if res, ok := d.enqueue(a, channels); ok {
		return res
	}
	return d.sendNow(ctx, a, channels)
}

// SendNow sends a, its secrets masked, to each named channel as Dispatch
// names them, at once: one attempt per channel, without queue, spool or
// digest, and returns when all are done. Channels are sent to
// concurrently, so a slow one does not delay the others. A channel that
// panics gives a Result with the panic as its error. It is what
// `ptrule notify-test` uses.
func (d *Dispatcher) SendNow(ctx context.Context, a Alert, channels []string) []Result {
	return d.sendNow(ctx, d.redact.Alert(withSuppressed(a)), channels)
}

// Probe is SendNow to channels whatever their min_severity: what
// `ptrule notify-test` sends its test alert with.
func (d *Dispatcher) Probe(ctx context.Context, a Alert, channels []string) []Result {
	return d.sendTo(ctx, d.redact.Alert(a), channels, false)
}

func (d *Dispatcher) sendNow(ctx context.Context, a Alert, channels []string) []Result {
	return d.sendTo(ctx, a, channels, true)
}

func (d *Dispatcher) sendTo(ctx context.Context, a Alert, channels []string, filter bool) []Result {
	names := dedupe(channels)
	if len(names) == 0 {
		names = d.defaults
	}
	res := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		res[i].Channel = name
		ch, ok := d.channels[name]
		if f, filters := ch.(severityFilter); filter && filters && !f.takes(a.Severity) {
			res[i].Skipped = true
			continue
		}
		if !ok {
			res[i].Err = fmt.Errorf("%w %q: define it under channels: in the config, or fix the alert action (known: %v)", ErrUnknownChannel, name, d.Names())
			continue
		}
		wg.Go(func() { res[i].Err = send(ctx, ch, name, a) })
	}
	wg.Wait()
	return res
}

// send calls ch.Send through sendOnce, naming the channel in the error.
func send(ctx context.Context, ch Channel, name string, a Alert) error {
	if err := sendOnce(ctx, ch, name, a); err != nil {
		return fmt.Errorf("channel %q: %w", name, err)
	}
	return nil
}

// sendOnce calls ch.Send, turning a panic into an error so that one
// faulty channel cannot take the daemon down.
func sendOnce(ctx context.Context, ch Channel, name string, a Alert) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("channel %q panicked: %v", name, p)
		}
	}()
	return ch.Send(ctx, a)
}

// dedupe returns names without empty strings and repeats, in order.
func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
