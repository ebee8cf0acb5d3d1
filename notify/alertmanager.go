package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An alertmanager channel hands ptrule's matches to a Prometheus
// Alertmanager (its /api/v2/alerts endpoint), where a fleet of servers can
// group, silence, inhibit and route them like any other alert.
// Alertmanager identifies an alert by its label set and expects it to be
// re-sent while it holds and resolved when it stops. Send posts one alert
// as firing; an AlertmanagerTracker, fed the holding matches of every
// evaluation of a rule (Dispatcher.ObserveRule), keeps each alert firing
// while its match holds and resolves it when the entity stops matching or
// disappears.

func init() {
	RegisterType(ChannelType{Name: "alertmanager", NewConfig: func() TypeConfig { return &AlertmanagerConfig{} }})
}

// alertmanagerAPIPath is what ptrule adds to each configured URL.
const alertmanagerAPIPath = "/api/v2/alerts"

// AlertmanagerSendHold is how far ahead of the alert's time an alert sent
// on its own (Send: a rule's alert action, `notify-test`) ends, unless the
// tracker keeps it firing or resolves it earlier. It is Alertmanager's own
// default resolve_timeout.
const AlertmanagerSendHold = 5 * time.Minute

// AlertmanagerHoldPeriods is how many periods of its rule a firing alert's
// endsAt lies ahead: a match seen at one evaluation stays firing in
// Alertmanager across two missed evaluations (a slow tick, a restart)
// before Alertmanager resolves it on its own.
const AlertmanagerHoldPeriods = 3

// alertmanagerMinPeriod is the least period endsAt is computed from, so
// that a rule run every second still leaves its alert a minute, more than
// any clock difference between the hosts or delay of the network.
const alertmanagerMinPeriod = 20 * time.Second

// Size limits on what ptrule puts in an alert, in bytes. Alertmanager has
// none of its own, but the notifications it sends on (mail, chat) do.
const (
	alertmanagerLabelMax      = 1024
	alertmanagerAnnotationMax = 16 << 10
	// alertmanagerPlainMax is the annotations' limit for a Plain alert.
	alertmanagerPlainMax = 4000
)

// AlertmanagerConfig is a channel of type alertmanager.
type AlertmanagerConfig struct {
	// URLs are the base URLs of the Alertmanagers, such as
	// http://alertmanager:9093; ptrule posts to URL/api/v2/alerts. Every
	// URL gets every alert: the members of an Alertmanager cluster each
	// expect the alerts (as from Prometheus), and they deduplicate the
	// notifications among themselves.
	URLs []string `yaml:"urls"`
	// Timeout bounds one attempt at one URL; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Username with Password (or PasswordFile) sends HTTP basic auth.
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// BearerToken (or BearerTokenFile) sends "Authorization: Bearer ...".
	BearerToken     Secret `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`

	// password and bearer are the secrets as Check read them.
	password, bearer Secret
}

// Check implements TypeConfig.
func (c *AlertmanagerConfig) Check(ck *Checker) {
	if len(c.URLs) == 0 {
		ck.Problem([]any{"urls"}, "an alertmanager channel needs urls: add urls: [http://alertmanager:9093]")
	}
	seen := map[string]int{}
	for i, u := range c.URLs {
		if msg := checkURL(u); msg != "" {
			ck.Problem([]any{"urls", i}, "urls[%d] %s", i, msg)
			continue
		}
		if strings.HasSuffix(strings.TrimRight(u, "/"), alertmanagerAPIPath) {
			ck.Problem([]any{"urls", i}, "urls[%d] ends in %s: give the Alertmanager's base URL (http://alertmanager:9093); ptrule adds %s", i, alertmanagerAPIPath, alertmanagerAPIPath)
			continue
		}
		if j, dup := seen[strings.TrimRight(u, "/")]; dup {
			ck.Problem([]any{"urls", i}, "urls[%d] is urls[%d] again: list each Alertmanager once", i, j)
			continue
		}
		seen[strings.TrimRight(u, "/")] = i
	}
	c.password = ck.Secret("password", c.Password, "password_file", c.PasswordFile)
	c.bearer = ck.Secret("bearer_token", c.BearerToken, "bearer_token_file", c.BearerTokenFile)
	passwordKey := "password"
	if c.PasswordFile != "" {
		passwordKey = "password_file"
	}
	switch {
	case c.Username != "" && !ck.node.Has("password") && !ck.node.Has("password_file"):
		ck.Problem([]any{"username"}, "username needs password_file (or password) for basic auth: add it, or remove username")
	case c.Username == "" && (ck.node.Has("password") || ck.node.Has("password_file")):
		ck.Problem([]any{passwordKey}, "%s needs username for basic auth: add username", passwordKey)
	}
	if !validHeaderValue(c.Username) || strings.Contains(c.Username, ":") {
		ck.Problem([]any{"username"}, "username must be on one line and hold no colon (HTTP basic auth cannot carry it)")
	}
	bearerKey := "bearer_token"
	if c.BearerTokenFile != "" {
		bearerKey = "bearer_token_file"
	}
	if c.Username != "" && (ck.node.Has("bearer_token") || ck.node.Has("bearer_token_file")) {
		ck.Problem([]any{bearerKey}, "give basic auth (username, password_file) or %s, not both", bearerKey)
	}
	if !validHeaderValue(c.bearer.Reveal()) {
		ck.Problem([]any{bearerKey}, "the bearer token holds a line break or control character: put it on one line")
	}
}

// Channel implements TypeConfig.
func (c *AlertmanagerConfig) Channel(Env) Channel {
	ch := &AlertmanagerChannel{
		header:  http.Header{},
		client:  newHTTPClient(),
		timeout: orDefaultTimeout(c.Timeout),
		tracker: NewAlertmanagerTracker(),
	}
	if c.Username != "" {
		ch.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.password.Reveal())))
	}
	if c.bearer != "" {
		ch.header.Set("Authorization", "Bearer "+c.bearer.Reveal())
	}
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			continue // Check reported it; Channel is not called then
		}
		name := fmt.Sprintf("Alertmanager urls[%d] (%s://%s)", i, u.Scheme, u.Host)
		ch.targets = append(ch.targets, alertmanagerTarget{what: name, url: u.JoinPath(alertmanagerAPIPath).String()})
	}
	return ch
}

// alertmanagerTarget is one Alertmanager: its endpoint and how errors
// name it (scheme and host only: a URL's user, path or query may hold a
// secret).
type alertmanagerTarget struct {
	what string
	url  string
}

// AlertmanagerChannel posts alerts to one or more Alertmanagers. It is
// safe for concurrent use.
type AlertmanagerChannel struct {
	targets []alertmanagerTarget
	header  http.Header
	client  *http.Client
	timeout time.Duration
	tracker *AlertmanagerTracker
}

// Send implements Channel: it posts a as one firing alert, starting at
// a.Time and ending AlertmanagerSendHold later, to every URL. The
// tracker, when the daemon feeds it, keeps the same alert (the same
// labels) firing past that and resolves it when its match ends.
func (c *AlertmanagerChannel) Send(ctx context.Context, a Alert) error {
	start := a.Time
	if start.IsZero() {
		start = time.Now()
	}
	limit := alertmanagerAnnotationMax
	if a.Plain {
		limit = alertmanagerPlainMax
	}
	pa := PostableAlert{
		Labels:      AlertmanagerLabels(a),
		Annotations: alertmanagerAnnotations(a, limit),
		StartsAt:    amTime(start),
		EndsAt:      amTime(start.Add(AlertmanagerSendHold)),
	}
	return c.Post(ctx, []PostableAlert{pa})
}

// Observe hands the channel's tracker one evaluation of rule: see
// AlertmanagerTracker.Observe. Post the result.
func (c *AlertmanagerChannel) Observe(rule string, period time.Duration, holding []Alert, now time.Time) []PostableAlert {
	return c.tracker.Observe(rule, period, holding, now)
}

// Post sends alerts, as one JSON array, to every URL at once, one attempt
// each within the channel's timeout. It succeeds when every URL accepted
// them. Otherwise the error names each URL that failed, and is Temporary
// when any failure may pass later (the delivery layer then posts to every
// URL again, which Alertmanager takes as the same alerts), Rejected when
// a URL refused the alerts themselves, Permanent otherwise. No alerts is
// no request.
func (c *AlertmanagerChannel) Post(ctx context.Context, alerts []PostableAlert) error {
	if len(alerts) == 0 {
		return nil
	}
	errs := make([]error, len(c.targets))
	var wg sync.WaitGroup
	for i, t := range c.targets {
		wg.Go(func() {
			r, err := postJSON(ctx, c.client, c.timeout, t.what, t.url, c.header, alerts)
			if err == nil {
				err = classifyStatus(t.what, r, "", 0)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return joinSendErrors(errs)
}

// joinSendErrors joins the failures among errs (nil ones succeeded) into
// one error classified by the most hopeful of them: Temporary (with the
// longest wait asked for) if any may pass later, else Rejected if any
// refused the message, else Permanent. One failure is returned as it is.
func joinSendErrors(errs []error) error {
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	var msgs []string
	retry, rejected := false, false
	var after time.Duration
	for _, err := range failed {
		se := Classify(err)
		retry = retry || se.Retry
		rejected = rejected || se.Rejected
		after = max(after, se.RetryAfter)
		// The inner error's text: each classification is said once, below.
		msgs = append(msgs, se.Err.Error())
	}
	err := errors.New(strings.Join(msgs, "; "))
	switch {
	case retry:
		return Temporary(err, after)
	case rejected:
		return Rejected(err)
	}
	return Permanent(err)
}

// PostableAlert is one alert as Alertmanager's API v2 takes it (its
// postableAlert). An alert whose EndsAt is not after the Alertmanager's
// clock is resolved.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Resolved reports whether the alert ends at or before now.
func (p PostableAlert) Resolved(now time.Time) bool { return !p.EndsAt.After(now) }

// amTime is t as ptrule sends it: UTC, to the millisecond that
// Alertmanager keeps.
func amTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// AlertmanagerLabels returns the label set that identifies a in
// Alertmanager: alertname (the rule), severity, instance (the host), and
// pid, user and sid where a has them, over a.Labels. A label of a.Labels
// cannot replace one of those. Label names are made valid for Prometheus
// (any character outside [a-zA-Z0-9_] becomes "_", and a leading digit
// gets a "_" before it); values lose control characters and line breaks
// and are cut to alertmanagerLabelMax bytes; a label with an empty value
// is left out, as Alertmanager treats it as absent.
func AlertmanagerLabels(a Alert) map[string]string {
	labels := map[string]string{}
	set := func(name, value string) {
		if v := labelValue(value); v != "" {
			labels[name] = v
		} else {
			delete(labels, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(a.Labels)) {
		if n := labelName(name); n != "" {
			set(n, a.Labels[name])
		}
	}
	set("alertname", a.Rule)
	set("severity", a.Severity)
	set("instance", a.Host)
	for _, n := range []struct {
		name string
		v    int
	}{{"pid", a.PID}, {"sid", a.SID}} {
		if n.v != 0 {
			set(n.name, strconv.Itoa(n.v))
		} else {
			delete(labels, n.name)
		}
	}
	set("user", a.User)
	return labels
}

// labelName returns name as a valid Prometheus label name, or "" for an
// empty name.
func labelName(name string) string {
	if name == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else if c < 0x80 || c >= 0xc0 {
			// One "_" per character: continuation bytes add none.
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out != "" && out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

// labelValue returns v fit for a label: one line of valid UTF-8 without
// control characters, at most alertmanagerLabelMax bytes.
func labelValue(v string) string {
	oneLine := func(s string) (string, int) {
		r, n := decodeClean(s)
		if r == '\n' || r == '\t' {
			return " ", n
		}
		return string(r), n
	}
	out, _ := escapeLimit(v, oneLine, byteLen, alertmanagerLabelMax)
	return strings.TrimSpace(out)
}

// alertmanagerAnnotations returns a's summary (its subject) and
// description (its message), cleaned of control characters and cut to
// limit bytes each. An empty one is left out.
func alertmanagerAnnotations(a Alert, limit int) map[string]string {
	ann := map[string]string{}
	for name, text := range map[string]string{"summary": a.Subject, "description": a.Message} {
		if v, _ := escapeLimit(text, plainEscape, byteLen, limit); v != "" {
			ann[name] = v
		}
	}
	return ann
}

// AlertmanagerTracker follows which alerts of each rule are firing in
// Alertmanager, so that each one is re-sent while its match holds and
// resolved when it stops. It is a pure state machine: it sends nothing
// and reads no clock, the caller passes the time. It is safe for
// concurrent use. An alert is known by its label set, as Alertmanager
// knows it: a process whose PID is reused by a new process matching the
// same rule continues the same alert.
type AlertmanagerTracker struct {
	mu sync.Mutex
	// firing holds, per rule, each firing alert as last returned, by its
	// labels' fingerprint.
	firing map[string]map[string]PostableAlert
}

// NewAlertmanagerTracker returns a tracker that knows of no alert.
func NewAlertmanagerTracker() *AlertmanagerTracker {
	return &AlertmanagerTracker{firing: map[string]map[string]PostableAlert{}}
}

// Observe takes one evaluation of rule, run every period, at now: holding
// are all its matches that hold, fired or held back by suppression (their
// Rule fields are taken as rule). It returns the alerts to post: each
// holding one firing, with the startsAt of its first evaluation and
// endsAt AlertmanagerHoldPeriods periods (of at least 20s) after now, in
// the order of holding; then each alert of rule it returned firing before
// that no longer holds, resolved (endsAt now, labels, annotations and
// startsAt as last sent), in the order of their labels. Matches with the
// same labels are one alert: the first one counts.
//
// Call it after every evaluation of every rule, with holding empty when
// nothing matches, so that what ended is resolved; not after an
// evaluation that failed, which says nothing of what holds. A rule that
// no longer exists is resolved by one last call with holding empty.
func (t *AlertmanagerTracker) Observe(rule string, period time.Duration, holding []Alert, now time.Time) []PostableAlert {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.firing[rule]
	after := make(map[string]PostableAlert, len(holding))
	ends := amTime(now.Add(AlertmanagerHoldPeriods * max(period, alertmanagerMinPeriod)))
	var out []PostableAlert
	for _, a := range holding {
		a.Rule = rule
		labels := AlertmanagerLabels(a)
		fp := fingerprint(labels)
		if _, dup := after[fp]; dup {
			continue
		}
		pa := PostableAlert{
			Labels:      labels,
			Annotations: alertmanagerAnnotations(a, alertmanagerAnnotationMax),
			StartsAt:    amTime(now),
			EndsAt:      ends,
		}
		if prev, ok := before[fp]; ok && !prev.StartsAt.After(now) {
			pa.StartsAt = prev.StartsAt
		}
		after[fp] = pa
		out = append(out, pa)
	}
	for _, fp := range slices.Sorted(maps.Keys(before)) {
		if _, holds := after[fp]; holds {
			continue
		}
		pa := before[fp]
		pa.EndsAt = amTime(now)
		// A clock stepped back must not give an alert that ends before it
		// starts, which Alertmanager refuses.
		if pa.StartsAt.After(pa.EndsAt) {
			pa.StartsAt = pa.EndsAt
		}
		out = append(out, pa)
	}
	if len(after) == 0 {
		delete(t.firing, rule)
	} else {
		t.firing[rule] = after
	}
	return out
}

// Firing returns how many alerts of rule are firing as far as t knows.
func (t *AlertmanagerTracker) Firing(rule string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.firing[rule])
}

// fingerprint identifies a label set: its JSON, whose keys encoding/json
// sorts.
func fingerprint(labels map[string]string) string {
	b, _ := json.Marshal(labels)
	return string(b)
}

// AlertLifecycle is a channel that follows each match while it holds
// rather than alerting once: the alertmanager type.
type AlertLifecycle interface {
	Channel
	Observe(rule string, period time.Duration, holding []Alert, now time.Time) []PostableAlert
	Post(ctx context.Context, alerts []PostableAlert) error
}

// HoldingAlert is one match of a rule that holds, fired or suppressed, as
// its alert action would send it, with the channels that action names
// (empty: the default channels).
type HoldingAlert struct {
	Alert    Alert
	Channels []string
}

// ObserveRule hands one evaluation of rule, run every period, to every
// channel that follows alerts while they hold (AlertLifecycle: the
// alertmanager channels), and posts what each returns. Each such channel
// is given the holding alerts routed to it as Dispatch would route them
// (the alert's channels, or the defaults; not below its min_severity),
// and is called even when none is, so that an alert routed to it before
// is resolved. It returns one Result per channel that had something to
// post, by channel name. See AlertmanagerTracker.Observe for when to
// call it.
func (d *Dispatcher) ObserveRule(ctx context.Context, rule string, period time.Duration, holding []HoldingAlert, now time.Time) []Result {
	resolved := d.resolve(ctx, rule, holding, now)
	var names []string
	for _, name := range d.Names() {
		if _, ok := lifecycleOf(d.channels[name]); ok {
			names = append(names, name)
		}
	}
	type post struct {
		name   string
		lc     AlertLifecycle
		alerts []PostableAlert
	}
	var posts []post
	for _, name := range names {
		lc, _ := lifecycleOf(d.channels[name])
		var mine []Alert
		for _, h := range holding {
			if send, _ := d.Route(h.Alert.Severity, h.Channels); slices.Contains(send, name) {
				mine = append(mine, h.Alert)
			}
		}
		if alerts := lc.Observe(rule, period, mine, now); len(alerts) > 0 {
			posts = append(posts, post{name, lc, alerts})
		}
	}
	res := make([]Result, len(posts))
	var wg sync.WaitGroup
	for i, p := range posts {
		name, lc, alerts := p.name, p.lc, p.alerts
		res[i].Channel = name
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					res[i].Err = fmt.Errorf("channel %q panicked: %v", name, p)
				}
			}()
			if err := lc.Post(ctx, alerts); err != nil {
				res[i].Err = fmt.Errorf("channel %q: %w", name, err)
			}
		})
	}
	wg.Wait()
	return append(resolved, res...)
}

// Follows reports whether any channel follows alerts while they hold (an
// alertmanager channel, or one with send_resolved), so that ObserveRule is
// worth calling.
func (d *Dispatcher) Follows() bool {
	for _, ch := range d.channels {
		if _, ok := lifecycleOf(ch); ok || sendsResolved(ch) {
			return true
		}
	}
	return false
}

// sendsResolved reports whether ch is configured with send_resolved.
func sendsResolved(ch Channel) bool {
	c, ok := ch.(*configured)
	return ok && c.sendResolved
}

// resolve sends a resolved message, through the queue like any alert, to
// each send_resolved channel for every alert routed to it at the rule's
// last observation that no longer holds, and remembers what holds now.
// An alertmanager channel resolves its own alerts in ObserveRule.
func (d *Dispatcher) resolve(ctx context.Context, rule string, holding []HoldingAlert, now time.Time) []Result {
	d.resolvedMu.Lock()
	defer d.resolvedMu.Unlock()
	if d.holding == nil {
		d.holding = map[[2]string]map[string]Alert{}
	}
	var res []Result
	for _, name := range d.Names() {
		ch := d.channels[name]
		if _, lc := lifecycleOf(ch); lc || !sendsResolved(ch) {
			continue
		}
		cur := map[string]Alert{}
		for _, h := range holding {
			if send, _ := d.Route(h.Alert.Severity, h.Channels); slices.Contains(send, name) {
				cur[h.Alert.Key] = h.Alert
			}
		}
		k := [2]string{name, rule}
		for key, a := range d.holding[k] {
			if _, still := cur[key]; !still {
				res = append(res, d.Dispatch(ctx, resolvedAlert(a, now), []string{name})...)
			}
		}
		d.holding[k] = cur
	}
	return res
}

// resolvedAlert is the message that says a fired alert's match no longer
// holds, as of when.
func resolvedAlert(a Alert, when time.Time) Alert {
	a.Resolved = true
	a.Subject = "Resolved: " + a.Subject
	a.Message = fmt.Sprintf("The match no longer holds as of %s (the entity stopped matching, or is gone). The alert was:\n\n%s",
		when.UTC().Format(time.RFC3339), a.Message)
	a.Time = when
	a.Suppressed, a.Outcomes = 0, nil
	return a
}

// lifecycleOf returns ch as an AlertLifecycle, looking through the
// wrapper of a channel's common settings.
func lifecycleOf(ch Channel) (AlertLifecycle, bool) {
	if m, ok := ch.(*configured); ok {
		ch = m.Channel
	}
	lc, ok := ch.(AlertLifecycle)
	return lc, ok
}
