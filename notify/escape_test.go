package notify

import (
	"html"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// formats are the escapers with a decoder that returns what a reader
// sees, or ok false when the text holds markup the escaper should have
// neutralised.
var formats = []struct {
	name   string
	esc    escaper
	decode func(string) (string, bool)
}{
	{"plain", plainEscape, func(s string) (string, bool) { return s, true }},
	{"slack", slackEscape, decodeEntities},
	{"telegram", telegramEscape, decodeEntities},
	{"discord", discordEscape, decodeDiscord},
	{"mattermost", mattermostEscape, decodeMattermost},
	{"matrix", matrixEscape, decodeMatrix},
}

var measures = []measure{utf16Len, byteLen, jsonLen, htmlJSONLen}

// decodeEntities decodes &amp;, &lt; and &gt;, failing on a raw < or >
// or an & that starts none of them (a broken escape).
func decodeEntities(s string) (string, bool) {
	if strings.ContainsAny(s, "<>") {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
			return "", false
		}
	}
	return html.UnescapeString(s), true
}

// decodeDiscord decodes backslash escapes, failing on an unescaped
// markdown character or a lone backslash at the end (a broken escape).
func decodeDiscord(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 == len(s) || strings.IndexByte(discordMarkdown, s[i+1]) < 0 {
				return "", false
			}
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if strings.IndexByte(discordMarkdown, c) >= 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// checkEscapeLimit checks escapeLimit's promises for one input.
func checkEscapeLimit(t *testing.T, s string, limit int) {
	want := strings.ReplaceAll(strings.Map(cleanRune, s), "\u200b", "")
	for _, f := range formats {
		for mi, m := range measures {
			out, cut := escapeLimit(s, f.esc, m, limit)
			if !utf8.ValidString(out) {
				t.Fatalf("%s/%d: invalid UTF-8 %q", f.name, mi, out)
			}
			if m(out) > max(limit, 0) {
				t.Fatalf("%s/%d: %q measures %d, over %d", f.name, mi, out, m(out), limit)
			}
			body := out
			if cut {
				if out != "" && !strings.HasSuffix(out, ellipsis) {
					t.Fatalf("%s/%d: shortened %q has no %s", f.name, mi, out, ellipsis)
				}
				body = strings.TrimSuffix(out, ellipsis)
			}
			got, ok := f.decode(body)
			if !ok {
				t.Fatalf("%s/%d: %q holds markup or a broken escape", f.name, mi, body)
			}
			got = strings.ReplaceAll(got, "\u200b", "")
			if cut && !strings.HasPrefix(want, got) || !cut && got != want {
				t.Fatalf("%s/%d: decodes to %q, want (a prefix of) %q (cut %v)", f.name, mi, got, want, cut)
			}
		}
	}
}

func TestEscapeLimit(t *testing.T) {
	for _, c := range []struct {
		s     string
		limit int
	}{
		{"", 0}, {"abc", 0}, {"abc", 1}, {"abc", 3}, {"abcd", 3},
		{"<<<<", 5}, {"<<<<", 6}, {"a&b", 5}, {"é😀é😀", 3},
		{"@everyone @here", 4}, {"@everyone", 20}, {"**x**", 6},
		{"\xff\xfe bad", 4}, {"tab\tnl\ncr\r\x1b\u202e", 100}, {"\"\\\n\u2028", 9},
	} {
		checkEscapeLimit(t, c.s, c.limit)
	}
	for in, want := range map[string]string{
		"@everyone":   "@\u200beveryone",
		"@Here!":      "@\u200bHere!",
		"x @channel.": "x @\u200bchannel.",
		"@all":        "@\u200ball",
		"@allison":    "@allison",
		"@hereford":   "@hereford",
		"bob@here":    "bob@\u200bhere",
	} {
		if got, _ := escapeLimit(in, slackEscape, utf16Len, 100); got != want {
			t.Errorf("slackEscape(%q) = %q, want %q", in, got, want)
		}
	}
	// The cut falls before the escape that would not fit, whole.
	if out, _ := escapeLimit("ab<cd", slackEscape, utf16Len, 6); out != "ab…" {
		t.Errorf("got %q, want %q", out, "ab…")
	}
	if out, _ := escapeLimit("a*b", discordEscape, utf16Len, 3); out != "a…" {
		t.Errorf("got %q, want %q", out, "a…")
	}
}

func FuzzEscapeLimit(f *testing.F) {
	for _, s := range []string{"", "<!channel> @everyone", "a&b<c>d", "**x** `y` [l](u)", "é😀\xff\r\n\u202e", hostileMessage} {
		f.Add(s, 10)
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		checkEscapeLimit(t, s, limit%5000)
	})
}

// FuzzRenderTelegram checks a whole message: within the limit, only
// ptrule's own tags, balanced, whatever the subject and message.
func FuzzRenderTelegram(f *testing.F) {
	f.Add("Suspicious <b>", hostileMessage, 100)
	f.Add("", "", 30)
	f.Add(strings.Repeat("<", 300), strings.Repeat("&", 300), 600)
	f.Fuzz(func(t *testing.T, subject, message string, limit int) {
		limit = 40 + abs(limit%5000)
		a := Alert{Rule: "r", Severity: "critical", Host: "h", Subject: subject, Message: message}
		out := renderParts(layout(a, "<b>", "</b>", "<i>", "</i>"), telegramEscape, utf16Len, limit)
		if utf16Len(out) > limit {
			t.Fatalf("%d characters, over %d", utf16Len(out), limit)
		}
		if !strings.HasPrefix(out, "<b>") || !strings.HasSuffix(out, "</i>") || strings.Count(out, "<b>") != 1 || strings.Count(out, "</b>") != 1 {
			t.Fatalf("tags not ptrule's or not balanced: %q", out)
		}
		inner := strings.NewReplacer("<b>", "", "</b>", "", "<i>", "", "</i>", "").Replace(out)
		if _, ok := decodeEntities(inner); !ok {
			t.Fatalf("markup or broken escape in %q", inner)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"7", "0", "-1", "Tue, 01 Dec 2026 21:00:30 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter || !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %s, %v", s, d, ok)
		}
	})
}
