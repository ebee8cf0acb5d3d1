package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	nkmattermost "github.com/nikoksr/notify/service/mattermost"
)

func init() {
	RegisterType(ChannelType{Name: "mattermost", NewConfig: func() TypeConfig { return &MattermostConfig{} }})
}

// MattermostConfig is a channel of type mattermost: each alert is posted
// to one channel of a Mattermost server through its REST API (POST
// /api/v4/posts), by nikoksr/notify's mattermost service, with the token
// of a bot account or a personal access token.
type MattermostConfig struct {
	// URL is the server's base URL (https://chat.example.org).
	URL string `yaml:"url"`
	// Token is a bot's or a user's personal access token; TokenFile names
	// a file holding it.
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// ChannelID is the ID of the channel to post to (26 characters, from
	// the channel's "View Info").
	ChannelID string `yaml:"channel_id"`
	// Timeout bounds one attempt; 0 or unset means DefaultSendTimeout
	// (the config decoder refuses a negative one).
	Timeout time.Duration `yaml:"timeout"`

	token Secret
}

// mattermostLimit is the most characters Mattermost keeps in a post.
const mattermostLimit = 16383

// Check implements TypeConfig.
func (c *MattermostConfig) Check(ck *Checker) {
	checkServiceURL(ck, "url", c.URL, true, "the Mattermost server (https://chat.example.org)")
	c.token = requireSecret(ck, "token", c.Token, c.TokenFile, "the bot's access token")
	switch {
	case c.ChannelID == "":
		ck.Problem([]any{"channel_id"}, "channel_id is required: add the ID of the channel to post to (in Mattermost: the channel's name, View Info)")
	case !mattermostID(c.ChannelID):
		ck.Problem([]any{"channel_id"}, "channel_id %q is not a Mattermost ID: it is 26 lower-case letters and digits (the channel's name, View Info), not the channel's name", c.ChannelID)
	}
}

// mattermostID reports whether s has the shape of a Mattermost ID.
func mattermostID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Channel implements TypeConfig.
func (c *MattermostConfig) Channel(Env) Channel {
	return &MattermostChannel{url: strings.TrimSuffix(c.URL, "/"), token: c.token, channelID: c.ChannelID, timeout: orDefaultTimeout(c.Timeout)}
}

// MattermostChannel posts alerts to a Mattermost channel as markdown. It
// is safe for concurrent use: each Send builds its own service.
type MattermostChannel struct {
	url, channelID string
	token          Secret
	timeout        time.Duration
}

// mattermostMarkdown are the characters with which Mattermost's markdown
// changes how text reads: emphasis, strike-through, code, tables, quotes,
// headings, lists and rules, links and images, autolinks and HTML, and
// entities (&lt; would show as <). Each is shown literally after a
// backslash. Characters that only format harmlessly (":" of an emoji,
// "(" without a "[" before it) are left alone, since Mattermost's push and
// e-mail notifications show the backslashes.
const mattermostMarkdown = "\\*_~`|>#-[]<&"

// mattermostEscape escapes Mattermost markdown with backslashes and breaks
// @channel, @all and @here with a zero-width space, so that a command line
// notifies nobody.
func mattermostEscape(s string) (string, int) {
	c := s[0]
	if c == '@' {
		if u, ok := breakMention(s); ok {
			return u, 1
		}
	}
	if strings.IndexByte(mattermostMarkdown, c) >= 0 {
		return "\\" + string(c), 1
	}
	return plainEscape(s)
}

// mattermostText renders a as a Mattermost post: the title in bold, the
// message, the footer in italics; with a.Plain, the same text without
// ptrule's markup (still escaped: Mattermost renders every post as
// markdown), shortened to plainLimit.
func mattermostText(a Alert) string {
	if a.Plain {
		return plainText(a, mattermostEscape, utf16Len, plainLimit(mattermostLimit))
	}
	return renderParts(layout(a, "**", "**", "_", "_"), mattermostEscape, utf16Len, mattermostLimit)
}

// mattermostStatus finds the answer's status and body in the error of
// notify's mattermost service, which passes them on only as text.
var mattermostStatus = regexp.MustCompile(`create post failed with status: (\d{3})\b[^\n]*? body: (?s:(.*))$`)

// Send implements Channel: one POST /api/v4/posts within the channel's
// timeout.
func (c *MattermostChannel) Send(ctx context.Context, a Alert) error {
	const what = "Mattermost"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	svc := nkmattermost.New(c.url)
	svc.AddReceivers(c.channelID)
	token := c.token.Reveal()
	svc.PreSend(func(req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
	// The service sends subject, a newline and the message: splitting
	// ptrule's text at its first newline sends it as it is.
	subject, message, _ := strings.Cut(mattermostText(a), "\n")
	err := svc.Send(ctx, subject, message)
	if err == nil {
		return nil
	}
	if m := mattermostStatus.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		var reply struct {
			Message string `json:"message"`
		}
		detail := m[2]
		if json.Unmarshal([]byte(detail), &reply) == nil && reply.Message != "" {
			detail = reply.Message
		}
		return serviceFailure(ctx, what, c.timeout, status, nil, detail, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return serviceFailure(ctx, what, c.timeout, 0, nil, "", err)
	}
	// Anything else did not come from the server's answer: say what the
	// service said, and let the delivery retry.
	return Temporary(fmt.Errorf("%s: %s", what, bodySnippet([]byte(err.Error()))), 0)
}
