package notify

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// WebhookConfig is a channel of type webhook: each alert is POSTed as one
// JSON document (WebhookPayload) to url.
type WebhookConfig struct {
	// URL is where alerts are POSTed.
	URL string `yaml:"url"`
	// URLFile names a file holding the URL, for a URL that carries a
	// secret.
	URLFile string `yaml:"url_file"`
	// Headers are extra request headers, name to value, written in the
	// config.
	Headers map[string]string `yaml:"headers"`
	// HeadersFiles are extra request headers whose values are secrets:
	// name to the file that holds the value (Authorization: a file with
	// "Bearer ...").
	HeadersFiles map[string]string `yaml:"headers_files"`
	// Timeout bounds one attempt; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// webhookReservedHeaders are set by ptrule itself or by HTTP.
var webhookReservedHeaders = []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection"}

// Check returns what is wrong with c, each problem naming its key.
func (c *WebhookConfig) Check() []FieldProblem {
	var ps []FieldProblem
	switch {
	case c.URL == "" && c.URLFile == "":
		ps = append(ps, FieldProblem{"url", "a webhook channel needs url (or url_file)"})
	case c.URL != "" && c.URLFile != "":
		ps = append(ps, FieldProblem{"url", "give url or url_file, not both"})
	case c.URL != "":
		if msg := checkURL(c.URL); msg != "" {
			ps = append(ps, FieldProblem{"url", msg})
		}
	}
	seen := map[string]string{}
	check := func(key string, m map[string]string) {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			canon := http.CanonicalHeaderKey(name)
			switch {
			case !validHeaderName(name):
				ps = append(ps, FieldProblem{key, fmt.Sprintf("%q is not a valid header name", name)})
			case slices.Contains(webhookReservedHeaders, canon):
				ps = append(ps, FieldProblem{key, fmt.Sprintf("header %s is set by ptrule and cannot be given", canon)})
			case seen[canon] != "":
				ps = append(ps, FieldProblem{key, fmt.Sprintf("header %s is given twice (also in %s)", canon, seen[canon])})
			default:
				seen[canon] = key
			}
		}
	}
	check("headers", c.Headers)
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if !validHeaderValue(c.Headers[name]) {
			ps = append(ps, FieldProblem{"headers", fmt.Sprintf("the value of header %s holds a line break or control character", name)})
		}
	}
	check("headers_files", c.HeadersFiles)
	return append(ps, checkTimeout(c.Timeout)...)
}

// WebhookChannel POSTs alerts as JSON. It is safe for concurrent use.
type WebhookChannel struct {
	url     string
	header  http.Header
	client  *http.Client
	timeout time.Duration
}

// NewWebhook checks cfg, reads its secret files (url_file, headers_files)
// through readSecret and returns the channel.
func NewWebhook(cfg WebhookConfig, readSecret func(path string) ([]byte, error)) (*WebhookChannel, error) {
	if err := firstProblem(cfg.Check()); err != nil {
		return nil, err
	}
	c := &WebhookChannel{url: cfg.URL, header: http.Header{}, client: newHTTPClient(), timeout: orDefaultTimeout(cfg.Timeout)}
	if cfg.URLFile != "" {
		u, err := readSecretFile(readSecret, "url_file", cfg.URLFile)
		if err != nil {
			return nil, err
		}
		if msg := checkURL(u); msg != "" {
			return nil, fmt.Errorf("url_file: the URL in %s %s", cfg.URLFile, msg)
		}
		c.url = u
	}
	for name, v := range cfg.Headers {
		c.header.Set(name, v)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.HeadersFiles)) {
		path := cfg.HeadersFiles[name]
		v, err := readSecretFile(readSecret, "headers_files", path)
		if err != nil {
			return nil, err
		}
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("headers_files: %s (header %s) holds a line break or control character: put the value on one line", path, http.CanonicalHeaderKey(name))
		}
		c.header.Set(name, v)
	}
	return c, nil
}

// WebhookSchemaVersion is the version of WebhookPayload. It changes only
// when a field is removed, renamed or changes meaning or type; new fields
// are added within a version, so a consumer must ignore fields it does
// not know.
const WebhookSchemaVersion = 1

// WebhookPayload is the JSON document a webhook channel POSTs: version 1
// of the schema the README documents. Reserved for later within version
// 1: "scope" (the rule's scope), "outcomes" (the results of the rule's
// other actions) and "facts" (the entity's facts), each an object or
// array, added when ptrule's alerts carry them.
type WebhookPayload struct {
	Version  int    `json:"version"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Host     string `json:"host"`
	// Key is the identity of the entity that matched.
	Key string `json:"key"`
	// Time is when the match was seen, RFC 3339 in UTC.
	Time    time.Time `json:"time"`
	Subject string    `json:"subject"`
	Message string    `json:"message"`
	// Status is "firing", or "resolved" for the message that says the
	// match no longer holds (send_resolved).
	Status string `json:"status"`
	// Scope is the rule's scope: process, user, session or host.
	Scope string `json:"scope,omitempty"`
	// Entity names the process, user or session, when the rule's scope has
	// one; absent otherwise.
	Entity *WebhookEntity `json:"entity,omitempty"`
	// Facts are the entity's facts (the host's for host scope), as rule
	// templates read them; absent in a Plain retry.
	Facts map[string]any `json:"facts,omitempty"`
	// Outcomes are what the rule's actions before the alert did (kill,
	// run), as templates read .outcome; absent when none ran.
	Outcomes map[string]any `json:"outcomes,omitempty"`
	// Labels are the alert's extra name/value pairs; absent when none.
	Labels map[string]string `json:"labels,omitempty"`
	// Truncated says subject or message were shortened: the second try of
	// an alert the server refused (a 400 or 413), which sends them cut to
	// a few thousand characters.
	Truncated bool `json:"truncated,omitempty"`
}

// WebhookEntity names what matched; each field is absent when unset.
type WebhookEntity struct {
	PID  int    `json:"pid,omitempty"`
	User string `json:"user,omitempty"`
	SID  int    `json:"sid,omitempty"`
}

// webhookPlainMax is how long subject and message may be in a Plain
// alert's payload, in bytes.
const webhookPlainMax = 4000

// NewWebhookPayload returns the document a webhook channel sends for a.
// JSON needs no escaping of its own; control characters other than
// newline and tab, invalid UTF-8 and bidirectional overrides are replaced
// with U+FFFD as in every channel. With a.Plain, subject and message are
// shortened to webhookPlainMax bytes.
func NewWebhookPayload(a Alert) WebhookPayload {
	limit := int(^uint(0) >> 1)
	if a.Plain {
		limit = webhookPlainMax
	}
	subject, cut1 := escapeLimit(a.Subject, plainEscape, byteLen, limit)
	message, cut2 := escapeLimit(a.Message, plainEscape, byteLen, limit)
	p := WebhookPayload{
		Version:   WebhookSchemaVersion,
		Rule:      a.Rule,
		Severity:  a.Severity,
		Host:      a.Host,
		Key:       a.Key,
		Time:      a.Time.UTC(),
		Subject:   subject,
		Message:   message,
		Truncated: cut1 || cut2,
	}
	if a.PID != 0 || a.User != "" || a.SID != 0 {
		p.Entity = &WebhookEntity{PID: a.PID, User: a.User, SID: a.SID}
	}
	if len(a.Labels) > 0 {
		p.Labels = maps.Clone(a.Labels)
	}
	p.Scope, p.Outcomes, p.Status = a.Scope, a.Outcomes, "firing"
	if a.Resolved {
		p.Status = "resolved"
	}
	if !a.Plain {
		// A retry after the server refused the document leaves out the
		// part it may have found too large.
		p.Facts = a.Facts
	}
	return p
}

// Send implements Channel: one attempt, within the channel's timeout.
func (c *WebhookChannel) Send(ctx context.Context, a Alert) error {
	const what = "webhook"
	r, err := postJSON(ctx, c.client, c.timeout, what, c.url, c.header, NewWebhookPayload(a))
	if err != nil {
		return err
	}
	return classifyStatus(what, r, "", 0)
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// line break or other control character but tab, so nothing can be
// injected as a header of its own.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
