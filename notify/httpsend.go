package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultSendTimeout bounds one delivery attempt of an HTTP channel (slack,
// webhook, telegram, discord, msteams) whose config sets no timeout.
const DefaultSendTimeout = 10 * time.Second

// maxReplyBytes caps how much of a server's answer an HTTP channel reads:
// enough for any JSON status reply, too little for a hostile or broken
// server to fill memory.
const maxReplyBytes = 64 << 10

// FieldProblem is one fault in a channel's config, naming the YAML key at
// fault so that the config loader can point at its line.
type FieldProblem struct {
	Key string
	Msg string
}

func (p FieldProblem) Error() string { return p.Key + ": " + p.Msg }

// firstProblem returns the first of problems as an error, or nil.
func firstProblem(problems []FieldProblem) error {
	if len(problems) == 0 {
		return nil
	}
	return problems[0]
}

// readSecretFile reads a secret through readSecret and trims the trailing
// newline an editor leaves. The error names the key and the path, never
// the content.
func readSecretFile(readSecret func(string) ([]byte, error), key, path string) (string, error) {
	if readSecret == nil {
		return "", fmt.Errorf("%s: no way to read secret files was given", key)
	}
	b, err := readSecret(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty: put the secret in it", key, path)
	}
	return s, nil
}

// checkURL reports what is wrong with a URL a channel posts to, or "" when
// it is an absolute http or https URL. The URL itself is never part of the
// answer, since a webhook URL is a secret.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL (its text is not shown, as it may hold a secret)"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http:// or https:// URL"
	}
	if u.Host == "" {
		return "has no host"
	}
	return ""
}

// checkTimeout reports a negative timeout.
func checkTimeout(d time.Duration) []FieldProblem {
	if d < 0 {
		return []FieldProblem{{"timeout", "must not be negative (0 or unset means " + DefaultSendTimeout.String() + ")"}}
	}
	return nil
}

// orDefaultTimeout returns d, or DefaultSendTimeout when d is zero.
func orDefaultTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultSendTimeout
	}
	return d
}

// cappedDoer wraps an http.Client so that no more than maxReplyBytes of
// any answer's body is ever read, whoever reads it (ours or a library's).
type cappedDoer struct{ c *http.Client }

func (d cappedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxReplyBytes), resp.Body}
	return resp, nil
}

// newHTTPClient returns the client of one HTTP channel. It does not follow
// redirects: a webhook that moved is a config to fix, and following a
// redirect could send the alert somewhere the config never named.
func newHTTPClient() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpReply is what a server answered to one POST.
type httpReply struct {
	Status int
	Header http.Header
	Body   []byte
}

// postJSON POSTs payload as JSON to target with the extra headers, within
// timeout (and ctx), and reads at most maxReplyBytes of the answer. what
// names the destination in errors ("Slack webhook"): target never appears
// in an error, since webhook URLs and Telegram's URL carry secrets. A
// failure to reach the server is Temporary; the status is left to the
// caller (see classifyStatus).
func postJSON(ctx context.Context, client *http.Client, timeout time.Duration, what, target string, header http.Header, payload any) (*httpReply, error) {
	// Without HTML escaping, "<" stays one byte, so the byte limits the
	// channels compute hold for the payload as sent.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, Permanent(fmt.Errorf("%s: encoding the message: %v", what, err))
	}
	body := buf.Bytes()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, Permanent(fmt.Errorf("%s: building the request: %v", what, netErrText(err)))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cappedDoer{client}.Do(req)
	if err != nil {
		return nil, transportError(ctx, what, timeout, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, transportError(ctx, what, timeout, err)
	}
	return &httpReply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// transportError classifies a failure to talk to the server at all as
// Temporary, saying whether it was our timeout, and without the request
// URL that net/http puts in its errors.
func transportError(ctx context.Context, what string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Temporary(fmt.Errorf("%s: no answer within %s (timeout)", what, timeout), 0)
	}
	return Temporary(fmt.Errorf("%s: %s", what, netErrText(err)), 0)
}

// netErrText returns err's text without the URL that *url.Error adds.
func netErrText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// classifyStatus turns a non-2xx answer into a SendError: 429 and 5xx are
// Temporary (with Retry-After's wait when given, else retryAfter), 400 and
// 413 are the message's fault (Rejected), anything else (401, 403, 404,
// 410, a redirect) is Permanent. detail is the server's own reason, when
// the caller has extracted one; otherwise a cleaned start of the body is
// quoted. A 2xx answer gives nil.
func classifyStatus(what string, r *httpReply, detail string, retryAfter time.Duration) error {
	if r.Status >= 200 && r.Status <= 299 {
		return nil
	}
	if detail == "" {
		detail = bodySnippet(r.Body)
	}
	msg := fmt.Sprintf("%s answered %d %s", what, r.Status, http.StatusText(r.Status))
	if detail != "" {
		msg += ": " + detail
	}
	err := errors.New(msg)
	switch {
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		if d, ok := parseRetryAfter(r.Header.Get("Retry-After"), time.Now()); ok {
			retryAfter = d
		}
		return Temporary(err, retryAfter)
	case r.Status == http.StatusBadRequest || r.Status == http.StatusRequestEntityTooLarge:
		return Rejected(err)
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return Permanent(fmt.Errorf("%w (check the token or URL in the config)", err))
	case r.Status == http.StatusNotFound || r.Status == http.StatusGone:
		return Permanent(fmt.Errorf("%w (the URL or destination no longer exists: check the config)", err))
	}
	return Permanent(err)
}

// maxRetryAfter caps a server's requested wait: a day is more than any
// server means, and beyond it the number is nonsense (or would overflow a
// Duration).
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date (relative to now). ok is false when there is none or it cannot be
// read; a date in the past gives zero.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// secondsDuration converts a JSON retry_after in seconds (Discord sends a
// fraction, Telegram an integer) to a Duration, capped at a day.
func secondsDuration(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	return time.Duration(min(s, maxRetryAfter.Seconds()) * float64(time.Second))
}

// bodySnippet returns the start of a server's answer fit to quote in an
// error: at most 200 bytes of valid UTF-8, control characters replaced.
func bodySnippet(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
