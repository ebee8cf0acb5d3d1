package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// readLongtailSecret serves the secret files of the long-tail test configs.
func readLongtailSecret(path string) ([]byte, error) {
	switch path {
	case "/etc/ptrule/pagerduty-token":
		return []byte("SECRET-pd-key\n"), nil
	case "/etc/ptrule/mattermost-token":
		return []byte("SECRET-mm-token\n"), nil
	case "/etc/ptrule/two-lines":
		return []byte("SECRET-first\nSECRET-second\n"), nil
	case "/etc/ptrule/matrix-token":
		return []byte("syt_SECRET_matrix\n"), nil
	}
	return nil, fmt.Errorf("open %s: no such file or directory", path)
}

// longtailCase is one notify-backed channel type under test.
type longtailCase struct {
	name string
	// config is the channel's YAML entry with BASE for the server's URL.
	config string
	ok     func(http.ResponseWriter)
	// path is the start of the path the channel sends to.
	path string
	// auth is the Authorization header it must send.
	auth string
	// text returns what a person reads from a request's body.
	text func(t *testing.T, body []byte) string
	// unescape turns that text back into what it shows, failing on markup
	// that a hostile text smuggled in.
	unescape func(t *testing.T, s string) string
	// limit is the text's limit and how it is measured.
	limit   int
	measure measure
	// retryAfter says whether the service lets ptrule see Retry-After.
	retryAfter bool
}

var longtailCases = []longtailCase{
	{
		name: "pagerduty",
		config: "type: pagerduty\ntoken_file: /etc/ptrule/pagerduty-token\nfrom: oncall@example.org\n" +
			"service_id: PSVC123\nurgency: high\npriority_id: PPRIO1\napi_url: BASE\n",
		ok:   reply(201, map[string]string{"Content-Type": "application/json"}, `{"incident": {"id": "Q1ABC", "type": "incident"}}`),
		path: "/incidents",
		auth: "Token token=SECRET-pd-key",
		text: func(t *testing.T, b []byte) string {
			var req struct {
				Incident struct {
					Title string `json:"title"`
					Body  struct {
						Details string `json:"details"`
					} `json:"body"`
				} `json:"incident"`
			}
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, b)
			}
			if strings.Contains(req.Incident.Title, "\n") {
				t.Errorf("the incident title has a line break: %q", req.Incident.Title)
			}
			return req.Incident.Title + "\n" + req.Incident.Body.Details
		},
		unescape:   func(t *testing.T, s string) string { return s },
		limit:      pagerDutyTitleLimit + 1 + pagerDutyDetailsLimit,
		measure:    utf16Len,
		retryAfter: true,
	},
	{
		name:     "mattermost",
		config:   "type: mattermost\nurl: BASE\ntoken_file: /etc/ptrule/mattermost-token\nchannel_id: 4xp9fdt77pncbef59f4k1qe83o\n",
		ok:       reply(201, map[string]string{"Content-Type": "application/json"}, `{"id": "p1", "channel_id": "4xp9fdt77pncbef59f4k1qe83o"}`),
		path:     "/api/v4/posts",
		auth:     "Bearer SECRET-mm-token",
		text:     func(t *testing.T, b []byte) string { return jsonField(t, b, "message") },
		unescape: unescapeMattermost,
		limit:    mattermostLimit,
		measure:  utf16Len,
	},
	{
		name:    "matrix",
		config:  "type: matrix\nhomeserver: BASE\naccess_token_file: /etc/ptrule/matrix-token\nroom_id: \"!ops:example.org\"\n",
		ok:      reply(200, map[string]string{"Content-Type": "application/json"}, `{"event_id": "$ev1"}`),
		path:    "/_matrix/client/v3/rooms/!ops:example.org/send/m.room.message/",
		auth:    "Bearer syt_SECRET_matrix",
		text:    func(t *testing.T, b []byte) string { return jsonField(t, b, "body") },
		limit:   matrixLimit,
		measure: htmlJSONLen,
		unescape: func(t *testing.T, s string) string {
			if strings.Contains(strings.ToLower(s), "@room") {
				t.Errorf("@room arrived unbroken: %q", s)
			}
			return s
		},
	},
}

// mk parses the case's config, as ptrule.yaml would hold it, against base
// with the extra YAML lines, and builds its channel.
func (c longtailCase) mk(t *testing.T, base string, extra ...string) Channel {
	t.Helper()
	entry := strings.ReplaceAll(c.config, "BASE", base) + strings.Join(extra, "")
	config := "channels:\n  " + c.name + ":\n    " + strings.ReplaceAll(strings.TrimSuffix(entry, "\n"), "\n", "\n    ") + "\n"
	cfg, ps := parse(t, config, c.name, readLongtailSecret)
	if len(ps) > 0 {
		t.Fatalf("config refused: %v\n%s", ps, config)
	}
	return cfg.Channel(Env{})
}

// unescapeMattermost decodes backslash escapes and fails on a markdown
// character that is not escaped, apart from ptrule's own ** and _ around
// the first and last lines.
func unescapeMattermost(t *testing.T, s string) string {
	t.Helper()
	lines := strings.Split(s, "\n")
	if n := len(lines); n >= 2 {
		lines[0] = strings.TrimSuffix(strings.TrimPrefix(lines[0], "**"), "**")
		lines[n-1] = strings.TrimSuffix(strings.TrimPrefix(lines[n-1], "_"), "_")
	}
	got, ok := decodeMattermost(strings.Join(lines, "\n"))
	if !ok {
		t.Errorf("unescaped markdown or a broken escape in %q", s)
	}
	return got
}

// decodeMattermost decodes backslash escapes, failing on an unescaped
// markdown character or a backslash that escapes nothing.
func decodeMattermost(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 == len(s) || strings.IndexByte(mattermostMarkdown, s[i+1]) < 0 {
				return "", false
			}
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if strings.IndexByte(mattermostMarkdown, c) >= 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// decodeMatrix returns a Matrix body as it reads, failing on an unbroken
// @room (which notifies the whole room).
func decodeMatrix(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if rest := s[i+1:]; s[i] == '@' && len(rest) >= 4 && strings.EqualFold(rest[:4], "room") && !wordByte(rest, 4) {
			return "", false
		}
	}
	return s, true
}

// TestLongtailPayloadGolden pins what each channel sends for a typical
// alert, in its normal and Plain forms, where it sends it and with what
// credentials.
func TestLongtailPayloadGolden(t *testing.T) {
	for _, c := range longtailCases {
		for _, plain := range []bool{false, true} {
			name := c.name
			if plain {
				name += "-plain"
			}
			t.Run(name, func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				a := goldenAlert
				a.Plain = plain
				if err := c.mk(t, srv.URL).Send(context.Background(), a); err != nil {
					t.Fatalf("Send: %v", err)
				}
				req := srv.last(t)
				if !strings.HasPrefix(req.Path, c.path) {
					t.Errorf("sent to %s, want %s...", req.Path, c.path)
				}
				if got := req.Header.Get("Authorization"); got != c.auth {
					t.Errorf("Authorization %q, want %q", got, c.auth)
				}
				if c.name == "pagerduty" && req.Header.Get("From") != "oncall@example.org" {
					t.Errorf("From %q, want the configured user", req.Header.Get("From"))
				}
				checkGolden(t, name+".golden", goldenBody(t, req.Body))
			})
		}
	}
}

// TestLongtailFailures checks how each channel classifies a server's
// answers, and that the server's reason reaches the error.
func TestLongtailFailures(t *testing.T) {
	jsonType := map[string]string{"Content-Type": "application/json"}
	for _, c := range longtailCases {
		for _, f := range []struct {
			name  string
			reply func(http.ResponseWriter)
			class string
			after time.Duration // when the service exposes Retry-After
			inErr string
		}{
			{"500 with Retry-After", reply(500, map[string]string{"Retry-After": "30"}, "oops"), "temporary", 30 * time.Second, "500"},
			{"502", reply(502, nil, "bad gateway"), "temporary", 0, "502"},
			{"429", reply(429, map[string]string{"Retry-After": "7"}, `{"errcode": "M_LIMIT_EXCEEDED"}`), "temporary", 7 * time.Second, "429"},
			{"400", reply(400, jsonType, `{"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Title too long"]}, "message": "Invalid message", "errcode": "M_BAD_JSON"}`), "rejected", 0, "400"},
			{"413", reply(413, nil, "too large"), "rejected", 0, "413"},
			{"401", reply(401, jsonType, `{"error": {"message": "Unauthorized", "code": 2006}, "message": "Invalid or expired session", "errcode": "M_UNKNOWN_TOKEN"}`), "permanent", 0, "401"},
			{"403", reply(403, jsonType, `{"error": {"message": "Forbidden"}, "message": "You do not have the appropriate permissions.", "errcode": "M_FORBIDDEN"}`), "permanent", 0, "403"},
			{"404", reply(404, jsonType, `{"error": {"message": "Not Found"}, "message": "Unable to find the channel.", "errcode": "M_NOT_FOUND"}`), "permanent", 0, "404"},
			{"2xx without a readable reply", reply(200, map[string]string{"Content-Type": "text/html"}, "<html>captive portal</html>"), "temporary", 0, "200"},
		} {
			t.Run(c.name+"/"+f.name, func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				srv.queue(f.reply)
				err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
				after := f.after
				if !c.retryAfter {
					after = 0
				}
				checkClass(t, "send", err, f.class, after, f.inErr)
			})
		}
		t.Run(c.name+"/reason", func(t *testing.T) {
			srv := newHookServer(t, c.ok)
			srv.queue(reply(403, jsonType, `{"error": {"message": "Access Denied", "code": 2010}, "message": "You do not have the appropriate permissions.", "errcode": "M_FORBIDDEN"}`))
			err := c.mk(t, srv.URL).Send(context.Background(), goldenAlert)
			want := map[string]string{"pagerduty": "Access Denied", "mattermost": "You do not have the appropriate permissions.", "matrix": "403 Forbidden"}[c.name]
			checkClass(t, "send", err, "permanent", 0, want)
		})
	}
}

// TestLongtailUnreachable: a server that is down, a cancelled context and
// a server that never answers (cut off by the timeout key) are all
// Temporary.
func TestLongtailUnreachable(t *testing.T) {
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

	for _, c := range longtailCases {
		t.Run(c.name+"/down", func(t *testing.T) {
			err := c.mk(t, downURL).Send(context.Background(), goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "refused")
			if strings.Contains(err.Error(), "/_matrix") || strings.Contains(err.Error(), "/api/v4") || strings.Contains(err.Error(), "/incidents") {
				t.Errorf("the error carries the request URL: %v", err)
			}
		})
		t.Run(c.name+"/cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := c.mk(t, silent.URL).Send(ctx, goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "")
		})
		t.Run(c.name+"/silent", func(t *testing.T) {
			err := c.mk(t, silent.URL, "timeout: 50ms\n").Send(context.Background(), goldenAlert)
			checkClass(t, "send", err, "temporary", 0, "timeout")
		})
	}
}

// TestLongtailConcurrent sends through one channel from many goroutines:
// each send builds its own service, so under -race nothing is shared, and
// every request carries the right credentials and its own text.
func TestLongtailConcurrent(t *testing.T) {
	for _, c := range longtailCases {
		t.Run(c.name, func(t *testing.T) {
			srv := newHookServer(t, c.ok)
			ch := c.mk(t, srv.URL)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					a := goldenAlert
					a.Subject = fmt.Sprintf("alert number %d", i)
					errs[i] = ch.Send(context.Background(), a)
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("send %d: %v", i, err)
				}
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			seen := map[string]bool{}
			for _, r := range srv.reqs {
				if got := r.Header.Get("Authorization"); got != c.auth {
					t.Errorf("Authorization %q, want %q", got, c.auth)
				}
				title, _, _ := strings.Cut(c.unescape(t, c.text(t, r.Body)), "\n")
				seen[strings.Trim(title, "*")] = true
			}
			if len(srv.reqs) != n || len(seen) != n {
				t.Errorf("%d requests with %d different subjects, want %d of each: %v", len(srv.reqs), len(seen), n, seen)
			}
		})
	}
}

// TestLongtailHostile sends a hostile command line through every channel,
// in both forms, and checks that it arrives as text: escaped for the
// format, mass mentions broken, nothing lost but the control characters.
func TestLongtailHostile(t *testing.T) {
	const subject = "Suspicious <!channel> @everyone @room <b>x</b> **y**"
	for _, c := range longtailCases {
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", c.name, plain), func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				a := goldenAlert
				a.Subject = subject
				a.Message = hostileMessage + "\n@room @Room: look"
				a.Plain = plain
				if err := c.mk(t, srv.URL).Send(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				text := c.text(t, srv.last(t).Body)
				if strings.ContainsAny(text, "\x1b\r\u202e") {
					t.Errorf("a control character arrived: %q", text)
				}
				text = c.unescape(t, text)
				mentions := map[string][]string{
					"mattermost": {"@everyone", "@here", "@channel", "@all"},
					"matrix":     {"@everyone", "@here", "@channel", "@all", "@room", "@Room"},
				}
				if ms := mentions[c.name]; ms != nil {
					for _, m := range ms {
						if strings.Contains(text, m) {
							t.Errorf("%s arrived unbroken", m)
						}
					}
				}
				text = strings.ReplaceAll(text, "@\u200b", "@")
				if want := strings.Map(cleanRune, a.Message); !strings.Contains(text, want) {
					t.Errorf("the message did not arrive whole:\n got %q\nwant %q", text, want)
				}
				if !strings.Contains(text, subject) {
					t.Errorf("the subject did not arrive whole: %q", text)
				}
			})
		}
	}
}

// TestLongtailTooLong sends a message far over every limit, built of
// characters that need escaping and of multi-byte ones, and checks that it
// arrives shortened within the limit, marked, with title and footer kept
// and no escape or character cut.
func TestLongtailTooLong(t *testing.T) {
	long := strings.Repeat("a<&>é😀@everyone*\n", 5000)
	for _, c := range longtailCases {
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", c.name, plain), func(t *testing.T) {
				srv := newHookServer(t, c.ok)
				a := goldenAlert
				a.Message = long
				a.Plain = plain
				if err := c.mk(t, srv.URL).Send(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				raw := c.text(t, srv.last(t).Body)
				if !utf8.ValidString(raw) || strings.ContainsRune(raw, utf8.RuneError) {
					t.Errorf("text is not clean UTF-8")
				}
				limit := c.limit
				if plain {
					limit = plainLimit(limit)
					if c.name == "pagerduty" {
						limit = titleMax + 1 + plainLimit(pagerDutyDetailsLimit)
					}
				}
				if n := c.measure(raw); n > limit {
					t.Errorf("text measures %d, over the limit %d", n, limit)
				}
				text := strings.ReplaceAll(c.unescape(t, raw), "@\u200b", "@")
				if !strings.Contains(text, goldenAlert.Subject) || !strings.Contains(text, "host web1") {
					t.Errorf("title or footer lost: %q…%q", text[:min(80, len(text))], text[max(0, len(text)-80):])
				}
				i := strings.Index(text, "a<&>")
				j := strings.Index(text, ellipsis)
				if i < 0 || j < i {
					t.Fatalf("no shortened message marked with %s", ellipsis)
				}
				if kept := text[i:j]; !strings.HasPrefix(long, kept) {
					t.Errorf("the shortened message is not a prefix of the original: ends %q", kept[max(0, len(kept)-20):])
				} else if len(kept) < 500 {
					t.Errorf("only %d bytes of the message were kept", len(kept))
				}
			})
		}
	}
}

// TestLongtailConfig checks each type's keys as ptrule.yaml gives them:
// what is required, what is refused and where, and that secrets read from
// files never show in a problem.
func TestLongtailConfig(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		// want are excerpts of the problems, in order.
		want []string
	}{
		{"pagerduty empty", "type: pagerduty\n", []string{
			"token_file is required", "from is required", "service_id is required"}},
		{"pagerduty bad values", "type: pagerduty\ntoken: abc\nfrom: On Call <oncall@example.org>\nservice_id: P/1\nurgency: urgent\npriority_id: \"x y\"\napi_url: ftp://x\n", []string{
			"from \"On Call <oncall@example.org>\" is not a bare e-mail address", "service_id \"P/1\" is not a PagerDuty ID",
			"priority_id \"x y\" is not a PagerDuty ID", "urgency \"urgent\": use high or low", "api_url must be an http:// or https:// URL"}},
		{"matrix negative timeout", "type: matrix\nhomeserver: https://m.example.org\naccess_token: t\nroom_id: \"!r\"\ntimeout: -1s\n", []string{
			"timeout: bad duration \"-1s\""}},
		{"pagerduty token twice", "type: pagerduty\ntoken: abc\ntoken_file: /etc/ptrule/pagerduty-token\nfrom: a@b.org\nservice_id: P1\n", []string{
			"set token or token_file, not both"}},
		{"pagerduty token file missing", "type: pagerduty\ntoken_file: /etc/ptrule/nope\nfrom: a@b.org\nservice_id: P1\n", []string{
			"token_file: open /etc/ptrule/nope: no such file or directory"}},
		{"pagerduty token with a line break", "type: pagerduty\ntoken: \"abc\\ndef\"\nfrom: a@b.org\nservice_id: P1\n", []string{
			"the secret of token holds a line break"}},
		{"mattermost token file with two lines", "type: mattermost\nurl: https://chat.example.org\ntoken_file: /etc/ptrule/two-lines\nchannel_id: 4xp9fdt77pncbef59f4k1qe83o\n", []string{
			"the secret of token_file holds a line break"}},
		{"pagerduty ok inline", "type: pagerduty\ntoken: abc\nfrom: a@b.org\nservice_id: P1\n", nil},
		{"mattermost empty", "type: mattermost\n", []string{
			"url is required", "token_file is required", "channel_id is required"}},
		{"mattermost bad values", "type: mattermost\nurl: https://user:pw@chat.example.org\ntoken_file: /etc/ptrule/mattermost-token\nchannel_id: town-square\n", []string{
			"url must be a plain base URL", "channel_id \"town-square\" is not a Mattermost ID"}},
		{"mattermost unknown key", "type: mattermost\nurl: https://chat.example.org\ntoken_file: /etc/ptrule/mattermost-token\nchannel: x\n", []string{
			"unknown key \"channel\" in channel t"}},
		{"matrix empty", "type: matrix\n", []string{
			"homeserver is required", "access_token_file is required", "room_id is required"}},
		{"matrix alias", "type: matrix\nhomeserver: matrix.example.org\naccess_token_file: /etc/ptrule/matrix-token\nroom_id: \"#ops:example.org\"\n", []string{
			"homeserver must be an http:// or https:// URL", "room_id \"#ops:example.org\" is not a room ID"}},
		{"matrix ok", "type: matrix\nhomeserver: https://matrix.example.org/\naccess_token_file: /etc/ptrule/matrix-token\nroom_id: \"!ops:example.org\"\ntimeout: 3s\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := "channels:\n  t:\n    " + strings.ReplaceAll(strings.TrimSuffix(tc.entry, "\n"), "\n", "\n    ") + "\n"
			cfg, ps := parse(t, config, "t", readLongtailSecret)
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(ps), len(tc.want), ps)
			}
			for i, p := range ps {
				if !strings.Contains(p.Error(), tc.want[i]) {
					t.Errorf("problem %d is %q, want it to say %q", i, p.Error(), tc.want[i])
				}
				if strings.Contains(p.Error(), "SECRET") || strings.Contains(p.Error(), "abc\\ndef") {
					t.Errorf("problem %d shows a secret: %q", i, p.Error())
				}
			}
			if len(tc.want) == 0 && cfg.Channel(Env{}) == nil {
				t.Error("no channel")
			}
		})
	}
}

// TestLongtailDefaults: an unset timeout is DefaultSendTimeout, and
// pagerduty talks to PagerDuty's API unless told otherwise.
func TestLongtailDefaults(t *testing.T) {
	cfg, ps := parse(t, "channels:\n  pd: {type: pagerduty, token: k, from: a@b.org, service_id: P1}\n", "pd", nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	pd := cfg.Channel(Env{}).(*PagerDutyChannel)
	if pd.apiURL != DefaultPagerDutyAPIURL || pd.timeout != DefaultSendTimeout {
		t.Errorf("api %q timeout %s, want %q and %s", pd.apiURL, pd.timeout, DefaultPagerDutyAPIURL, DefaultSendTimeout)
	}
}
