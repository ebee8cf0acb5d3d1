package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// SlackConfig is a channel of type slack: an incoming webhook
// (webhook_url or webhook_url_file) or a bot (token_file and channel,
// through the Web API's chat.postMessage at api_url).
type SlackConfig struct {
	// WebhookURL is an incoming webhook's URL, written in the config.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookURLFile names a file holding the webhook URL.
	WebhookURLFile string `yaml:"webhook_url_file"`
	// TokenFile names a file holding a bot token (xoxb-...).
	TokenFile string `yaml:"token_file"`
	// Channel is the channel the bot posts to: an ID (C0123...) or #name.
	Channel string `yaml:"channel"`
	// APIURL is the Web API base for a bot; default https://slack.com/api/.
	// Slack-compatible servers (Mattermost) and tests set it.
	APIURL string `yaml:"api_url"`
	// Timeout bounds one attempt; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// slackLimit is the most characters of text Slack keeps in a message
// (chat.postMessage truncates beyond it).
const slackLimit = 40000

// Check returns what is wrong with c, each problem naming its key.
func (c *SlackConfig) Check() []FieldProblem {
	var ps []FieldProblem
	modes := 0
	for _, v := range []string{c.WebhookURL, c.WebhookURLFile, c.TokenFile} {
		if v != "" {
			modes++
		}
	}
	switch {
	case modes == 0:
		ps = append(ps, FieldProblem{"webhook_url_file", "a slack channel needs webhook_url_file, webhook_url, or token_file with channel"})
	case modes > 1:
		key := "webhook_url"
		if c.WebhookURL == "" {
			key = "webhook_url_file"
		}
		ps = append(ps, FieldProblem{key, "give only one of webhook_url, webhook_url_file and token_file"})
	}
	if c.WebhookURL != "" {
		if msg := checkURL(c.WebhookURL); msg != "" {
			ps = append(ps, FieldProblem{"webhook_url", msg})
		}
	}
	if c.TokenFile != "" && c.Channel == "" {
		ps = append(ps, FieldProblem{"channel", "a bot (token_file) needs the channel to post to"})
	}
	if c.TokenFile == "" && c.Channel != "" {
		ps = append(ps, FieldProblem{"channel", "channel applies to a bot: add token_file, or drop channel (a webhook posts where it was created for)"})
	}
	if c.APIURL != "" {
		if c.TokenFile == "" {
			ps = append(ps, FieldProblem{"api_url", "api_url applies to a bot (token_file); a webhook posts to its own URL"})
		} else if msg := checkURL(c.APIURL); msg != "" {
			ps = append(ps, FieldProblem{"api_url", msg})
		}
	}
	return append(ps, checkTimeout(c.Timeout)...)
}

// SlackChannel sends alerts to Slack (or a Slack-compatible server) as
// mrkdwn text. It is safe for concurrent use.
type SlackChannel struct {
	webhook string // the webhook URL, or "" for a bot
	token   string // the bot token, or "" for a webhook
	apiURL  string // the Web API base, ending in "/"
	channel string
	client  *http.Client
	timeout time.Duration
}

// NewSlack checks cfg, reads its secret files through readSecret and
// returns the channel.
func NewSlack(cfg SlackConfig, readSecret func(path string) ([]byte, error)) (*SlackChannel, error) {
	if err := firstProblem(cfg.Check()); err != nil {
		return nil, err
	}
	c := &SlackChannel{client: newHTTPClient(), timeout: orDefaultTimeout(cfg.Timeout), webhook: cfg.WebhookURL}
	switch {
	case cfg.WebhookURLFile != "":
		u, err := readSecretFile(readSecret, "webhook_url_file", cfg.WebhookURLFile)
		if err != nil {
			return nil, err
		}
		if msg := checkURL(u); msg != "" {
			return nil, fmt.Errorf("webhook_url_file: the URL in %s %s", cfg.WebhookURLFile, msg)
		}
		c.webhook = u
	case cfg.TokenFile != "":
		tok, err := readSecretFile(readSecret, "token_file", cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		api := cfg.APIURL
		if api == "" {
			api = slack.APIURL
		}
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		c.token, c.apiURL, c.channel = tok, api, cfg.Channel
	}
	return c, nil
}

// slackText renders a as Slack text: mrkdwn (bold title, italic footer)
// within slackLimit, or with a.Plain, markup-free text within
// plainLimit(slackLimit). Both are escaped: Slack parses &, < and > even
// with mrkdwn off.
func slackText(a Alert) string {
	if a.Plain {
		return plainText(a, slackEscape, utf16Len, plainLimit(slackLimit))
	}
	return renderParts(layout(a, "*", "*", "_", "_"), slackEscape, utf16Len, slackLimit)
}

// slackWebhookPayload is what an incoming webhook receives.
type slackWebhookPayload struct {
	Text        string `json:"text"`
	Mrkdwn      bool   `json:"mrkdwn"`
	UnfurlLinks bool   `json:"unfurl_links"`
	UnfurlMedia bool   `json:"unfurl_media"`
}

// Send implements Channel: one attempt, within the channel's timeout.
func (c *SlackChannel) Send(ctx context.Context, a Alert) error {
	if c.token != "" {
		return c.sendBot(ctx, a)
	}
	const what = "Slack webhook"
	r, err := postJSON(ctx, c.client, c.timeout, what, c.webhook, nil,
		slackWebhookPayload{Text: slackText(a), Mrkdwn: !a.Plain})
	if err != nil {
		return err
	}
	if err := classifyStatus(what, r, "", 0); err != nil {
		return err
	}
	// Slack answers "ok"; Mattermost and others may answer JSON, and an
	// {"ok": false} there is a failure whatever the status.
	var reply struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(r.Body, &reply) == nil && reply.OK != nil && !*reply.OK {
		return slackAPIError(what, reply.Error)
	}
	return nil
}

// sendBot posts a through the Web API's chat.postMessage.
func (c *SlackChannel) sendBot(ctx context.Context, a Alert) error {
	const what = "Slack chat.postMessage"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	opts := []slack.MsgOption{
		slack.MsgOptionText(slackText(a), false),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if a.Plain {
		opts = append(opts, slack.MsgOptionDisableMarkdown())
	}
	// A client per send (cheap: New only allocates) lets this send see
	// its own answer's status and headers, which slack-go drops from
	// errors other than a 429 with a Retry-After in seconds.
	rec := &recordingDoer{d: cappedDoer{c.client}}
	bot := slack.New(c.token, slack.OptionAPIURL(c.apiURL), slack.OptionHTTPClient(rec))
	_, _, err := bot.PostMessageContext(ctx, c.channel, opts...)
	if err == nil {
		return nil
	}
	var apiErr slack.SlackErrorResponse
	var rate *slack.RateLimitedError
	switch {
	case errors.As(err, &apiErr):
		return slackAPIError(what, apiErr.Err)
	case errors.As(err, &rate):
		return Temporary(fmt.Errorf("%s: rate limited", what), rate.RetryAfter)
	case rec.resp != nil && rec.resp.StatusCode != http.StatusOK:
		return classifyStatus(what, &httpReply{Status: rec.resp.StatusCode, Header: rec.resp.Header}, "", 0)
	}
	return transportError(ctx, what, c.timeout, err)
}

// recordingDoer remembers the last answer it passed on; it serves one
// send only.
type recordingDoer struct {
	d    cappedDoer
	resp *http.Response
}

func (r *recordingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.d.Do(req)
	r.resp = resp
	return resp, err
}

// slackAPIError classifies an {"ok": false, "error": code} answer by its
// code: a message Slack refused as written is Rejected, a passing server
// trouble Temporary, and the rest (a bad token, an unknown or archived
// channel, a bot not in the channel) Permanent.
func slackAPIError(what, code string) error {
	if code == "" {
		code = "no error code given"
	}
	err := fmt.Errorf("%s answered ok:false: %s", what, bodySnippet([]byte(code)))
	switch code {
	case "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "invalid_attachments",
		"too_many_attachments", "invalid_payload", "markdown_text_conflict":
		return Rejected(err)
	case "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
		"request_timeout", "team_added_to_org":
		return Temporary(err, 0)
	}
	return Permanent(err)
}
