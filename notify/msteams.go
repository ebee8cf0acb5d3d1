package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// MSTeamsConfig is a channel of type msteams: a Teams Workflows webhook
// ("Post to a channel when a webhook request is received"), which takes an
// Adaptive Card. The Office 365 connector webhooks Microsoft retired are
// not supported.
type MSTeamsConfig struct {
	// WebhookURL is the workflow's URL, written in the config.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookURLFile names a file holding the workflow's URL.
	WebhookURLFile string `yaml:"webhook_url_file"`
	// Timeout bounds one attempt; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// msteamsLimit bounds the card's text as JSON-encoded bytes, well inside
// the 28 KB Teams accepts for a whole message.
const msteamsLimit = 20000

// Check returns what is wrong with c, each problem naming its key.
func (c *MSTeamsConfig) Check() []FieldProblem {
	ps := checkWebhookURL("msteams", c.WebhookURL, c.WebhookURLFile)
	if len(ps) == 0 && c.WebhookURL != "" && isO365Connector(c.WebhookURL) {
		ps = append(ps, FieldProblem{"webhook_url", o365Retired})
	}
	return append(ps, checkTimeout(c.Timeout)...)
}

// o365Retired explains why an Office 365 connector URL is refused.
const o365Retired = "this is an Office 365 connector webhook, which Microsoft retired and ptrule does not support: create a Workflows webhook in Teams (\"Post to a channel when a webhook request is received\") and use its URL"

// isO365Connector reports whether u is a retired Office 365 connector
// (incoming webhook) URL rather than a Workflows one.
func isO365Connector(u string) bool {
	return strings.Contains(u, ".webhook.office.com/webhookb2/") || strings.Contains(u, "outlook.office.com/webhook/")
}

// MSTeamsChannel sends alerts as Adaptive Cards to a Workflows webhook. It
// is safe for concurrent use.
type MSTeamsChannel struct {
	url     string
	client  *http.Client
	timeout time.Duration
}

// NewMSTeams checks cfg, reads webhook_url_file through readSecret and
// returns the channel.
func NewMSTeams(cfg MSTeamsConfig, readSecret func(path string) ([]byte, error)) (*MSTeamsChannel, error) {
	if err := firstProblem(cfg.Check()); err != nil {
		return nil, err
	}
	u, err := resolveWebhookURL(readSecret, cfg.WebhookURL, cfg.WebhookURLFile)
	if err != nil {
		return nil, err
	}
	if isO365Connector(u) {
		return nil, fmt.Errorf("webhook_url_file: %s holds %s", cfg.WebhookURLFile, strings.TrimPrefix(o365Retired, "this is "))
	}
	return &MSTeamsChannel{url: u, client: newHTTPClient(), timeout: orDefaultTimeout(cfg.Timeout)}, nil
}

// jsonLen counts the bytes s takes inside a JSON string as postJSON
// encodes it (quote, backslash, newline and tab take two, U+2028 and
// U+2029 six; other controls never reach it, cleanRune replaced them), to
// keep a card within Teams' size limit.
func jsonLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\t':
			n++
		}
	}
	return n + 3*(strings.Count(s, "\u2028")+strings.Count(s, "\u2029"))
}

// The Adaptive Card a Workflows webhook receives. Text goes into TextRuns
// of RichTextBlocks, which Teams shows as it is: unlike a TextBlock, a
// TextRun renders no markdown, so the text needs no escaping.
type (
	msteamsMessage struct {
		Type        string              `json:"type"`
		Attachments []msteamsAttachment `json:"attachments"`
	}
	msteamsAttachment struct {
		ContentType string      `json:"contentType"`
		ContentURL  *string     `json:"contentUrl"`
		Content     msteamsCard `json:"content"`
	}
	msteamsCard struct {
		Schema  string         `json:"$schema"`
		Type    string         `json:"type"`
		Version string         `json:"version"`
		Body    []msteamsBlock `json:"body"`
	}
	msteamsBlock struct {
		Type    string       `json:"type"`
		Inlines []msteamsRun `json:"inlines"`
	}
	msteamsRun struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Weight   string `json:"weight,omitempty"`
		Size     string `json:"size,omitempty"`
		IsSubtle bool   `json:"isSubtle,omitempty"`
	}
)

// msteamsCardFor builds the card for a: a bold title, the message and a
// subtle footer within msteamsLimit, or with a.Plain, one TextRun of plain
// text within plainLimit(msteamsLimit).
func msteamsCardFor(a Alert) msteamsMessage {
	block := func(r msteamsRun) msteamsBlock {
		r.Type = "TextRun"
		return msteamsBlock{Type: "RichTextBlock", Inlines: []msteamsRun{r}}
	}
	var body []msteamsBlock
	if a.Plain {
		body = []msteamsBlock{block(msteamsRun{Text: plainText(a, plainEscape, jsonLen, plainLimit(msteamsLimit))})}
	} else {
		title, _ := escapeLimit(alertTitle(a), plainEscape, jsonLen, titleMax)
		footer, _ := escapeLimit(alertFooter(a), plainEscape, jsonLen, footerMax)
		body = append(body, block(msteamsRun{Text: title, Weight: "Bolder", Size: "Medium"}))
		if a.Message != "" {
			msg, _ := escapeLimit(a.Message, plainEscape, jsonLen, msteamsLimit-jsonLen(title)-jsonLen(footer))
			body = append(body, block(msteamsRun{Text: msg}))
		}
		body = append(body, block(msteamsRun{Text: footer, Size: "Small", IsSubtle: true}))
	}
	return msteamsMessage{
		Type: "message",
		Attachments: []msteamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: msteamsCard{
				Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
				Type:    "AdaptiveCard",
				Version: "1.4",
				Body:    body,
			},
		}},
	}
}

// Send implements Channel: one attempt, within the channel's timeout.
func (c *MSTeamsChannel) Send(ctx context.Context, a Alert) error {
	const what = "Teams workflow webhook"
	r, err := postJSON(ctx, c.client, c.timeout, what, c.url, nil, msteamsCardFor(a))
	if err != nil {
		return err
	}
	return classifyStatus(what, r, "", 0)
}
