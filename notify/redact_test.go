package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRedact: the default patterns mask secrets in hostile command lines
// and keep what says what was masked; a config pattern adds to them.
func TestRedact(t *testing.T) {
	r, err := NewRedactor([]string{`(?i)api[_-]?key=\S+`, `(?P<key>(?i)x-auth:\s*)\S+`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"mysql --password=hunter2 -h db", "mysql --password=[redacted] -h db"},
		{"mysql --password hunter2 -h db", "mysql --password [redacted] -h db"},
		{"tool --token=abc.def --verbose", "tool --token=[redacted] --verbose"},
		{"tool -token abc", "tool -token [redacted]"},
		{"aws --client-secret=XyZ", "aws --client-secret=[redacted]"},
		{"env DB_PASSWORD=s3cr3t ./app", "env DB_PASSWORD=[redacted] ./app"},
		{"app password=x user=bob", "app password=[redacted] user=bob"},
		{`{"secret": "v4lue", "n": 1}`, `{"secret": "[redacted]", "n": 1}`},
		{"curl -H Authorization: Bearer eyJhbGc.x.y https://api/", "curl -H Authorization: Bearer [redacted] https://api/"},
		{"curl -H authorization:Basic dXNlcjpwYXNz x", "curl -H authorization:Basic [redacted] x"},
		{"git clone https://bob:hunter2@git.example.com/r.git", "git clone https://[redacted]@git.example.com/r.git"},
		{"psql postgres://app:pw@db/x", "psql postgres://[redacted]@db/x"},
		{"curl https://example.com/path?a=b", "curl https://example.com/path?a=b"},
		{"app api_key=12345 more", "app [redacted] more"},
		{"curl -H X-Auth: abc123 url", "curl -H X-Auth: [redacted] url"},
		// Hostile text: markup and newlines are left to the channels'
		// escaping; the secret on the next line is masked too.
		{"<!channel> @everyone <b>x</b>\n--password=x\nline", "<!channel> @everyone <b>x</b>\n--password=[redacted]\nline"},
		{"nothing to hide here", "nothing to hide here"},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("%q\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactPatternErrors: a pattern that is not RE2, is empty or matches
// everything is refused with a message saying what to do.
func TestRedactPatternErrors(t *testing.T) {
	for _, p := range []string{`(?<=x)y`, `(`, ``, `a*`} {
		if _, err := NewRedactor([]string{p}); err == nil {
			t.Errorf("pattern %q accepted", p)
		} else if !strings.Contains(err.Error(), "redact pattern") {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
}

// TestDispatchRedacts: every channel, the log included, gets the alert
// with its secrets masked, labels too.
func TestDispatchRedacts(t *testing.T) {
	var buf bytes.Buffer
	rec := &recorder{}
	d := NewDispatcher(map[string]Channel{"log": NewLogChannel(slog.New(slog.NewTextHandler(&buf, nil))), "rec": rec}, nil)
	a := testAlert
	a.Subject = "mysql --password=hunter2 running"
	a.Message = "cmdline: curl -u x https://bob:hunter2@host/ --token hunter2"
	a.Labels = map[string]string{"cmdline": "app password=hunter2"}
	a.Facts = map[string]any{"pid": 7, "cmdline": []any{"mysql", "--password=hunter2"}, "cmd": "mysql --password=hunter2"}
	a.Outcomes = map[string]any{"run": map[string]any{"args": []string{"--token", "hunter2"}}}
	for _, r := range d.Dispatch(t.Context(), a, []string{"log", "rec"}) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), Redacted) {
		t.Errorf("log line holds the secret: %s", buf.String())
	}
	got := rec.got[0]
	for _, s := range []string{got.Subject, got.Message, got.Labels["cmdline"], fmt.Sprint(got.Facts), fmt.Sprint(got.Outcomes)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("sent %q", s)
		}
	}
	if got.Facts["pid"] != 7 || a.Facts["cmd"] != "mysql --password=hunter2" {
		t.Errorf("facts sent %v; the caller's cmd is now %v: redaction must mask a copy", got.Facts, a.Facts["cmd"])
	}
	if a.Labels["cmdline"] != "app password=hunter2" {
		t.Error("Dispatch changed the caller's labels")
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{"--password=x", "https://a:b@c", "Authorization: Bearer x", "é\x00password=\xff"} {
		f.Add(s)
	}
	r, err := NewRedactor(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := r.String(s)
		if twice := r.String(once); twice != once {
			t.Errorf("redacting is not stable: %q -> %q -> %q", s, once, twice)
		}
	})
}

// TestWebhookCarriesData checks that a webhook sends the rule's scope,
// the entity's facts and the outcomes of the actions before the alert as
// data, and leaves the facts out of a plain retry.
func TestWebhookCarriesData(t *testing.T) {
	a := testAlert
	a.Scope = "process"
	a.Facts = map[string]any{"pid": 4242, "exe": "/tmp/x"}
	a.Outcomes = map[string]any{"kill": map[string]any{"mode": "enforce", "signalled": []int{4242}}}
	b, err := json.Marshal(NewWebhookPayload(a))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scope    string         `json:"scope"`
		Facts    map[string]any `json:"facts"`
		Outcomes map[string]any `json:"outcomes"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	kill, _ := got.Outcomes["kill"].(map[string]any)
	if got.Scope != "process" || got.Facts["exe"] != "/tmp/x" || kill["mode"] != "enforce" {
		t.Errorf("payload %s", b)
	}
	a.Plain = true
	if p := NewWebhookPayload(a); p.Facts != nil || p.Outcomes == nil {
		t.Errorf("plain retry: facts %v, outcomes %v; want no facts, the outcomes kept", p.Facts, p.Outcomes)
	}
}
