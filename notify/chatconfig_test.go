package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// problemKeys returns the keys of problems, in order.
func problemKeys(ps []FieldProblem) []string {
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	return keys
}

// TestChatConfigCheck checks that each config names the key at fault, and
// that a literal URL never appears in a problem (it may hold a secret).
func TestChatConfigCheck(t *testing.T) {
	const secretURL = "https://hooks.example.com/services/SECRET"
	cases := []struct {
		name  string
		check func() []FieldProblem
		want  []string
	}{
		{"slack webhook", (&SlackConfig{WebhookURL: secretURL}).Check, nil},
		{"slack webhook file", (&SlackConfig{WebhookURLFile: "/etc/ptrule/slack"}).Check, nil},
		{"slack bot", (&SlackConfig{TokenFile: "/etc/ptrule/tok", Channel: "C1", APIURL: "http://127.0.0.1:8065/api/"}).Check, nil},
		{"slack nothing", (&SlackConfig{}).Check, []string{"webhook_url_file"}},
		{"slack two modes", (&SlackConfig{WebhookURL: secretURL, TokenFile: "/t", Channel: "C1"}).Check, []string{"webhook_url"}},
		{"slack bot without channel", (&SlackConfig{TokenFile: "/t"}).Check, []string{"channel"}},
		{"slack channel without bot", (&SlackConfig{WebhookURLFile: "/f", Channel: "C1"}).Check, []string{"channel"}},
		{"slack api_url on a webhook", (&SlackConfig{WebhookURLFile: "/f", APIURL: "http://x/"}).Check, []string{"api_url"}},
		{"slack bad url", (&SlackConfig{WebhookURL: "ftp://SECRET@x"}).Check, []string{"webhook_url"}},
		{"slack unparsable url", (&SlackConfig{WebhookURL: "http://SECRET\x7f"}).Check, []string{"webhook_url"}},
		{"slack negative timeout", (&SlackConfig{WebhookURL: secretURL, Timeout: -time.Second}).Check, []string{"timeout"}},
		{"webhook", (&WebhookConfig{URL: secretURL, Headers: map[string]string{"X-A": "b"}, HeadersFiles: map[string]string{"Authorization": "/f"}}).Check, nil},
		{"webhook url_file", (&WebhookConfig{URLFile: "/f"}).Check, nil},
		{"webhook nothing", (&WebhookConfig{}).Check, []string{"url"}},
		{"webhook both", (&WebhookConfig{URL: secretURL, URLFile: "/f"}).Check, []string{"url"}},
		{"webhook no host", (&WebhookConfig{URL: "http:///SECRET"}).Check, []string{"url"}},
		{"webhook bad header name", (&WebhookConfig{URL: secretURL, Headers: map[string]string{"X A": "b"}}).Check, []string{"headers"}},
		{"webhook injected header", (&WebhookConfig{URL: secretURL, Headers: map[string]string{"X-A": "b\r\nX-Evil: 1"}}).Check, []string{"headers"}},
		{"webhook reserved header", (&WebhookConfig{URL: secretURL, HeadersFiles: map[string]string{"content-type": "/f"}}).Check, []string{"headers_files"}},
		{"webhook header twice", (&WebhookConfig{URL: secretURL, Headers: map[string]string{"x-a": "b"}, HeadersFiles: map[string]string{"X-A": "/f"}}).Check, []string{"headers_files"}},
		{"telegram", (&TelegramConfig{TokenFile: "/t", ChatID: "-100"}).Check, nil},
		{"telegram nothing", (&TelegramConfig{}).Check, []string{"token_file", "chat_id"}},
		{"telegram bad api_url", (&TelegramConfig{TokenFile: "/t", ChatID: "@ops", APIURL: "api.telegram.org"}).Check, []string{"api_url"}},
		{"discord", (&DiscordConfig{WebhookURLFile: "/f"}).Check, nil},
		{"discord nothing", (&DiscordConfig{}).Check, []string{"webhook_url_file"}},
		{"discord both", (&DiscordConfig{WebhookURL: secretURL, WebhookURLFile: "/f"}).Check, []string{"webhook_url"}},
		{"msteams", (&MSTeamsConfig{WebhookURL: "https://prod-01.westeurope.logic.azure.com/workflows/SECRET/triggers/manual/paths/invoke"}).Check, nil},
		{"msteams office 365 connector", (&MSTeamsConfig{WebhookURL: "https://contoso.webhook.office.com/webhookb2/SECRET/IncomingWebhook/x/y"}).Check, []string{"webhook_url"}},
		{"msteams nothing", (&MSTeamsConfig{Timeout: -1}).Check, []string{"webhook_url_file", "timeout"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := c.check()
			if got := problemKeys(ps); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("problems %v, want keys %v", ps, c.want)
			}
			for _, p := range ps {
				if strings.Contains(p.Msg, "SECRET") {
					t.Errorf("problem %q shows the URL", p)
				}
			}
		})
	}
}

// TestChatConfigYAML checks the keys as a config file spells them, and
// that a numeric chat_id decodes.
func TestChatConfigYAML(t *testing.T) {
	var tg TelegramConfig
	if err := yaml.Unmarshal([]byte("token_file: /etc/ptrule/tg\nchat_id: -1001234567890\napi_url: http://127.0.0.1:8081\ntimeout: 5s\n"), &tg); err != nil {
		t.Fatal(err)
	}
	if tg != (TelegramConfig{TokenFile: "/etc/ptrule/tg", ChatID: "-1001234567890", APIURL: "http://127.0.0.1:8081", Timeout: 5 * time.Second}) {
		t.Errorf("decoded %+v", tg)
	}
	var sl SlackConfig
	dec := yaml.NewDecoder(strings.NewReader("token_file: /t\nchannel: C1\napi_url: http://x/api/\nwebhook_url: u\nwebhook_url_file: f\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&sl); err != nil {
		t.Fatal(err)
	}
	var wh WebhookConfig
	dec = yaml.NewDecoder(strings.NewReader("url: https://x/\nurl_file: /f\nheaders: {X-A: b}\nheaders_files: {Authorization: /etc/ptrule/auth}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&wh); err != nil {
		t.Fatal(err)
	}
	if wh.HeadersFiles["Authorization"] != "/etc/ptrule/auth" || wh.Headers["X-A"] != "b" {
		t.Errorf("decoded %+v", wh)
	}
	for _, doc := range []struct {
		v   any
		src string
	}{
		{&DiscordConfig{}, "webhook_url: u\nwebhook_url_file: f\ntimeout: 1s\n"},
		{&MSTeamsConfig{}, "webhook_url: u\nwebhook_url_file: f\ntimeout: 1s\n"},
	} {
		dec := yaml.NewDecoder(strings.NewReader(doc.src))
		dec.KnownFields(true)
		if err := dec.Decode(doc.v); err != nil {
			t.Errorf("%T: %v", doc.v, err)
		}
	}
}

// TestChatSecrets checks the constructors: secret files are read and
// trimmed, a missing or empty file or one holding junk is an error that
// names the key and never the secret.
func TestChatSecrets(t *testing.T) {
	files := map[string]string{
		"/etc/ptrule/empty":     "\n",
		"/etc/ptrule/notaurl":   "SECRET not a url\n",
		"/etc/ptrule/o365":      "https://contoso.webhook.office.com/webhookb2/SECRET/IncomingWebhook/x/y\n",
		"/etc/ptrule/badtoken":  "123:SECRET/../../x\n",
		"/etc/ptrule/multiline": "Bearer SECRET\nX-Evil: 1\n",
	}
	read := func(path string) ([]byte, error) {
		if s, ok := files[path]; ok {
			return []byte(s), nil
		}
		return nil, &testPathError{path}
	}
	cases := []struct {
		name string
		mk   func() error
		key  string
	}{
		{"slack missing file", func() error { _, err := NewSlack(SlackConfig{WebhookURLFile: "/etc/ptrule/missing"}, read); return err }, "webhook_url_file"},
		{"slack empty file", func() error { _, err := NewSlack(SlackConfig{WebhookURLFile: "/etc/ptrule/empty"}, read); return err }, "webhook_url_file"},
		{"slack junk url", func() error { _, err := NewSlack(SlackConfig{WebhookURLFile: "/etc/ptrule/notaurl"}, read); return err }, "webhook_url_file"},
		{"slack missing token", func() error {
			_, err := NewSlack(SlackConfig{TokenFile: "/etc/ptrule/missing", Channel: "C1"}, read)
			return err
		}, "token_file"},
		{"slack config problem", func() error { _, err := NewSlack(SlackConfig{}, read); return err }, "webhook_url_file"},
		{"webhook url_file junk", func() error { _, err := NewWebhook(WebhookConfig{URLFile: "/etc/ptrule/notaurl"}, read); return err }, "url_file"},
		{"webhook multi-line header", func() error {
			_, err := NewWebhook(WebhookConfig{URL: "http://x/", HeadersFiles: map[string]string{"Authorization": "/etc/ptrule/multiline"}}, read)
			return err
		}, "headers_files"},
		{"telegram bad token", func() error {
			_, err := NewTelegram(TelegramConfig{TokenFile: "/etc/ptrule/badtoken", ChatID: "1"}, read)
			return err
		}, "token_file"},
		{"discord empty", func() error {
			_, err := NewDiscord(DiscordConfig{WebhookURLFile: "/etc/ptrule/empty"}, read)
			return err
		}, "webhook_url_file"},
		{"msteams office 365 connector", func() error {
			_, err := NewMSTeams(MSTeamsConfig{WebhookURLFile: "/etc/ptrule/o365"}, read)
			return err
		}, "webhook_url_file"},
		{"no reader", func() error { _, err := NewDiscord(DiscordConfig{WebhookURLFile: "/f"}, nil); return err }, "webhook_url_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.mk()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), c.key+":") {
				t.Errorf("error %q does not start with the key %s", err, c.key)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

type testPathError struct{ path string }

func (e *testPathError) Error() string { return "open " + e.path + ": no such file or directory" }

// TestSlackOKFalseTooLong: Slack's chat.postMessage refuses an overlong
// text with 200 and ok:false msg_too_long; that is the message's fault.
func TestSlackOKFalseTooLong(t *testing.T) {
	for _, c := range chatCases[:2] {
		t.Run(c.name, func(t *testing.T) {
			srv := newHookServer(t, c.ok)
			srv.queue(reply(200, map[string]string{"Content-Type": "application/json"}, `{"ok": false, "error": "msg_too_long"}`))
			err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
			checkClass(t, "send", err, "rejected", 0, "msg_too_long")
		})
	}
}

// TestSlackBotRetryAfterDate: slack-go cannot read a Retry-After date;
// the channel still classifies the 429 and honours the date.
func TestSlackBotRetryAfterDate(t *testing.T) {
	c := chatCases[1]
	srv := newHookServer(t, c.ok)
	when := time.Now().Add(time.Hour).UTC().Format(http1123)
	srv.queue(reply(429, map[string]string{"Retry-After": when}, ""))
	err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
	se := Classify(err)
	if !se.Retry || se.RetryAfter < 50*time.Minute || se.RetryAfter > time.Hour {
		t.Errorf("got %+v (%v), want Temporary with about an hour", se, err)
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"
