package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// DiscordConfig is a channel of type discord: a channel webhook.
type DiscordConfig struct {
	// WebhookURL is the webhook's URL, written in the config.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookURLFile names a file holding the webhook's URL.
	WebhookURLFile string `yaml:"webhook_url_file"`
	// Timeout bounds one attempt; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// discordLimit is the most characters a Discord message's content may
// have.
const discordLimit = 2000

// Check returns what is wrong with c, each problem naming its key.
func (c *DiscordConfig) Check() []FieldProblem {
	return append(checkWebhookURL("discord", c.WebhookURL, c.WebhookURLFile), checkTimeout(c.Timeout)...)
}

// checkWebhookURL checks the webhook_url / webhook_url_file pair of a
// channel of type typ: exactly one, and a literal one an http(s) URL.
func checkWebhookURL(typ, literal, file string) []FieldProblem {
	switch {
	case literal == "" && file == "":
		return []FieldProblem{{"webhook_url_file", "a " + typ + " channel needs webhook_url_file (or webhook_url)"}}
	case literal != "" && file != "":
		return []FieldProblem{{"webhook_url", "give webhook_url or webhook_url_file, not both"}}
	case literal != "":
		if msg := checkURL(literal); msg != "" {
			return []FieldProblem{{"webhook_url", msg}}
		}
	}
	return nil
}

// resolveWebhookURL returns the literal URL, or the one read from file.
func resolveWebhookURL(readSecret func(string) ([]byte, error), literal, file string) (string, error) {
	if file == "" {
		return literal, nil
	}
	u, err := readSecretFile(readSecret, "webhook_url_file", file)
	if err != nil {
		return "", err
	}
	if msg := checkURL(u); msg != "" {
		return "", fmt.Errorf("webhook_url_file: the URL in %s %s", file, msg)
	}
	return u, nil
}

// DiscordChannel sends alerts to a Discord webhook as markdown content. It
// is safe for concurrent use.
type DiscordChannel struct {
	url     string
	client  *http.Client
	timeout time.Duration
}

// NewDiscord checks cfg, reads webhook_url_file through readSecret and
// returns the channel.
func NewDiscord(cfg DiscordConfig, readSecret func(path string) ([]byte, error)) (*DiscordChannel, error) {
	if err := firstProblem(cfg.Check()); err != nil {
		return nil, err
	}
	u, err := resolveWebhookURL(readSecret, cfg.WebhookURL, cfg.WebhookURLFile)
	if err != nil {
		return nil, err
	}
	return &DiscordChannel{url: u, client: newHTTPClient(), timeout: orDefaultTimeout(cfg.Timeout)}, nil
}

// discordSuppressEmbeds is the message flag that stops Discord from
// fetching and previewing URLs in the content.
const discordSuppressEmbeds = 1 << 2

// discordPayload is a webhook execution.
type discordPayload struct {
	Content string `json:"content"`
	// AllowedMentions with an empty parse list lets no mention ping:
	// not @everyone, @here, a role or a user.
	AllowedMentions struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
	Flags int `json:"flags"`
}

// discordText renders a as Discord markdown (bold title, italic footer)
// within discordLimit, or with a.Plain, without our markup within
// plainLimit(discordLimit). Discord renders markdown in any content, so
// both are escaped.
func discordText(a Alert) string {
	if a.Plain {
		return plainText(a, discordEscape, utf16Len, plainLimit(discordLimit))
	}
	return renderParts(layout(a, "**", "**", "*", "*"), discordEscape, utf16Len, discordLimit)
}

// Send implements Channel: one attempt, within the channel's timeout.
func (c *DiscordChannel) Send(ctx context.Context, a Alert) error {
	const what = "Discord webhook"
	p := discordPayload{Content: discordText(a), Flags: discordSuppressEmbeds}
	p.AllowedMentions.Parse = []string{}
	r, err := postJSON(ctx, c.client, c.timeout, what, c.url, nil, p)
	if err != nil {
		return err
	}
	var reply struct {
		RetryAfter float64 `json:"retry_after"`
	}
	_ = json.Unmarshal(r.Body, &reply)
	return classifyStatus(what, r, "", secondsDuration(reply.RetryAfter))
}
