package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// TelegramConfig is a channel of type telegram: the Bot API's sendMessage
// to one chat.
type TelegramConfig struct {
	// TokenFile names a file holding the bot token (123456:ABC...).
	TokenFile string `yaml:"token_file"`
	// ChatID is the chat to post to: a number (-1001234567890) or
	// @channelname.
	ChatID string `yaml:"chat_id"`
	// APIURL is the Bot API base; default https://api.telegram.org. A
	// local Bot API server and tests set it.
	APIURL string `yaml:"api_url"`
	// Timeout bounds one attempt; default DefaultSendTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// telegramAPIURL is the Bot API's public base.
const telegramAPIURL = "https://api.telegram.org"

// telegramLimit is the most characters a Telegram message may have.
const telegramLimit = 4096

// Check returns what is wrong with c, each problem naming its key.
func (c *TelegramConfig) Check() []FieldProblem {
	var ps []FieldProblem
	if c.TokenFile == "" {
		ps = append(ps, FieldProblem{"token_file", "a telegram channel needs token_file: a file holding the bot token"})
	}
	if strings.TrimSpace(c.ChatID) == "" {
		ps = append(ps, FieldProblem{"chat_id", "a telegram channel needs chat_id: the chat's number or @channelname"})
	}
	if c.APIURL != "" {
		if msg := checkURL(c.APIURL); msg != "" {
			ps = append(ps, FieldProblem{"api_url", msg})
		}
	}
	return append(ps, checkTimeout(c.Timeout)...)
}

// TelegramChannel sends alerts to a Telegram chat in HTML parse mode. It
// is safe for concurrent use.
type TelegramChannel struct {
	endpoint string // .../bot<token>/sendMessage: it holds the token
	chatID   string
	client   *http.Client
	timeout  time.Duration
}

// NewTelegram checks cfg, reads the token through readSecret and returns
// the channel.
func NewTelegram(cfg TelegramConfig, readSecret func(path string) ([]byte, error)) (*TelegramChannel, error) {
	if err := firstProblem(cfg.Check()); err != nil {
		return nil, err
	}
	tok, err := readSecretFile(readSecret, "token_file", cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	// The token goes into the URL's path: refuse anything that would
	// change the URL's shape rather than send it somewhere unexpected.
	if strings.ContainsAny(tok, "/?#%@ \t") {
		return nil, fmt.Errorf("token_file: %s does not hold a bot token (123456:ABC...): it has a character a token never has", cfg.TokenFile)
	}
	api := strings.TrimRight(cfg.APIURL, "/")
	if api == "" {
		api = telegramAPIURL
	}
	return &TelegramChannel{
		endpoint: api + "/bot" + tok + "/sendMessage",
		chatID:   strings.TrimSpace(cfg.ChatID),
		client:   newHTTPClient(),
		timeout:  orDefaultTimeout(cfg.Timeout),
	}, nil
}

// telegramPayload is a sendMessage request.
type telegramPayload struct {
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode,omitempty"`
	// LinkPreview turns off link previews, so a URL in a command line
	// makes Telegram fetch nothing.
	LinkPreview struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options"`
}

// telegramText renders a for Telegram: HTML (bold title, italic footer)
// escaped for the HTML parse mode within telegramLimit, or with a.Plain,
// text sent without a parse mode (so it needs no escaping) within
// plainLimit(telegramLimit).
func telegramText(a Alert) (text, parseMode string) {
	if a.Plain {
		return plainText(a, plainEscape, utf16Len, plainLimit(telegramLimit)), ""
	}
	return renderParts(layout(a, "<b>", "</b>", "<i>", "</i>"), telegramEscape, utf16Len, telegramLimit), "HTML"
}

// Send implements Channel: one attempt, within the channel's timeout.
func (c *TelegramChannel) Send(ctx context.Context, a Alert) error {
	const what = "Telegram sendMessage"
	p := telegramPayload{ChatID: c.chatID}
	p.Text, p.ParseMode = telegramText(a)
	p.LinkPreview.IsDisabled = true
	r, err := postJSON(ctx, c.client, c.timeout, what, c.endpoint, nil, p)
	if err != nil {
		return err
	}
	var reply struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter float64 `json:"retry_after"`
		} `json:"parameters"`
	}
	jsonErr := json.Unmarshal(r.Body, &reply)
	detail := bodySnippet([]byte(reply.Description))
	if err := classifyStatus(what, r, detail, secondsDuration(reply.Parameters.RetryAfter)); err != nil {
		// Telegram answers 400 for a chat it does not know, too: no
		// shorter message will find it.
		if se := Classify(err); se.Rejected && strings.Contains(strings.ToLower(reply.Description), "chat not found") {
			return Permanent(fmt.Errorf("%w (check chat_id, and that the bot was added to the chat)", se.Err))
		}
		return err
	}
	if jsonErr != nil || !reply.OK {
		if detail == "" {
			detail = "no ok:true in the answer"
		}
		return Permanent(errors.New(what + " answered ok:false: " + detail))
	}
	return nil
}
